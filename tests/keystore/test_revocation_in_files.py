"""A revocation that arrives in a key file takes effect: the revoked key leaves the set, the
rest stays in service, the log says so, and the checks report it."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import time
from pathlib import Path

import keystore_fixtures as kf
import pytest
from conftest import have, require_peer
from pgp_fixtures import Gpg, Spec, build_key, pgp_party

import gpay_envelope as ge
from gpay_envelope.cli import main
from gpay_envelope.codecs.pgp import key_to_pgp, keys_from_pgp
from gpay_envelope.errors import KeyRevoked
from gpay_envelope.keystore import (
    KeySetWatcher,
    add_key,
    check_keyset,
    init_manifest,
    load_keyset,
    load_manifest,
    promote_key,
    read_key_file,
    remove_key,
    watched_keys,
)

PAYLOAD = b'{"requestHeader":{"requestId":"revoked"}}'
CREATED = int(time.time()) - 3600  # one creation time: the same fingerprint with or without


def _spec(slot: int, *, revoked: bool = False) -> Spec:
    return Spec(uid=f"R{slot} <r{slot}@example.com>", slot=slot, created=CREATED, revoked=revoked)


def _revocable(slot: int) -> tuple[ge.Key, bytes, bytes]:
    """A sender key (secret, to sign with), its public file, and the same file once its
    revocation signature arrived."""
    (key,) = keys_from_pgp(build_key(_spec(slot)))
    return (
        key,
        build_key(_spec(slot), secret=False),
        build_key(_spec(slot, revoked=True), secret=False),
    )


def _binary(key: ge.Key) -> bytes:
    """The binary public transferable key (binary keys concatenate into one key file)."""
    return key.material.export(include_private=False)  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def senders(tmp_path: Path) -> tuple[Path, ge.Key, ge.Key, Path]:
    """google.keyset.json: g1 (primary) and r7, both public; and r7's key file."""
    g1 = pgp_party().keys["g1"]
    r7, public, _ = _revocable(7)
    manifest = tmp_path / "google.keyset.json"
    init_manifest(manifest, kf.write(tmp_path / "g1.asc", key_to_pgp(g1), 0o644))
    r7_file = kf.write(tmp_path / "r7.asc", public, 0o644)
    add_key(manifest, r7_file)
    return manifest, g1, r7, r7_file


def _seal_by(signer: ge.Key) -> bytes:
    me = pgp_party().keys["p1"]
    return ge.seal(
        PAYLOAD,
        recipients=ge.KeySet([me.public()], primary=me.kid),
        signer=ge.KeySet([signer], primary=signer.kid),
        codec="pgp",
    )


def _opens(envelope: bytes, senders: ge.KeySet) -> bool:
    me = pgp_party().keys["p1"]
    try:
        ge.open(envelope, identities=ge.KeySet([me], primary=me.kid), senders=senders)
    except ge.InvalidSignature:
        return False
    return True


def test_the_watcher_stops_trusting_a_key_whose_revocation_arrived(
    senders: tuple[Path, ge.Key, ge.Key, Path], caplog: pytest.LogCaptureFixture
) -> None:
    manifest, g1, r7, r7_file = senders
    signed = _seal_by(r7)
    w = KeySetWatcher(manifest, poll_interval=0)
    assert w.current().kids == (g1.kid, r7.kid) and _opens(signed, w.current())
    caplog.set_level(logging.WARNING, logger="gpay_envelope.keystore")
    r7_file.write_bytes(_revocable(7)[2])
    w.check()
    assert r7.kid not in w.current(), "the revoked key is still trusted"
    assert w.current().kids == (g1.kid,) and w.current().primary.kid == g1.kid
    assert not _opens(signed, w.current())
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(r7.kid in r.getMessage() and "r7.asc" in r.getMessage() for r in loud), loud


