"""Audit events for every open and seal: the core's half of `gpay_envelope.observe`.

`open_detailed` (so `open`) and `seal` call `watch()` first. While no sink is registered and
the ``gpay_envelope.audit`` logger is not enabled for INFO, it returns None and that check is
all the call costs. Otherwise the call is timed and ends in one `AuditEvent`, handed to every
sink (the Prometheus and OpenTelemetry instrumentation of `gpay_envelope.observe` register
one) and logged on ``gpay_envelope.audit`` at INFO, with the event as ``record.gpay_audit``.

An event holds names, counts and the outcome only: the codec, the seal profile or the
algorithms an open saw, kids, the exception's type name, the envelope's size and the
duration. Never a payload, key material, or an exception's message (a `TypeError`'s text may
quote an argument).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Protocol

from .errors import InvalidEnvelope, InvalidSignature

__all__ = [
    "AUDIT_LOGGER",
    "AuditEvent",
    "Sink",
    "Watch",
    "add_sink",
    "remove_sink",
    "watch",
]

#: The logger every audit event goes to, at INFO. Silent until configured (the root logger's
#: default level is WARNING): ``logging.getLogger("gpay_envelope.audit").setLevel("INFO")``
#: plus a handler, or ``logging.basicConfig(level="INFO")``, turns it on.
AUDIT_LOGGER = "gpay_envelope.audit"
_audit = logging.getLogger(AUDIT_LOGGER)
_log = logging.getLogger("gpay_envelope")
_INFO = logging.INFO


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One open or seal, as the audit log and the metrics see it.

    Attributes:
        operation: ``"open"`` or ``"seal"``.
        codec: the codec's name; None when the call failed before a codec was chosen.
        outcome: ``"ok"``, ``"invalid"`` (`InvalidEnvelope`), ``"invalid_signature"``
            (`InvalidSignature`) or ``"error"`` (anything else: a usage error, `SealError`,
            `KeyUnavailable`, ...).
        error: the exception's type name, None when the outcome is ok.
        decrypted_with: open: kid of our key that decrypted, also when the signature then
            failed; None when nothing decrypted.
        verified_by: open: kids of the sender keys whose signatures verified.
        algorithms: open: the algorithms seen (empty unless the outcome is ok).
        profile: seal: the profile used (the codec's default when none was asked for).
        recipients: seal: kids of the keys sealed to.
        signers: seal: kids of our keys that signed.
        size: the envelope's length in bytes (opened or produced); None when unknown.
        duration: seconds spent in the call.
        at: when the call ended, seconds since the epoch.
    """

    operation: str
    codec: str | None
    outcome: str
    error: str | None
    decrypted_with: str | None
    verified_by: tuple[str, ...]
    algorithms: tuple[str, ...]
    profile: str | None
    recipients: tuple[str, ...]
    signers: tuple[str, ...]
    size: int | None
    duration: float
    at: float

    def as_dict(self) -> dict[str, object]:
        """The event as JSON-ready values (tuples become lists)."""
        # Field by field: dataclasses.asdict deep-copies and costs ten times as much.
        out: dict[str, object] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def __str__(self) -> str:
        parts = [self.operation, self.codec or "-", self.outcome]
        for name in _SUMMARY:
            value = getattr(self, name)
            if value is not None and value not in ("", ()):
                text = ",".join(value) if isinstance(value, tuple) else value
                parts.append(f"{name}={text}")
        parts.append(f"ms={self.duration * 1e3:.3f}")
        return " ".join(parts)


_FIELDS = tuple(f.name for f in fields(AuditEvent))
_SUMMARY = ("error", "decrypted_with", "verified_by", "recipients", "signers", "profile", "size")

# Each field's slot, set directly: the frozen dataclass's __init__ goes through
# object.__setattr__ once per field, and that was half of what an event cost to build.
_set = {name: getattr(AuditEvent, name).__set__ for name in _FIELDS}
_set_operation, _set_codec, _set_outcome, _set_error = (
    _set["operation"], _set["codec"], _set["outcome"], _set["error"],
)  # fmt: skip
_set_decrypted_with, _set_verified_by, _set_algorithms = (
    _set["decrypted_with"], _set["verified_by"], _set["algorithms"],
)  # fmt: skip
_set_profile, _set_recipients, _set_signers = (
    _set["profile"], _set["recipients"], _set["signers"],
)  # fmt: skip
_set_size, _set_duration, _set_at = _set["size"], _set["duration"], _set["at"]


