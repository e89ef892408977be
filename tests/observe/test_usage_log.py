"""Reading key use back from a JSON-lines audit log: events written by `AuditJSONFormatter`,
other records and broken lines skipped, the latest use of each key kept."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime, timezone

import pytest

from gpay_envelope.observe import AuditEvent, AuditJSONFormatter, event_json
from gpay_envelope.observe.usage import read_usage


def _line(at: float, **kw: object) -> str:
    fields: dict[str, object] = {
        "operation": "open", "codec": "jwe", "outcome": "ok", "error": None,
        "decrypted_with": None, "verified_by": (), "algorithms": (), "profile": None,
        "recipients": (), "signers": (), "size": 10, "duration": 0.001, "at": at,
    }
    fields.update(kw)
    event = AuditEvent(**fields)  # type: ignore[arg-type]
    record = logging.LogRecord("gpay_envelope.audit", logging.INFO, __file__, 1, "%s",
                               (event,), None)
    record.gpay_audit = event
    return AuditJSONFormatter().format(record)


def test_the_latest_use_of_each_key_and_use_is_kept() -> None:
    lines = [
        _line(2000.0, decrypted_with="old", verified_by=("g1",)),
        _line(1000.0, decrypted_with="old"),
        _line(3000.0, decrypted_with="new", outcome="invalid_signature"),
        _line(1500.0, operation="seal", recipients=("g1",), signers=("sig",)),
        _line(2500.0, operation="seal", outcome="error", recipients=("g2",), signers=("sig",)),
        "",
        "not json",
        '{"ts": "2026-01-01T00:00:00+00:00", "level": "INFO", "message": "other"}',
        _line(1200.0)[:-5],
    ]
    log = read_usage(lines)
    utc = timezone.utc
    assert (log.events, log.skipped) == (5, 3)
    assert log.first == datetime.fromtimestamp(1000, utc)
    assert log.last == datetime.fromtimestamp(3000, utc)
    assert log.last_use["old"] == {"decrypt": datetime.fromtimestamp(2000, utc)}
    assert log.last_use["new"] == {"decrypt": datetime.fromtimestamp(3000, utc)}
    assert set(log.last_use["g1"]) == {"verify", "encrypt"}
    assert log.last_use["sig"] == {"sign": datetime.fromtimestamp(1500, utc)}
    assert "g2" not in log.last_use  # a seal that failed used no key
    assert log.idle_since("old") == datetime.fromtimestamp(2000, utc)
    assert log.idle_since("never-seen") == log.first


def test_a_non_audit_record_is_formatted_as_plain_json() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    line = AuditJSONFormatter().format(record)
    assert '"message":"hello you"' in line and '"level":"WARNING"' in line
    assert read_usage([line]).events == 0
    assert read_usage([]).idle_since("k") is None


@pytest.mark.parametrize(
    "kid", ["plain", 'quo"te', "back\\slash", "new\nline", "ünï-cødé", "\u2028", "tab\t"]
)
def test_an_event_line_is_the_json_of_its_fields(kid: str) -> None:
    event = AuditEvent(
        operation="seal", codec="pgp", outcome="error", error="SealError", decrypted_with=kid,
        verified_by=(kid, "b"), algorithms=(), profile=kid, recipients=("r",),
        signers=(kid,), size=None, duration=1.25e-4, at=1764780000.123456,
    )
    line = event_json(event)
    assert "\n" not in line
    doc = json.loads(line)
    assert doc.pop("ts") == "2025-12-03T16:40:00.123456+00:00"
    assert doc == event.as_dict()
    assert json.loads(event_json(event, 0.0))["ts"] == "1970-01-01T00:00:00+00:00"


def test_event_lines_follow_every_name_field() -> None:
    base = AuditEvent(
        operation="open", codec="jwe", outcome="ok", error=None, decrypted_with="enc-1",
        verified_by=("sig-1",), algorithms=("RSA-OAEP-256", "A256GCM", "RS256"), profile=None,
        recipients=(), signers=(), size=1400, duration=1.5e-3, at=1764780000.5,
    )  # fmt: skip
    variants = [
        base,
        dataclasses.replace(base, operation="seal"),
        dataclasses.replace(base, codec="pgp"),
        dataclasses.replace(base, outcome="invalid", error="InvalidEnvelope"),
        dataclasses.replace(base, decrypted_with="enc-2"),
        dataclasses.replace(base, verified_by=("sig-1", "sig-2")),
        dataclasses.replace(base, algorithms=("RSA-OAEP", "A128GCM", "PS256")),
        dataclasses.replace(base, profile="legacy"),
        dataclasses.replace(base, recipients=("r-1",)),
        dataclasses.replace(base, signers=("s-1",)),
        dataclasses.replace(base, size=None, duration=2.5e-3, at=1764780001.25),
    ]
    for event in variants * 2:  # the second time round, the names are written already
        doc = json.loads(event_json(event))
        doc.pop("ts")
        assert doc == event.as_dict()
