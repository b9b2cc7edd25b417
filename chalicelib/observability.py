"""Logs, metrics and traces of every request, in one place (aws-lambda-powertools).

What ``request_scope`` produces for each request (``chalicelib.api.operations.invoke`` opens one per operation):

- **one structured JSON log line** (powertools ``Logger``, service ``sift``): ``operation``, ``family``, ``status``,
  ``duration_ms``, ``error_code`` (the documented code of the answer) and, when known, ``error_field``, ``stages_ms``,
  ``documents`` and ``query_chars``; correlated by ``request_id`` (Sift's RequestId, the one returned to the caller:
  the API Gateway request id over HTTP, the Lambda request id on a direct invocation), ``function_request_id`` (the
  Lambda request id) and ``xray_trace_id``. Never a request body, a query, a document's text nor a secret: handlers
  hand over numbers (``annotate``), never content.
- **CloudWatch metrics as EMF** (namespace ``Sift``; every blob also carries powertools' ``service`` dimension):
  ``Requests`` (Count) and ``Latency`` (Milliseconds) by ``operation``; ``Errors`` (Count) by ``operation`` and
  ``code``; ``StageLatency`` (Milliseconds) by ``operation`` and ``stage`` (rewrite, embed, embed_images, recall,
  fuse, rerank); ``Documents`` (Count) by ``operation`` and ``outcome`` (FINISH, FAILED, EMPTY).
- **an X-Ray subsegment** ``## <operation>`` (annotated with operation, status, error code); powertools' ``Tracer``
  patches botocore and requests, so the Bedrock, DynamoDB, S3 and OpenSearch calls inside appear beneath it.

Handing over what the pipeline measured: the core reports its stage timings to the sink each request scope opens
(``chalicelib.core.telemetry.record_stage_timings``); the API handlers add indexing outcomes with
``record_document_outcomes``. Outside a request both do nothing; neither imports more than the standard library, so
neither pulls in powertools.

When each signal is on (decided once per process, on first use; ``reset`` re-reads the environment, for tests):

- logs: always; level ``POWERTOOLS_LOG_LEVEL``, else INFO on Lambda and WARNING elsewhere (the local stage, tests and
  benchmarks print only failures). The request line is INFO, ERROR for a 5xx (a caller's 4xx is no warning). The
  "sift" logger is also Chalice's ``app.log``: its lines become JSON too. On Lambda, the ``chalicelib.*`` loggers are
  routed through the same JSON handler, so their lines carry the request id as well.
- metrics: on Lambda, unless ``POWERTOOLS_METRICS_DISABLED`` is true; elsewhere only when it is explicitly false.
  The namespace is ``POWERTOOLS_METRICS_NAMESPACE`` or ``Sift``, so a flush can never fail for want of one.
- tracing: on Lambda only (not under ``chalice local`` or SAM), unless ``POWERTOOLS_TRACE_DISABLED`` is true: there
  is no X-Ray daemon anywhere else. The Lambda needs active tracing (``"xray": true`` in the stage's config).

Import cost: this module imports only the standard library. Powertools (~5 ms once ``app`` is loaded) is imported on
the first request; the Tracer (aws-xray-sdk and botocore, ~80 ms) only where tracing is on.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.telemetry import stage_timings_to

SERVICE = "sift"
NAMESPACE = "Sift"

_fallback = logging.getLogger(__name__)
_TRUE = {"1", "true", "yes", "on", "y", "t"}
# ``retrieve_many`` times each conversation query separately: ``recall_0``, ``recall_1``... are all ``recall``.
_LEG_SUFFIX = re.compile(r"_\d+$")


def _flag(name: str) -> bool | None:
    value = os.environ.get(name)
    return None if value is None or not value.strip() else value.strip().lower() in _TRUE


def on_lambda() -> bool:
    """Running in AWS Lambda proper (not ``chalice local``, SAM local or a test)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and os.environ.get("LAMBDA_TASK_ROOT")) and not (
        os.environ.get("AWS_SAM_LOCAL") or os.environ.get("AWS_CHALICE_CLI_MODE")
    )


def metrics_enabled() -> bool:
    disabled = _flag("POWERTOOLS_METRICS_DISABLED")
    return on_lambda() if disabled is None else not disabled


def tracing_enabled() -> bool:
    return on_lambda() and not _flag("POWERTOOLS_TRACE_DISABLED")


# --- what one request accumulates -------------------------------------------------------------------------------------