def test_a_revoked_primary_leaves_and_the_next_enabled_key_stands_in(
    senders: tuple[Path, ge.Key, ge.Key, Path], caplog: pytest.LogCaptureFixture
) -> None:
    manifest, g1, r7, r7_file = senders
    doc = json.loads(manifest.read_text())
    doc["primary"] = r7.kid
    manifest.write_text(json.dumps(doc))
    w = KeySetWatcher(manifest, poll_interval=0)
    assert w.current().primary.kid == r7.kid
    caplog.set_level(logging.WARNING, logger="gpay_envelope.keystore")
    r7_file.write_bytes(_revocable(7)[2])
    assert w.check() is True
    assert w.current().kids == (g1.kid,) and w.current().primary.kid == g1.kid
    primary_lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("primary" in m and r7.kid in m and g1.kid in m for m in primary_lines)
    # A restart loads the same set as the reload did.
    assert load_manifest(manifest).kids == (g1.kid,)


def test_when_every_key_is_revoked_nothing_seals_or_verifies(tmp_path: Path) -> None:
    r7, public, revoked = _revocable(7)
    r7_file = kf.write(tmp_path / "r7.asc", public, 0o644)
    manifest = tmp_path / "google.keyset.json"
    init_manifest(manifest, r7_file)
    signed = _seal_by(r7)
    w = KeySetWatcher(manifest, poll_interval=0)
    ours = KeySetWatcher(
        kf.write(tmp_path / "p1.asc", key_to_pgp(pgp_party().keys["p1"], include_private=True)),
        poll_interval=0,
    )
    holder = watched_keys(identities=ours, senders=w)
    assert _opens(signed, w.current()) and _opens(signed, holder.get().senders)
    r7_file.write_bytes(revoked)
    w.check()
    for senders_now in (w.current(), holder.get().senders, holder.get().recipients):
        assert not _opens(signed, senders_now)
        with pytest.raises(ge.SealError):
            ge.seal(PAYLOAD, recipients=senders_now, signer=holder.get().signer, codec="pgp")
    findings = check_keyset(w.current(), revoked=w.revoked)
    assert [(f.level, f.kid) for f in findings] == [("error", r7.kid)]
    assert "nothing seals or verifies" in findings[0].message
    with pytest.raises(KeyRevoked, match="revoked"):
        load_manifest(manifest)  # a restart refuses to start with no usable key
    with pytest.raises(ge.KeySetError, match="revoked"):
        KeySetWatcher(manifest)


