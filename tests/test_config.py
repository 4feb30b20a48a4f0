from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from agenthub.errors import ConfigurationError, ConnectionFailedError
from agenthub.runtime.connect import connect, load_connect_config, web_ui_base
from agenthub.runtime.settings import Settings

from .conftest import free_port


def test_settings_defaults_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({})
    assert s.data_dir == Path(".agenthub")
    assert s.server_port == 7233 and s.effective_ui_port == 8233
    s = Settings.from_env(
        {
            "AGENTHUB_DATA_DIR": "/tmp/x",
            "AGENTHUB_SERVER_PORT": "9000",
            "AGENTHUB_UI": "false",
            "AGENTHUB_TASK_QUEUE": "q1",
        }
    )
    assert s.data_dir == Path("/tmp/x")
    assert s.server_port == 9000 and s.effective_ui_port == 10000
    assert s.ui is False and s.task_queue == "q1"
    assert Settings.from_env({"AGENTHUB_SERVER_PORT": "9000"}, server_port=9100).server_port == 9100


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AGENTHUB_SERVER_PORT": "seven"}, "AGENTHUB_SERVER_PORT='seven' is not a whole number"),
        ({"AGENTHUB_SERVER_PORT": "70000"}, "AGENTHUB_SERVER_PORT=70000 is not a valid port"),
        ({"AGENTHUB_UI": "maybe"}, "AGENTHUB_UI='maybe' is not a boolean"),
        ({"AGENTHUB_TASK_QUEUE": "  "}, "AGENTHUB_TASK_QUEUE must not be empty"),
    ],
)
def test_settings_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(")):
        Settings.from_env(env)


TOML = """
[profile.default]
address = "default-host:7233"

[profile.cloud]
address = "my-ns.a1b2c.tmprl.cloud:7233"
namespace = "my-ns.a1b2c"
api_key = "secret-key"
"""


def test_connect_config_reads_temporal_toml_profiles(tmp_path: Path, monkeypatch) -> None:
    for var in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    config_file = tmp_path / "temporal.toml"
    config_file.write_text(TOML)
    cloud = load_connect_config(
        Settings(temporal_config_file=config_file, temporal_profile="cloud")
    )
    assert cloud["target_host"] == "my-ns.a1b2c.tmprl.cloud:7233"
    assert cloud["namespace"] == "my-ns.a1b2c"
    assert cloud["api_key"] == "secret-key"
    assert cloud["tls"] is True  # an API key turns TLS on
    default = load_connect_config(Settings(temporal_config_file=config_file))
    assert default["target_host"] == "default-host:7233"
    assert default["namespace"] == "default"


def test_env_vars_override_the_file(tmp_path: Path, monkeypatch) -> None:
    config_file = tmp_path / "temporal.toml"
    config_file.write_text(TOML)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "env-host:1234")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "env-ns")
    config = load_connect_config(Settings(temporal_config_file=config_file))
    assert config["target_host"] == "env-host:1234"
    assert config["namespace"] == "env-ns"


def test_no_address_anywhere_means_the_embedded_server(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "absent.toml"))
    config = load_connect_config(Settings(server_port=7999))
    assert config["target_host"] == "127.0.0.1:7999"


def test_unknown_profile_is_a_configuration_error(tmp_path: Path) -> None:
    config_file = tmp_path / "temporal.toml"
    config_file.write_text(TOML)
    with pytest.raises(ConfigurationError, match="'nope'"):
        load_connect_config(Settings(temporal_config_file=config_file, temporal_profile="nope"))


async def test_bad_address_gives_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    with pytest.raises(
        ConnectionFailedError, match=r"cannot reach a Temporal frontend at 127\.0\.0\.1"
    ):
        await connect(Settings(), timeout=5)


def test_data_dir_is_found_upward_like_a_git_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / ".agenthub").mkdir(parents=True)
    deep = project / "src" / "app"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert Settings.from_env({}).data_dir == (project / ".agenthub").resolve()
    # The secret is the project's, wherever the command runs.
    secret = Settings.from_env({}).callback_secrets()[0]
    assert (project / ".agenthub" / "callback-secret").read_text().strip() == secret
    assert Settings.from_env({}).callback_secret_source.endswith(".agenthub/callback-secret")
    # An explicit setting wins.
    assert Settings.from_env({"AGENTHUB_DATA_DIR": "/tmp/x"}).data_dir == Path("/tmp/x")


def test_the_web_ui_link_needs_a_ui_that_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A headless `up` serves no UI: no link to it. One that answers on its port: a link.
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "none.toml"))
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "TEMPORAL_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(data_dir=tmp_path, server_port=free_port(), ui_port=free_port())
    assert web_ui_base(settings) == ""
    with socket.socket() as listening:
        listening.bind((settings.server_ip, settings.effective_ui_port))
        listening.listen()
        assert web_ui_base(settings) == f"http://127.0.0.1:{settings.effective_ui_port}"
        assert web_ui_base(dataclasses.replace(settings, ui=False)) == ""
    assert web_ui_base(dataclasses.replace(settings, ui_url="http://ui.example/")) == (
        "http://ui.example"
    )
