"""See every open and seal without changing the code that calls them (docs/observability.md).

Three ways in, each one call or one logging setting:

- the audit log: the ``gpay_envelope.audit`` logger gets one INFO record per call, with the
  `AuditEvent` as ``record.gpay_audit``; `AuditJSONFormatter` writes it as one JSON line,
  and `audit_to_file` writes the same lines without logging (the file
  ``gpay-envelope keys check --usage`` reads);
- Prometheus: `gpay_envelope.observe.prometheus.instrument` (the ``prometheus`` extra);
- OpenTelemetry metrics: `gpay_envelope.observe.otel.instrument` (the ``otel`` extra).

`add_sink` takes any other consumer of events. Nothing here is imported by ``import
gpay_envelope``, and neither client library is imported before its ``instrument`` is called.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import threading
from datetime import datetime, timezone
from json.encoder import encode_basestring_ascii

from .._observe import AUDIT_LOGGER, AuditEvent, Sink, add_sink, remove_sink

__all__ = [
    "AUDIT_LOGGER",
    "AuditEvent",
    "AuditFile",
    "AuditJSONFormatter",
    "Sink",
    "SinkHandler",
    "add_sink",
    "audit_to_file",
    "event_json",
    "remove_sink",
]


_ENCODER = json.JSONEncoder(separators=(",", ":"))
_str = encode_basestring_ascii


def event_json(event: AuditEvent, ts: float | None = None) -> str:
    """The event as one line of JSON: ``ts`` (ISO 8601, UTC; of ``ts``, default the event's
    ``at``) then the event's fields. The format of the audit file and `AuditJSONFormatter`.
    """
    # Written field by field with the json module's own string escaper: the fields are
    # fixed, and a JSONEncoder call costs twice as much, a cost every audited call pays. The
    # names in the middle repeat from call to call, so they are written once (`_names_json`).
    e = event
    when = _iso_utc(e.at if ts is None else ts)
    size = "null" if e.size is None else str(int(e.size))
    names = _names_json(
        e.operation, e.codec, e.outcome, e.error, e.decrypted_with, e.verified_by,
        e.algorithms, e.profile, e.recipients, e.signers,
    )  # fmt: skip
    return (
        f'{{"ts":"{when}",{names},"size":{size},'
        f'"duration":{float(e.duration)!r},"at":{float(e.at)!r}}}'
    )


@functools.lru_cache(maxsize=256)
def _names_json(
    operation: str,
    codec: str | None,
    outcome: str,
    error: str | None,
    decrypted_with: str | None,
    verified_by: tuple[str, ...],
    algorithms: tuple[str, ...],
    profile: str | None,
    recipients: tuple[str, ...],
    signers: tuple[str, ...],
) -> str:
    # Names only (operations, codecs, outcomes, error types, our kids, algorithms): a
    # service's combinations are few, and an LRU bound keeps any others from piling up.
    return (
        f'"operation":{_str(operation)},"codec":{_opt(codec)},'
        f'"outcome":{_str(outcome)},"error":{_opt(error)},'
        f'"decrypted_with":{_opt(decrypted_with)},"verified_by":{_list(verified_by)},'
        f'"algorithms":{_list(algorithms)},"profile":{_opt(profile)},'
        f'"recipients":{_list(recipients)},"signers":{_list(signers)}'
    )


_second: list[tuple[int, str]] = [(-1, "")]


def _iso_utc(ts: float) -> str:
    """``datetime.fromtimestamp(ts, timezone.utc).isoformat()``, with the date and time up to
    the second made once per second: building the datetime was a third of `event_json`."""
    # The microseconds are rounded as datetime.fromtimestamp rounds them (half to even).
    frac, whole = math.modf(ts)
    us = round(frac * 1e6)
    sec = int(whole)
    if us >= 1_000_000:
        sec, us = sec + 1, us - 1_000_000
    elif us < 0:
        sec, us = sec - 1, us + 1_000_000
    cached_sec, prefix = _second[0]
    if cached_sec != sec:
        prefix = datetime.fromtimestamp(sec, timezone.utc).isoformat()[:-6]
        _second[0] = (sec, prefix)
    return f"{prefix}.{us:06d}+00:00" if us else f"{prefix}+00:00"


def _opt(value: str | None) -> str:
    return "null" if value is None else _str(value)


def _list(values: tuple[str, ...]) -> str:
    return "[" + ",".join(map(_str, values)) + "]"


class AuditJSONFormatter(logging.Formatter):
    """One JSON object per record: `event_json` for an audit record; ``ts``, ``level``,
    ``logger`` and ``message`` for any other record.

    Usable from `logging.config.dictConfig`:
    ``{"formatters": {"audit": {"()": "gpay_envelope.observe.AuditJSONFormatter"}}}``.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        event = getattr(record, "gpay_audit", None)
        if isinstance(event, AuditEvent):
            return event_json(event, record.created)
        ts = datetime.fromtimestamp(record.created, timezone.utc).isoformat()
        doc = {"ts": ts, "level": record.levelname, "logger": record.name}
        doc["message"] = record.getMessage()
        return _ENCODER.encode(doc)


class SinkHandler(logging.Handler):
    """A logging handler that hands the audit event of each record to ``sink``: the logging
    hook through which any sink can be switched on from a logging configuration alone."""

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


class AuditFile:
    """A sink that appends every event to a file as one JSON line (`event_json`), flushed
    line by line. The same lines as `AuditJSONFormatter` on a `logging.FileHandler`, at half
    the cost: no log record is made. `close` stops it and closes the file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8", buffering=1)

    def __call__(self, event: AuditEvent) -> None:
        """Write one event."""
        line = event_json(event) + "\n"
        with self._lock:
            self._file.write(line)

    def close(self) -> None:
        """Stop writing and close the file."""
        remove_sink(self)
        with self._lock:
            self._file.close()


def audit_to_file(path: str | os.PathLike[str]) -> AuditFile:
    """Append every later open and seal to ``path`` as JSON lines (the file
    ``gpay-envelope keys check --usage`` reads); returns the `AuditFile` (``close()`` it to
    stop). Works whatever the logging configuration."""
    sink = AuditFile(path)
    add_sink(sink)
    return sink
