"""What the metrics count for one event, and the totals both exporters (Prometheus and
OpenTelemetry) report."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

from .._observe import AuditEvent

#: Histogram buckets for the duration of one call, in seconds: from a small unsigned open
#: (tenths of a millisecond) to a signed 8 MiB envelope on a slow token key (seconds).
DURATION_BUCKETS = (
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)


def call_labels(event: AuditEvent) -> tuple[str, str, str]:
    """(codec, kid, outcome) of the opens or seals counter. The kid is always one of *our*
    keys: the identity key that decrypted (open) or the first signer (seal); empty if none."""
    if event.operation == "open":
        kid = event.decrypted_with or ""
    else:
        kid = event.signers[0] if event.signers else ""
    return event.codec or "", kid, event.outcome


def key_uses(event: AuditEvent) -> Iterator[tuple[str, str]]:
    """(kid, use) for every key the call used: ``decrypt`` (also when the signature then
    failed: the peer still sealed to that key), ``verify``, and for a seal that returned
    ``encrypt`` (recipients) and ``sign``."""
    if event.decrypted_with:
        yield event.decrypted_with, "decrypt"
    for kid in event.verified_by:
        yield kid, "verify"
    if event.operation == "seal" and event.outcome == "ok":
        for kid in event.recipients:
            yield kid, "encrypt"
        for kid in event.signers:
            yield kid, "sign"


@dataclass(frozen=True)
class Snapshot:
    """A copy of the `Totals` at one moment, for an exporter to report."""

    calls: dict[tuple[str, str, str, str], int]
    uses: dict[tuple[str, str, str], int]
    last_use: dict[tuple[str, str, str], float]
    #: (codec, operation, outcome) -> (count per bucket of DURATION_BUCKETS and one over the
    #: last, not cumulative; sum of the durations).
    durations: dict[tuple[str, str, str], tuple[list[int], float]]


class Totals:
    """The counts behind the metrics, in plain dictionaries under one lock.

    Updating a few integers here costs a fraction of what updating a metrics library's
    labelled children does (each with its own lock): the exporters read a `Snapshot` when
    they are scraped or collected instead.
    """

    def __init__(self, *, durations: bool = True) -> None:
        self._lock = threading.Lock()
        self._durations_on = durations
        self._calls: dict[tuple[str, str, str, str], int] = {}
        self._uses: dict[tuple[str, str, str], int] = {}
        self._last: dict[tuple[str, str, str], float] = {}
        self._durations: dict[tuple[str, str, str], tuple[list[int], list[float]]] = {}

    def record(self, event: AuditEvent) -> None:
        """Count one event (a `gpay_envelope.observe.Sink`)."""
        codec, kid, outcome = call_labels(event)
        call = (event.operation, codec, kid, outcome)
        slot = bisect_left(DURATION_BUCKETS, event.duration)
        with self._lock:
            self._calls[call] = self._calls.get(call, 0) + 1
            for key, use in key_uses(event):
                self._uses[(codec, key, use)] = self._uses.get((codec, key, use), 0) + 1
                self._last[(codec, key, use)] = event.at
            if self._durations_on:
                hist = self._durations.get((codec, event.operation, outcome))
                if hist is None:
                    hist = ([0] * (len(DURATION_BUCKETS) + 1), [0.0])
                    self._durations[(codec, event.operation, outcome)] = hist
                hist[0][slot] += 1
                hist[1][0] += event.duration

    def snapshot(self) -> Snapshot:
        """A consistent copy of every count."""
        with self._lock:
            return Snapshot(
                calls=dict(self._calls),
                uses=dict(self._uses),
                last_use=dict(self._last),
                durations={k: (list(c), s[0]) for k, (c, s) in self._durations.items()},
            )
