"""A hub on many machines keeps no guarantee's state on one machine's disk: payloads offloaded
to an S3-compatible server (moto's server mode, real S3 over HTTP on loopback) are read by a
client with another data dir; a role that would keep state locally refuses to start, naming
the setting that fixes it."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from agenthub.cli import app
from agenthub.errors import ConfigurationError
from agenthub.runtime import AgentHubPlugin, PostgresTokenStore, Settings
from agenthub.runtime.payload_store import PayloadStore
from agenthub.service import check_api_replica
from agenthub.testing import eventually, running_worker

from .heartbeat_payload_workflows import ReportJob, big_report
from .s3 import s3_client, s3_server

ELSEWHERE = "temporal.internal:7233"
"""A server address that is not the embedded one (nothing is dialled in the pure tests)."""


def test_the_cluster_profile_names_every_setting_that_keeps_state_on_one_machine(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, payload_offload="true")
    problems = settings.shared_state_problems(ELSEWHERE)
    assert len(problems) == 3, problems
    assert "AGENTHUB_PAYLOAD_STORE=s3://bucket/prefix" in problems[0]
    assert "AGENTHUB_CALLBACK_SECRET or AGENTHUB_CALLBACK_SECRET_FILE" in problems[1]
    assert "AGENTHUB_LEDGER=postgresql://" in problems[2]
    with pytest.raises(ConfigurationError, match="AGENTHUB_PROFILE=single"):
        settings.check_shared_state(ELSEWHERE)
    # The embedded server, or a machine that says it is the only one: nothing to share.
    assert settings.shared_state_problems(settings.embedded_address) == []
    assert Settings(data_dir=tmp_path, profile="single").shared_state_problems(ELSEWHERE) == []
    secret = tmp_path / "secret"
    secret.write_text("s" * 32 + "\n")
    shared = Settings(
        data_dir=tmp_path, payload_store="s3://hub-payloads/prod",
        callback_secret_file=str(secret), ledger="postgresql://hub@db/hub",
    )  # fmt: skip
    assert shared.shared_state_problems(ELSEWHERE) == []
    assert shared.callback_secrets() == ["s" * 32]
    assert shared.offloads_payloads(ELSEWHERE)  # a shared store turns offload on


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("s3://", "names no bucket"),
        ("gs://bucket/x", "use s3://bucket/prefix"),
        ("file://relative/dir", "file:///absolute"),
        ("/plain/path", "use s3://bucket/prefix"),
    ],
)
def test_a_bad_payload_store_is_refused_at_start(value: str, error: str) -> None:
    with pytest.raises(ConfigurationError, match=error):
        Settings(payload_store=value)


def test_payload_stores_parse() -> None:
    assert PayloadStore.parse("s3://bucket/a/b/") == PayloadStore(
        "s3", bucket="bucket", prefix="a/b"
    )
    assert PayloadStore.parse("").shared is False
    assert PayloadStore.parse("file:///mnt/hub").path == Path("/mnt/hub")


def test_a_worker_on_a_cluster_refuses_to_keep_state_on_its_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEMPORAL_ADDRESS", ELSEWHERE)
    monkeypatch.setenv("AGENTHUB_DATA_DIR", str(tmp_path / ".agenthub"))
    for command in (["worker"], ["api"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1, result.output
        assert "cluster profile" in result.output and "AGENTHUB_LEDGER" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / ".agenthub" / "callback-secret").exists(), "nothing was generated"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on loopback (moto's server mode) with one bucket."""
    with s3_server("hub-payloads") as endpoint:
        yield endpoint


