"""When each key was last used, read back from a JSON-lines audit log (`AuditJSONFormatter`).

This is the evidence for the last steps of a rotation (docs/rotation.md): an old key of ours
that has decrypted nothing for days while the log kept recording is one the peer no longer
seals to, and can be disabled. ``gpay-envelope keys check --usage FILE`` prints it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from .._observe import AuditEvent
from ._labels import key_uses

__all__ = ["USES", "UsageLog", "read_usage"]

#: The uses recorded per key, in the order they are reported.
USES = ("decrypt", "verify", "sign", "encrypt")
_FIELDS = frozenset(f.name for f in fields(AuditEvent))


@dataclass(frozen=True)
class UsageLog:
    """What an audit log says about key use.

    Attributes:
        events: audit events read.
        skipped: lines that were not audit events (other records, blank or broken lines).
        first, last: the time of the first and the last event; None when there were none.
        last_use: kid -> use (``USES``) -> when that key was last used that way.
    """

    events: int = 0
    skipped: int = 0
    first: datetime | None = None
    last: datetime | None = None
    last_use: Mapping[str, Mapping[str, datetime]] = field(default_factory=dict)

    def idle_since(self, kid: str, use: str = "decrypt") -> datetime | None:
        """Since when ``kid`` has not been used for ``use``: its last use, or the start of the
        log when it was never used in it; None for an empty log."""
        return self.last_use.get(kid, {}).get(use, self.first)


def _event(line: str) -> AuditEvent | None:
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not _FIELDS <= doc.keys():
        return None
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in doc.items() if k in _FIELDS
    }
    try:
        event = AuditEvent(**values)
    except TypeError:
        return None
    ok = isinstance(event.at, (int, float)) and all(
        isinstance(kid, str) for kid in (*event.verified_by, *event.recipients, *event.signers)
    )
    return event if ok and isinstance(event.decrypted_with, (str, type(None))) else None


def read_usage(lines: Iterable[str]) -> UsageLog:
    """Read JSON-lines audit records (e.g. an open file) into a `UsageLog`, in one pass.

    Lines that are not audit events are counted in ``skipped`` and otherwise ignored, so the
    audit handler may share its file with other records.
    """
    events = skipped = 0
    first = last = None
    last_use: dict[str, dict[str, float]] = {}
    for line in lines:
        event = _event(line) if line.strip() else None
        if event is None:
            skipped += line.strip() != ""
            continue
        events += 1
        first = event.at if first is None else min(first, event.at)
        last = event.at if last is None else max(last, event.at)
        for kid, use in key_uses(event):
            seen = last_use.setdefault(kid, {})
            seen[use] = max(seen.get(use, event.at), event.at)
    return UsageLog(
        events=events,
        skipped=skipped,
        first=_utc(first),
        last=_utc(last),
        last_use={
            kid: {use: datetime.fromtimestamp(t, timezone.utc) for use, t in uses.items()}
            for kid, uses in last_use.items()
        },
    )


def _utc(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc)
