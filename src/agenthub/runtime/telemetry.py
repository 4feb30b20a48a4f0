"""Observability: OpenTelemetry traces, Prometheus metrics, and task ids on every log line.

* **Traces** (off unless an OTLP endpoint is configured: ``AGENTHUB_OTLP_ENDPOINT`` or the
  standard ``OTEL_EXPORTER_OTLP_ENDPOINT``): the SDK's ``OpenTelemetryPlugin`` spans every
  workflow start, workflow run and activity, and pydantic-ai's instrumentation spans the
  agents' runs and model requests, all in one trace per task. Needs ``agenthub[otel]``.
  When off, nothing is imported and nothing runs.
* **Metrics**: ``AGENTHUB_METRICS_PORT`` makes the SDK runtime serve Prometheus metrics
  (``/metrics``) on that port (``agenthub up`` and ``agenthub worker``).
* **Logs**: inside a workflow or an activity, every log record gets ``workflow_id`` (and
  ``run_id``, ``activity``) attributes, whoever logs, so a line of a tool's own logger
  still says which task it belongs to. ``agenthub up`` prints them.

Example::

    client = await connect(settings, runtime=metrics_runtime(settings),
                           plugins=tracing_plugins(settings))
"""

from __future__ import annotations

import logging
import os
from typing import Any

from agenthub.errors import ConfigurationError
from agenthub.runtime.settings import Settings

__all__ = [
    "LOG_FORMAT",
    "install_one_line_failures",
    "install_task_ids",
    "metrics_runtime",
    "otlp_endpoint",
    "start_tracing",
    "tracing_plugins",
]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(workflow_id)s] %(message)s"
_tracing: dict[str, Any] = {}


def otlp_endpoint(settings: Settings) -> str:
    """The OTLP endpoint traces go to (``""``: tracing is off)."""
    return settings.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")


def start_tracing(settings: Settings, *, exporter: Any = None) -> Any:
    """Install a replay-safe tracer provider exporting to the OTLP endpoint (or to
    ``exporter``) and instrument every pydantic-ai agent; once per process. Returns the
    provider, or ``None`` when tracing is off.

    Raises:
        ConfigurationError: tracing is configured but ``agenthub[otel]`` is not installed.
    """
    if "provider" in _tracing:
        return _tracing["provider"]
    endpoint = otlp_endpoint(settings)
    if exporter is None and not endpoint:
        return None
    try:
        import opentelemetry.trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from pydantic_ai import Agent
        from pydantic_ai.models.instrumented import InstrumentationSettings
        from temporalio.contrib.opentelemetry import create_tracer_provider
    except ImportError as err:
        raise ConfigurationError(
            f"traces to {endpoint} need OpenTelemetry: pip install 'agenthub[otel]' ({err})"
        ) from None
    provider = create_tracer_provider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "agenthub")})
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        traces = endpoint.rstrip("/")
        if not traces.endswith("/v1/traces"):
            traces += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces)))
    opentelemetry.trace.set_tracer_provider(provider)
    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider))
    _tracing["provider"] = provider
    return provider


def tracing_plugins(settings: Settings) -> list[Any]:
    """The SDK's OpenTelemetry plugin when tracing is on (starting it), else ``[]``."""
    if start_tracing(settings) is None:
        return []
    from temporalio.contrib.opentelemetry import OpenTelemetryPlugin

    return [OpenTelemetryPlugin(add_temporal_spans=True)]


def metrics_runtime(settings: Settings) -> Any:
    """An SDK runtime serving Prometheus metrics on ``settings.metrics_port`` (on
    ``settings.server_ip``), or ``None`` when the port is 0."""
    if not settings.metrics_port:
        return None
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    address = f"{settings.server_ip}:{settings.metrics_port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


def _task_ids() -> dict[str, str]:
    from temporalio import activity, workflow

    try:
        if activity.in_activity():
            info = activity.info()
            return {
                "workflow_id": info.workflow_id or "",
                "run_id": info.workflow_run_id or "",
                "activity": info.activity_type,
            }
        if workflow.in_workflow():
            winfo = workflow.info()
            return {"workflow_id": winfo.workflow_id, "run_id": winfo.run_id, "activity": ""}
    except RuntimeError:  # not in a task after all
        pass
    return {}


def install_task_ids() -> None:
    """Give every log record made inside a workflow or activity its ``workflow_id``,
    ``run_id`` and ``activity`` (``"-"`` outside), whoever logs it. Idempotent."""
    current = logging.getLogRecordFactory()
    if getattr(current, "agenthub_task_ids", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        ids = _task_ids()
        record.workflow_id = ids.get("workflow_id", "-")
        record.run_id = ids.get("run_id", "-")
        record.activity = ids.get("activity", "-")
        return record

    factory.agenthub_task_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_FAILED = "Completing activity as failed"


class _OneLineFailures(logging.Filter):
    """The SDK logs every failed activity attempt with its traceback (about 140 lines for an
    unreachable model): here it is one line naming the error, unless ``AGENTHUB_DEBUG`` is
    set. Expected failures (``PermanentFailure``, a 4xx) are not bugs to debug."""

    agenthub_one_line = True

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.exc_info
            and isinstance(record.msg, str)
            and record.msg.startswith(_FAILED)
            and not os.environ.get("AGENTHUB_DEBUG")
        ):
            from agenthub.patterns._sdk import describe_failure

            error = record.exc_info[1]
            if error is not None:
                kind, message = describe_failure(error)
                first = message.strip().splitlines()[0][:300] if message.strip() else ""
                record.msg = record.msg.replace(_FAILED, f"{_FAILED}: {kind}: {first}", 1)
            record.exc_info = None
            record.exc_text = None
        return True


def install_one_line_failures() -> None:
    """Failed activity attempts log one line each (traceback with ``AGENTHUB_DEBUG=1``).
    Idempotent."""
    target = logging.getLogger("temporalio.activity")
    if not any(getattr(f, "agenthub_one_line", False) for f in target.filters):
        target.addFilter(_OneLineFailures())
