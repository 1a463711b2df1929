"""Operations: Prometheus metrics, request ids and structured, redacted logs.

Metric labels are bounded on purpose: routes are path templates, never raw paths, and no label
carries a key id, an IP or anything a client chooses.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import re
import time
from collections.abc import Iterable
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.security.refusals import Refusal

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_SHAPE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class UsageRecorderCollector(Collector):
    """Reads the usage recorder's counters (and its writer process's) at scrape time."""

    def __init__(self, recorder: Any, writer: Any | None) -> None:
        self._recorder = recorder
        self._writer = writer

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "traylinx_usage_queue_depth",
            "Usage records waiting to be written.",
            value=self._recorder.queue_depth,
        )
        yield CounterMetricFamily(
            "traylinx_usage_dropped",
            "Usage records dropped: the queue was full (database unavailable), or the record "
            "could not be written for what it holds.",
            value=self._recorder.dropped,
        )
        yield CounterMetricFamily(
            "traylinx_usage_written", "Usage records written.", value=self._recorder.written
        )
        yield CounterMetricFamily(
            "traylinx_usage_failed_batches",
            "Usage batches that could not be written (kept for a later flush, as far as the "
            "queue has room).",
            value=self._recorder.failed_batches,
        )
        if self._writer is not None:
            yield CounterMetricFamily(
                "traylinx_usage_writer_processes_started",
                "Usage writer processes started: more than one means one died or hung.",
                value=self._writer.started,
            )


class PolicyCountersCollector(Collector):
    """Where key policies are counted: shared (Redis) or this process alone."""

    def __init__(self, counters: Any) -> None:
        self._counters = counters

    def collect(self) -> Iterable[Metric]:
        shared = hasattr(self._counters, "available")
        yield GaugeMetricFamily(
            "traylinx_policy_counters_shared",
            "1 while key policies are counted in Redis for every process; 0 while this process "
            "counts alone (no TRAYLINX_REDIS_URL, or Redis unreachable).",
            value=1 if shared and self._counters.available else 0,
        )
        if shared:
            yield CounterMetricFamily(
                "traylinx_policy_counters_errors",
                "Failed calls to Redis (the process counted alone meanwhile).",
                value=self._counters.errors,
            )
            yield CounterMetricFamily(
                "traylinx_policy_counters_round_trips",
                "Round trips to Redis: each carries the admissions, settlements and permits of "
                "a batch; most requests are decided without one.",
                value=self._counters.round_trips,
            )
            yield CounterMetricFamily(
                "traylinx_policy_counters_waits",
                "Admissions that waited for Redis (no permit held, a count too old or not seeded "
                "yet); the others were decided in the process.",
                value=self._counters.waits,
            )


class Metrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "traylinx_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "traylinx_http_request_duration_seconds",
            "Time to the end of the response, by route template.",
            ["route"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "traylinx_proxy_upstream_duration_seconds",
            "Time until a provider's response headers, by provider.",
            ["provider"],
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "traylinx_proxy_upstream_errors",
            "Provider failures by provider and kind (timeout, unreachable, status_5xx, stream).",
            ["provider", "kind"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "traylinx_auth_failures",
            "Refused credentials by reason.",
            ["reason"],
            registry=self.registry,
        )

        self.policy_refusals = Counter(
            "traylinx_policy_refusals",
            "Requests refused by their key's policy, by reason (scope, address, model, "
            "requests_per_minute, tokens_per_minute, concurrency, budget).",
            ["reason"],
            registry=self.registry,
        )

    def watch_recorder(self, recorder: Any, writer: Any | None = None) -> None:
        self.registry.register(UsageRecorderCollector(recorder, writer))

    def watch_counters(self, counters: Any) -> None:
        self.registry.register(PolicyCountersCollector(counters))

    def auth_failed(self, refusal: Refusal) -> None:
        self.auth_failures.labels(refusal.value).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def observe_requests(metrics: Metrics) -> Any:
    """ASGI middleware factory: request id, request metrics."""

    def middleware_factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            incoming = _header(scope, b"x-request-id")
            rid = incoming if incoming and _REQUEST_ID_SHAPE.match(incoming) else _new_request_id()
            token = request_id.set(rid)
            started = time.perf_counter()
            status = 500

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-request-id", rid.encode()),
                    ]
                await send(message)

            # The router rewrites a mounted app's path in place (/v1/chat/completions becomes
            # /chat/completions/); the server's own scope, which its access log reads, keeps
            # the path as the client sent it.
            routed = scope.copy()
            try:
                await app(routed, receive, send_with_id)
            finally:
                route = routed.get("path_template") or "unmatched"
                metrics.requests.labels(route, scope["method"], str(status)).inc()
                metrics.latency.labels(route).observe(time.perf_counter() - started)
                request_id.reset(token)

        return middleware

    return middleware_factory


def _new_request_id() -> str:
    # Unique, not secret: a request id only correlates log lines, so the process's fast
    # generator (seeded from the OS at start) will do where a syscall per request would not.
    return f"{_ids.getrandbits(64):016x}"


_ids = random.Random()  # noqa: S311 (ids, not secrets)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


# --- logs ----------------------------------------------------------------------------------------

# Credentials this service issues or handles, in any log message, whatever logged them.
_SECRETS = re.compile(
    r"(tlx_[0-9A-Za-z]{12}_[0-9A-Za-z]{8,}|tlr_[A-Za-z0-9_-]{16,}"
    r"|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+|sk-[A-Za-z0-9_-]{8,})"
)


def redact(text: str) -> str:
    return _SECRETS.sub("[REDACTED]", text)


class RedactingFilter(logging.Filter):
    """A last line of defence: the code never logs secrets, and this scrubs any that slip in."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        record.request_id = request_id.get() or "-"
        return True


class RedactingFormatter(logging.Formatter):
    """Text lines, with credentials scrubbed from tracebacks too."""

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            # Which serving process (with several workers, several log to the same stream).
            "pid": record.process,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


def configure_logging(level: str, *, json_lines: bool) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    if json_lines:
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = RedactingFormatter(
            "%(asctime)s %(levelname)s %(name)s %(process)d [%(request_id)s]: %(message)s"
        )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Piccolo announces the server version on every engine it creates; not news to operators.
    logging.getLogger("piccolo").setLevel(max(logging.WARNING, logging.getLevelName(level)))