async def test_payloads_offloaded_to_s3_are_read_by_a_machine_with_another_data_dir(
    dev_server_env: WorkflowEnvironment,
    s3_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    for name, value in {
        "AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    address = dev_server_env.client.service_client.config.target_host
    store = "s3://hub-payloads/hub-ü"  # a prefix every machine names the same

    async def machine(name: str) -> Client:
        settings = Settings(data_dir=tmp_path / name, payload_store=store)
        return await Client.connect(address, plugins=[AgentHubPlugin(settings)])

    worker_machine, api_machine = await machine("worker"), await machine("api")
    size = 3 * 1024 * 1024  # past Temporal's 2 MB limit: only a reference can travel
    async with running_worker(worker_machine, workflows=[ReportJob], activities=[big_report]) as tq:
        handle = await api_machine.start_workflow(
            ReportJob.run, size, id=f"report-{uuid.uuid4()}", task_queue=tq
        )
        length, digest, report = await handle.result()
    body = "x" * size
    assert (length, digest) == (size, hashlib.sha256(body.encode()).hexdigest())
    assert report.body == body
    history_bytes = (await handle.fetch_history()).to_json()
    assert len(history_bytes) < 200_000, "the history holds references, not the report"
    objects = s3_client(s3_endpoint).list_objects_v2(Bucket="hub-payloads")
    keys = [o["Key"] for o in objects.get("Contents", [])]
    assert keys and all(k.startswith("hub-ü/v0/") for k in keys), keys
    for name in ("worker", "api"):  # nothing on either machine's disk
        assert not list((tmp_path / name).glob("payloads/**/*.*")), name


async def test_api_tokens_in_postgres_are_seen_by_every_replica(
    postgres_dsn: str, tmp_path: Path
) -> None:
    # Two API replicas on two machines: each with its own data dir, one database.
    replica_a = Settings(data_dir=tmp_path / "a", ledger=postgres_dsn).api_tokens()
    replica_b = Settings(data_dir=tmp_path / "b", ledger=postgres_dsn).api_tokens()
    assert isinstance(replica_a, PostgresTokenStore)
    replica_a.ttl = replica_b.ttl = 0.2
    token, record = replica_a.create(identity="ana", tenant="acme")

    async def seen_by_b() -> bool:
        return replica_b.authenticate(token) == record

    await eventually(seen_by_b, what="the token on replica B")
    assert replica_b.revoke(record.token_id).revoked_at
    assert replica_b.authenticate(token) is None  # at once where it was revoked

    async def refused_by_a() -> bool:
        return replica_a.authenticate(token) is None

    await eventually(refused_by_a, timeout=5, what="the revocation on replica A")
    assert [t.token_id for t in replica_a.list()] == [record.token_id]
    assert not (tmp_path / "a" / "api-tokens.json").exists()
    # With tokens in the shared database, the API role has nothing to refuse about them.
    secret = tmp_path / "secret"
    secret.write_text("s" * 32)
    cluster = Settings(
        data_dir=tmp_path / "a", ledger=postgres_dsn, callback_secret_file=str(secret)
    )
    check_api_replica(cluster, ELSEWHERE)
    assert replica_a.authenticate("ahk_" + record.token_id + "_wrong") is None


async def test_cluster_check_says_what_answers_and_what_would_stay_on_this_machine(
    dev_server_env: WorkflowEnvironment,
    s3_endpoint: str,
    postgres_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address = dev_server_env.client.service_client.config.target_host
    for name, value in {
        "TEMPORAL_ADDRESS": address, "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1", "AGENTHUB_DATA_DIR": str(tmp_path / "node"),
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    # As a newcomer starts: nothing shared yet. Each part says so, and the exit code is 1.
    bare = await asyncio.to_thread(runner.invoke, app, ["cluster", "check"])
    assert bare.exit_code == 1, bare.output
    assert "ok   namespace" in bare.output and "FAIL ledger" in bare.output
    assert "FAIL profile" in bare.output and "AGENTHUB_LEDGER=postgresql://" in bare.output
    secret = tmp_path / "secret"
    secret.write_text("s" * 32)
    monkeypatch.setenv("AGENTHUB_PAYLOAD_STORE", "s3://hub-payloads/checked")
    monkeypatch.setenv("AGENTHUB_LEDGER", postgres_dsn)
    monkeypatch.setenv("AGENTHUB_CALLBACK_SECRET_FILE", str(secret))
    shared = await asyncio.to_thread(runner.invoke, app, ["cluster", "check"])
    assert shared.exit_code == 0, shared.output
    lines = shared.output.splitlines()
    assert [line.split()[1] for line in lines] == [
        "namespace", "search", "payload", "ledger", "api", "callback", "profile",
    ]  # fmt: skip
    assert all(line.startswith("ok") for line in lines), shared.output
    assert "s3://hub-payloads/checked: a probe written and read back" in shared.output
    monkeypatch.setenv("AGENTHUB_PAYLOAD_STORE", "s3://no-such-bucket/x")
    missing = await asyncio.to_thread(runner.invoke, app, ["cluster", "check"])
    assert missing.exit_code == 1 and "FAIL payload store" in missing.output
    assert "NoSuchBucket" in missing.output and "Traceback" not in missing.output
