"""What the metrics count for one event, shared by the Prometheus and OpenTelemetry sinks."""

from __future__ import annotations

from collections.abc import Iterator

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