def test_loading_leaves_a_revoked_key_out(
    senders: tuple[Path, ge.Key, ge.Key, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manifest, g1, r7, r7_file = senders
    r7_file.write_bytes(_revocable(7)[2])
    caplog.set_level(logging.WARNING, logger="gpay_envelope.keystore")
    assert load_manifest(manifest).kids == (g1.kid,)
    assert load_keyset(manifest).kids == (g1.kid,)
    assert any(r7.kid in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    # A plain key file holding several keys: the revoked one leaves, the others load.
    both = kf.write(tmp_path / "google.asc", _binary(g1) + r7_file.read_bytes(), 0o644)
    assert load_keyset(both).kids == (g1.kid,)


def test_a_plain_key_file_watcher_drops_the_revoked_key(tmp_path: Path) -> None:
    g1 = pgp_party().keys["g1"]
    r7, public, revoked = _revocable(7)
    path = kf.write(tmp_path / "google.asc", public + _binary(g1), 0o644)
    signed = _seal_by(r7)
    w = KeySetWatcher(path, poll_interval=0)
    assert w.current().kids == (r7.kid, g1.kid) and _opens(signed, w.current())
    path.write_bytes(revoked + _binary(g1))
    assert w.check() is True
    assert w.current().kids == (g1.kid,) and not _opens(signed, w.current())


def test_a_revocation_arriving_with_a_broken_edit_still_takes_effect(
    senders: tuple[Path, ge.Key, ge.Key, Path],
) -> None:
    manifest, g1, _r7, r7_file = senders
    w = KeySetWatcher(manifest, poll_interval=0)
    doc = json.loads(manifest.read_text())
    doc["keys"].append({"file": "missing.asc"})
    manifest.write_text(json.dumps(doc))
    r7_file.write_bytes(_revocable(7)[2])
    w.check()
    assert w.last_error is not None and "missing.asc" in w.last_error
    assert w.current().kids == (g1.kid,)  # the old set, without the revoked key


def test_an_old_copy_does_not_bring_a_revoked_key_back(
    senders: tuple[Path, ge.Key, ge.Key, Path],
) -> None:
    manifest, g1, _r7, r7_file = senders
    w = KeySetWatcher(manifest, poll_interval=0)
    old = r7_file.read_bytes()
    r7_file.write_bytes(_revocable(7)[2])
    w.check()
    r7_file.write_bytes(old)  # a restored backup, say: OpenPGP revocations are final
    w.check(force=True)
    assert w.current().kids == (g1.kid,)


def test_the_checks_report_the_revoked_key(
    senders: tuple[Path, ge.Key, ge.Key, Path],
) -> None:
    manifest, _g1, r7, r7_file = senders
    w = KeySetWatcher(manifest, poll_interval=0)
    r7_file.write_bytes(_revocable(7)[2])
    w.check()
    assert [(r.kid, r.file) for r in w.revoked] == [(r7.kid, "r7.asc")]
    findings = check_keyset(w.current(), revoked=w.revoked)
    assert any(f.level == "error" and f.kid == r7.kid and "revoked" in f.message for f in findings)
    out = io.StringIO()
    assert main(["keys", "check", str(manifest)], out=out, err=out) == 1
    assert r7.kid in out.getvalue() and "revoked" in out.getvalue()


def test_read_key_file_refuses_a_revoked_key_with_a_typed_error(tmp_path: Path) -> None:
    r7, _, revoked = _revocable(7)
    path = kf.write(tmp_path / "r7.asc", revoked, 0o644)
    with pytest.raises(KeyRevoked, match="revoked") as info:
        read_key_file(path)
    assert info.value.kids == (r7.kid,)


def test_a_revoked_key_can_be_removed_and_a_revoked_primary_replaced(
    senders: tuple[Path, ge.Key, ge.Key, Path],
) -> None:
    manifest, g1, r7, r7_file = senders
    doc = json.loads(manifest.read_text())
    doc["primary"] = r7.kid
    manifest.write_text(json.dumps(doc))
    r7_file.write_bytes(_revocable(7)[2])
    with pytest.raises(ge.KeySetError, match="revoked"):
        promote_key(manifest, r7.kid)
    assert promote_key(manifest, g1.kid).primary.kid == g1.kid
    assert remove_key(manifest, r7.kid).kids == (g1.kid,)  # no --force needed: it is revoked
    assert [e["kid"] for e in json.loads(manifest.read_text())["keys"]] == [g1.kid]


@pytest.mark.interop
def test_a_revocation_made_by_gpg(tmp_path: Path) -> None:
    """The operator's way: gpg's revocation certificate imported, the key exported again."""
    require_peer(have("gpg"), "gpg")
    gpg = Gpg(tmp_path / "gnupg")
    try:
        fpr = gpg.gen("Google test <g@example.com>")
        path = kf.write(tmp_path / "google.asc", gpg.export(fpr), 0o644)
        w = KeySetWatcher(path, poll_interval=0)
        assert w.current().kids == (fpr,)
        certificate = (gpg.home / "openpgp-revocs.d" / f"{fpr}.rev").read_bytes()
        gpg.import_keys(certificate.replace(b":-----BEGIN", b"-----BEGIN"))
        path.write_bytes(gpg.export(fpr) + _binary(pgp_party().keys["g1"]))
        assert w.check() is True
        assert w.current().kids == (pgp_party().keys["g1"].kid,)
        assert [r.kid for r in w.revoked] == [fpr]
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", str(gpg.home), "--kill", "all"],
            capture_output=True,
            check=False,
        )


def test_a_protected_key_next_to_a_revoked_one_still_unlocks(tmp_path: Path) -> None:
    key, _ = kf.protected()
    secret = key.material.export(include_private=True)  # type: ignore[attr-defined]
    r7, _, revoked = _revocable(7)
    path = kf.write(tmp_path / "both.pgp", revoked + secret)
    loaded = load_keyset(path, passphrase=kf.PASSPHRASE)
    assert loaded.kids == (key.kid,) and loaded.primary.has_secret
    with pytest.raises(KeyRevoked) as info:
        read_key_file(path, passphrase=kf.PASSPHRASE)
    assert info.value.kids == (r7.kid,)