@dataclass
class RequestTelemetry:
    """One request as observed: filled by ``invoke`` (outcome) and the handlers (stages, documents, sizes)."""

    operation: str
    family: str
    request_id: str
    function_request_id: str | None = None
    status: int = 200  # a block that ends without ``finish`` succeeded; one that raises is a 500
    error_code: str | None = None
    error_field: str | None = None
    exception: BaseException | None = None  # an unexpected error: logged with its stack trace
    duration_ms: float = 0.0
    stages_ms: dict[str, float] = field(default_factory=dict)
    documents: Counter[str] = field(default_factory=Counter)
    fields: dict[str, float | str | bool] = field(default_factory=dict)

    def finish(self, status: int, error_code: str | None = None, *, error_field: str | None = None,
               exception: BaseException | None = None) -> None:
        """The answer's status and, for a failure, its documented code and the parameter at fault; ``exception``:
        an unexpected error, logged with its stack trace."""
        self.status, self.error_code, self.error_field, self.exception = status, error_code, error_field, exception

    def add_stage_timings(self, timings: Mapping[str, float]) -> None:
        for stage, milliseconds in timings.items():
            name = _LEG_SUFFIX.sub("", stage)
            self.stages_ms[name] = self.stages_ms.get(name, 0.0) + float(milliseconds)

    def add_document_outcomes(self, statuses: Iterable[str]) -> None:
        self.documents.update(str(status) for status in statuses)


_current: ContextVar[RequestTelemetry | None] = ContextVar("sift_request_telemetry", default=None)


def current() -> RequestTelemetry | None:
    return _current.get()


def record_document_outcomes(statuses: Iterable[str]) -> None:
    """Count indexing outcomes (``DocumentStatus`` values: FINISH, FAILED, EMPTY) for the request in scope."""
    telemetry = _current.get()
    if telemetry is not None:
        telemetry.add_document_outcomes(statuses)


def annotate(**values: float | str | bool) -> None:
    """Extra fields for the request's log line: sizes and counts only, never caller content."""
    telemetry = _current.get()
    if telemetry is not None:
        telemetry.fields.update(values)


# --- the powertools side, built on first use --------------------------------------------------------------------------


class _CurrentStdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (Lambda: the log stream; tests: the capture)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns it; the property wins
        pass


class _Runtime:
    def __init__(self) -> None:
        from aws_lambda_powertools import Logger

        lambda_env = on_lambda()
        level = os.environ.get("POWERTOOLS_LOG_LEVEL") or ("INFO" if lambda_env else "WARNING")
        # The "sift" logger is configured once per process; a rebuilt Logger (``reset``) reuses its handler. It is also
        # Chalice's ``app.log`` (the app is named "sift"), which gave it a plain-text handler: the JSON one replaces it,
        # so every line is printed once, as JSON, Chalice's own included.
        stdlib_logger = logging.getLogger(SERVICE)
        configured = getattr(stdlib_logger, "powertools_handler", None) is not None
        if not configured:
            for handler in list(stdlib_logger.handlers):
                stdlib_logger.removeHandler(handler)
        stdlib_logger.propagate = False
        self.logger = Logger(service=SERVICE, level=level, logger_handler=None if configured else _CurrentStdout())
        self.logger.setLevel(level)  # a rebuilt Logger keeps the first one's level otherwise
        if lambda_env:
            from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

            copy_config_to_registered_loggers(source_logger=self.logger, include={"chalicelib"})
        self.metrics = metrics_enabled()
        self.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE
        self.tracer: Any = None
        if tracing_enabled():
            try:
                from aws_lambda_powertools import Tracer

                self.tracer = Tracer(service=SERVICE)  # patches botocore, requests, ... (auto_patch)
            except ImportError:  # aws-xray-sdk is not in the package: logs and metrics still work
                self.logger.warning("tracing is off: aws-xray-sdk is not installed")

    def subsegment(self, operation: str) -> AbstractContextManager[Any]:
        if self.tracer is None:
            return nullcontext(None)
        return self.tracer.provider.in_subsegment(name=f"## {operation}")

    def log(self, telemetry: RequestTelemetry) -> None:
        status = telemetry.status
        write = self.logger.error if status >= 500 else self.logger.info  # a caller's mistake is no warning
        extra: dict[str, Any] = {
            "operation": telemetry.operation,
            "family": telemetry.family,
            "status": status,
            "duration_ms": round(telemetry.duration_ms, 3),
        }
        if telemetry.error_code:
            extra["error_code"] = telemetry.error_code
        if telemetry.error_field:
            extra["error_field"] = telemetry.error_field
        if telemetry.stages_ms:
            extra["stages_ms"] = {stage: round(ms, 3) for stage, ms in telemetry.stages_ms.items()}
        if telemetry.documents:
            extra["documents"] = dict(telemetry.documents)
        extra.update(telemetry.fields)
        write("request", exc_info=telemetry.exception, extra=extra)

    def emit_metrics(self, telemetry: RequestTelemetry) -> None:
        """One EMF blob per dimension set: the request, its error code, each stage, each document status."""
        if not self.metrics:
            return
        from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

        def blob(dimensions: Mapping[str, str], *metrics: tuple[str, MetricUnit, float]) -> None:
            emf = EphemeralMetrics(namespace=self.namespace, service=SERVICE)
            for name, value in dimensions.items():
                emf.add_dimension(name=name, value=value)
            for name, unit, amount in metrics:
                emf.add_metric(name=name, unit=unit, value=amount)
            emf.flush_metrics(raise_on_empty_metrics=True)

        operation = {"operation": telemetry.operation}
        blob(operation, ("Requests", MetricUnit.Count, 1), ("Latency", MetricUnit.Milliseconds, telemetry.duration_ms))
        if telemetry.error_code:
            blob({**operation, "code": telemetry.error_code}, ("Errors", MetricUnit.Count, 1))
        for stage, milliseconds in telemetry.stages_ms.items():
            blob({**operation, "stage": stage}, ("StageLatency", MetricUnit.Milliseconds, milliseconds))
        for status, count in telemetry.documents.items():
            blob({**operation, "outcome": status}, ("Documents", MetricUnit.Count, count))


