"""``keys check --usage``: the last use of each checked key, from a real audit log written by
`audit_to_file` (or a logging handler) while the library opened and sealed, and the old keys
that went idle."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cli_run import run

import gpay_envelope as ge
from gpay_envelope import _keys
from gpay_envelope.observe import AUDIT_LOGGER, AuditJSONFormatter, audit_to_file

PAYLOAD = b'{"ok":true}'


@pytest.fixture(params=["sink", "logging"])
def audit_log(request, tmp_path: Path) -> Iterator[Path]:
    """The audit file, written by `audit_to_file` or by a logging handler with the formatter."""
    path = tmp_path / "audit.jsonl"
    if request.param == "sink":
        sink = audit_to_file(path)
        yield path
        sink.close()
        return
    logger = logging.getLogger(AUDIT_LOGGER)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(AuditJSONFormatter())
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield path
    logger.setLevel(level)
    logger.removeHandler(handler)
    handler.close()


@pytest.fixture
def keyfile(tmp_path: Path, partner) -> Path:
    path = tmp_path / "partner-enc.secret.jwks.json"
    path.write_text(json.dumps(partner.identities.to_jwks(include_private=True)))
    path.chmod(0o600)
    return path


def _traffic(partner, google, *, to: str) -> None:
    """Google seals to our key ``to``; we open it; we seal one reply."""
    ours = ge.KeySet(list(partner.public_enc), primary=to)
    env = ge.seal(PAYLOAD, recipients=ours, signer=google.signer, codec="jwe")
    ge.open(env, identities=partner.identities, senders=google.public_sig)
    ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")


def _in_days(n: int) -> str:
    return (_keys.utcnow() + timedelta(days=n)).date().isoformat()


def test_an_old_key_that_decrypted_nothing_is_named_idle(
    audit_log, keyfile, partner, google
) -> None:
    _traffic(partner, google, to="partner-enc-1")
    plain = run("keys", "check", "--at", _in_days(11), keyfile)
    r = run("keys", "check", "--at", _in_days(11), "--usage", audit_log, keyfile)
    assert r.code == plain.code and r.out.startswith(plain.out)
    usage = r.out[len(plain.out) :]
    assert "key use, from" in usage and "3 event(s)" in usage  # 1 open + 2 seals
    # --at is a midnight 11 days on: 10 whole days after the traffic, whatever the hour now.
    row = next(ln for ln in usage.splitlines() if ln.strip().startswith("partner-enc-1"))
    assert "(10d ago)" in row  # its last decrypt
    idle = [ln for ln in usage.splitlines() if "IDLE" in ln]
    assert len(idle) == 1 and "partner-enc-2" in idle[0] and "10 days" in idle[0]
    # The primary is never called idle, and a log shorter than --idle-days proves nothing.
    longer = run("keys", "check", "--at", _in_days(11), "--usage", audit_log,
                 "--idle-days", "30", keyfile)
    assert "IDLE" not in longer.out


def test_json_names_each_keys_last_use(audit_log, keyfile, partner, google) -> None:
    _traffic(partner, google, to="partner-enc-2")
    r = run("keys", "check", "--json", "--usage", audit_log, keyfile)
    doc = json.loads(r.out)
    plain = json.loads(run("keys", "check", "--json", keyfile).out)
    assert {k: v for k, v in doc.items() if k not in ("usage", "at")} == {
        k: v for k, v in plain.items() if k != "at"
    }
    usage = doc["usage"]
    assert usage["events"] == 3 and usage["idle"] == [] and usage["idle_days"] == 7
    assert usage["keys"]["partner-enc-2"]["decrypt"] is not None
    assert usage["keys"]["partner-enc-1"]["decrypt"] is None
    assert set(usage["keys"]) == {"partner-enc-1", "partner-enc-2"}


def test_an_empty_log_says_so_and_a_missing_one_is_one_line(tmp_path, keyfile) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r = run("keys", "check", "--usage", empty, keyfile)
    assert f"key use: no audit events in {empty}" in r.out and "IDLE" not in r.out
    missing = run("keys", "check", "--usage", tmp_path / "nope.jsonl", keyfile)
    assert missing.code == 1 and missing.err.count("\n") == 1 and "nope.jsonl" in missing.err
    bad = run("keys", "check", "--usage", empty, "--idle-days", "0", keyfile)
    assert bad.code == 2 and "idle-days" in bad.err and "Traceback" not in bad.err
