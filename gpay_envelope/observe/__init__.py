"""See every open and seal without changing the code that calls them (docs/observability.md).

Three ways in, each one call or one logging setting:

- the audit log: the ``gpay_envelope.audit`` logger gets one INFO record per call, with the
  `AuditEvent` as ``record.gpay_audit``; `AuditJSONFormatter` writes it as one JSON line
  (the file ``gpay-envelope keys check --usage`` reads);
- Prometheus: `gpay_envelope.observe.prometheus.instrument` (the ``prometheus`` extra);
- OpenTelemetry metrics: `gpay_envelope.observe.otel.instrument` (the ``otel`` extra).

`add_sink` takes any other consumer of events. Nothing here is imported by ``import
gpay_envelope``, and neither client library is imported before its ``instrument`` is called.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from .._observe import AUDIT_LOGGER, AuditEvent, Sink, add_sink, remove_sink

__all__ = [
    "AUDIT_LOGGER",
    "AuditEvent",
    "AuditJSONFormatter",
    "Sink",
    "SinkHandler",
    "add_sink",
    "audit_to_file",
    "remove_sink",
]


class AuditJSONFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (ISO 8601, UTC) and the event's fields for an audit
    record; ``ts``, ``level``, ``logger`` and ``message`` for any other record.

    Usable from `logging.config.dictConfig`:
    ``{"formatters": {"audit": {"()": "gpay_envelope.observe.AuditJSONFormatter"}}}``.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        ts = datetime.fromtimestamp(record.created, timezone.utc).isoformat()
        event = getattr(record, "gpay_audit", None)
        if isinstance(event, AuditEvent):
            doc: dict[str, object] = {"ts": ts, **event.as_dict()}
        else:
            doc = {
                "ts": ts,
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
        return json.dumps(doc, separators=(",", ":"))


class SinkHandler(logging.Handler):
    """A logging handler that hands the audit event of each record to ``sink``: the logging
    hook through which the metrics can be switched on from a logging configuration alone."""

    def __init__(self, sink: Sink, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        """Pass the record's event on; records that carry none are ignored."""
        event = getattr(record, "gpay_audit", None)
        if isinstance(event, AuditEvent):
            try:
                self.sink(event)
            except Exception:
                self.handleError(record)


def audit_to_file(path: str) -> logging.Handler:
    """Append every audit event to ``path`` as JSON lines, and turn the audit logger on.

    Returns the handler (remove it from ``logging.getLogger(AUDIT_LOGGER)`` to stop). The same
    as a logging configuration with a `logging.FileHandler` and `AuditJSONFormatter` on the
    ``gpay_envelope.audit`` logger at INFO.
    """
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(AuditJSONFormatter())
    logger = logging.getLogger(AUDIT_LOGGER)
    logger.addHandler(handler)
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    return handler