_runtime: _Runtime | None = None
_lock = threading.Lock()
_cold_start = True


def _get_runtime() -> _Runtime | None:
    """The powertools objects, built once; None if they cannot be (observability never fails a request)."""
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                try:
                    _runtime = _Runtime()
                except Exception:  # noqa: BLE001 - observability never fails a request
                    _fallback.exception("observability unavailable: logging, metrics and tracing are off")
                    return None
    return _runtime


def reset() -> None:
    """Forget the built runtime, so the next request re-reads the environment (tests switch metrics on and off)."""
    global _runtime
    with _lock:
        _runtime = None


@contextmanager
def request_scope(
    operation: str, *, family: str, request_id: str, lambda_context: object | None = None
) -> Iterator[RequestTelemetry]:
    """Observe one request: trace the block, then log its line and emit its metrics (see the module docstring).

    The block reports its outcome with ``telemetry.finish`` (200 if it does not); an exception escaping it is logged
    with its stack trace, counted as a 500 and re-raised. ``invoke`` opens one per operation; a Lambda outside the
    operation registry (the S3 event handler) can open its own.
    """
    global _cold_start
    function_request_id = getattr(lambda_context, "aws_request_id", None)
    telemetry = RequestTelemetry(operation, family, request_id, function_request_id)
    runtime = _get_runtime()
    keys = {"request_id": request_id, "function_request_id": function_request_id, "cold_start": _cold_start}
    _cold_start = False
    if runtime is not None:
        try:
            runtime.logger.thread_safe_append_keys(**{key: value for key, value in keys.items() if value is not None})
        except Exception:  # noqa: BLE001 - observability never fails a request
            _fallback.exception("could not correlate the logs of request %s", request_id)
    token = _current.set(telemetry)
    started = time.perf_counter()
    try:
        subsegment_scope = runtime.subsegment(operation) if runtime is not None else nullcontext(None)
        with subsegment_scope as subsegment, stage_timings_to(telemetry.add_stage_timings):
            try:
                yield telemetry
            except BaseException as exc:
                telemetry.finish(500, "InternalError", exception=exc)
                raise
            finally:
                if subsegment is not None:
                    _annotate_subsegment(subsegment, telemetry)
    finally:
        telemetry.duration_ms = (time.perf_counter() - started) * 1000.0
        _current.reset(token)
        if runtime is None:
            if telemetry.exception is not None:
                _fallback.error(
                    "unhandled error in %s (request %s)", operation, request_id, exc_info=telemetry.exception
                )
        else:
            try:
                runtime.log(telemetry)
                runtime.emit_metrics(telemetry)
                runtime.logger.thread_safe_remove_keys(list(keys))
            except Exception:  # noqa: BLE001 - observability never fails a request
                _fallback.exception("could not log or emit the metrics of request %s", request_id)


def _annotate_subsegment(subsegment: Any, telemetry: RequestTelemetry) -> None:
    try:
        subsegment.put_annotation("operation", telemetry.operation)
        subsegment.put_annotation("request_id", telemetry.request_id)
        subsegment.put_annotation("status", telemetry.status)
        if telemetry.error_code:
            subsegment.put_annotation("error_code", telemetry.error_code)
        if telemetry.stages_ms:
            subsegment.put_metadata("stages_ms", dict(telemetry.stages_ms), namespace=SERVICE)
    except Exception:  # noqa: BLE001 - observability never fails a request
        _fallback.exception("could not annotate the trace of request %s", telemetry.request_id)