def _new_event(
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
    size: int | None,
    duration: float,
    at: float,
) -> AuditEvent:
    """An `AuditEvent` of these fields, built as its __init__ would, faster (one call per
    field, no loop: each call is measured on an audited call's path)."""
    event: AuditEvent = object.__new__(AuditEvent)
    _set_operation(event, operation)
    _set_codec(event, codec)
    _set_outcome(event, outcome)
    _set_error(event, error)
    _set_decrypted_with(event, decrypted_with)
    _set_verified_by(event, verified_by)
    _set_algorithms(event, algorithms)
    _set_profile(event, profile)
    _set_recipients(event, recipients)
    _set_signers(event, signers)
    _set_size(event, size)
    _set_duration(event, duration)
    _set_at(event, at)
    return event


#: What receives every event: called in the thread that opened or sealed, so it must be quick
#: and must not block. An exception it raises is logged and never reaches the caller.
Sink = Callable[[AuditEvent], None]

_sinks: tuple[Sink, ...] = ()
_sinks_lock = threading.Lock()


def add_sink(sink: Sink) -> None:
    """Hand every later event to ``sink`` (once, however often it is added)."""
    global _sinks
    with _sinks_lock:
        if sink not in _sinks:
            _sinks = (*_sinks, sink)


def remove_sink(sink: Sink) -> None:
    """Stop handing events to ``sink``; a sink that was never added is ignored."""
    global _sinks
    with _sinks_lock:
        _sinks = tuple(s for s in _sinks if s != sink)


class _Trace(Protocol):
    decrypted_with: str | None


class Watch:
    """One call being observed: the front door fills in what it learns, then ends it once."""

    __slots__ = ("codec", "profile", "recipients", "signers", "size", "started", "trace")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.size: int | None = None
        self.codec: str | None = None
        self.trace: _Trace | None = None
        self.profile: str | None = None
        self.recipients: tuple[str, ...] = ()
        self.signers: tuple[str, ...] = ()

    def opened(
        self, decrypted_with: str, verified_by: tuple[str, ...], algorithms: tuple[str, ...]
    ) -> None:
        """End an open that returned."""
        self._emit("open", "ok", None, decrypted_with, verified_by, algorithms, self.size)

    def sealed(self, envelope: bytes) -> None:
        """End a seal that returned ``envelope``."""
        self._emit("seal", "ok", None, None, (), (), len(envelope))

    def failed(self, operation: str, exc: BaseException) -> None:
        """End a call that raised ``exc``: only its type is kept."""
        if isinstance(exc, InvalidSignature):
            outcome = "invalid_signature"
        elif isinstance(exc, InvalidEnvelope):
            outcome = "invalid"
        else:
            outcome = "error"
        decrypted = self.trace.decrypted_with if self.trace is not None else None
        size = self.size if operation == "open" else None
        self._emit(operation, outcome, type(exc).__name__, decrypted, (), (), size)

    def _emit(
        self,
        operation: str,
        outcome: str,
        error: str | None,
        decrypted_with: str | None,
        verified_by: tuple[str, ...],
        algorithms: tuple[str, ...],
        size: int | None,
    ) -> None:
        duration = time.perf_counter() - self.started
        event = _new_event(
            operation, self.codec, outcome, error, decrypted_with, verified_by, algorithms,
            self.profile, self.recipients, self.signers, size, duration, time.time(),
        )  # fmt: skip
        for sink in _sinks:
            try:
                sink(event)
            except Exception:
                _log.warning("an audit sink failed", exc_info=True)
        if _audit.isEnabledFor(_INFO):
            # makeRecord and handle, as Logger.info does, without its search of the stack for
            # the caller: that is always this line, and the search is a third of the cost.
            # The event is set on the record afterwards, not passed as ``extra``: that would
            # build a dict and check each of its keys against the record's on every call.
            record = _audit.makeRecord(AUDIT_LOGGER, _INFO, __file__, 0, "%s", (event,), None)
            record.gpay_audit = event
            _audit.handle(record)


def watch() -> Watch | None:
    """A `Watch` for one call, or None when nothing listens (the one check when off)."""
    if _sinks or _audit.isEnabledFor(_INFO):
        return Watch()
    return None
