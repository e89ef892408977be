"""Keyset manifests: loading, atomic rotation edits, the key-rule checks, and KeySetWatcher."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pgp_fixtures import DAY, YEAR, Spec, Sub, build_key

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import generate_pgp_key, key_to_pgp, keys_from_pgp
from gpay_envelope.codecs.pgp import wire as op
from gpay_envelope.manifest import (
    Finding,
    KeySetWatcher,
    Manifest,
    PassphraseRef,
    add_key,
    check_key,
    check_keyset,
    describe_key,
    init_manifest,
    load_keyset,
    load_manifest,
    promote_key,
    read_key_file,
    read_manifest,
    remove_key,
    resolve_kid,
    save_manifest,
    set_key_status,
)

NOW = datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def pgp_pair() -> tuple[ge.Key, ge.Key]:
    """Two fresh RSA-2048 OpenPGP keys (secret halves included)."""
    return (
        generate_pgp_key(uid="A <a@example.com>", size=2048),
        generate_pgp_key(uid="B <b@example.com>", size=2048),
    )


@pytest.fixture(scope="module")
def protected() -> tuple[ge.Key, bytes]:
    """A passphrase-protected key ('s3cret') and its armored secret export."""
    key = generate_pgp_key(uid="P <p@example.com>", size=2048, passphrase="s3cret")
    return key, key_to_pgp(key, include_private=True)


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.fixture
def two_files(tmp_path: Path, pgp_pair: tuple[ge.Key, ge.Key]) -> tuple[Path, Path, Path]:
    """keys/a.asc, keys/b.asc (secret) and the manifest path keys/partner.keyset.json."""
    folder = tmp_path / "keys"
    folder.mkdir()
    a, b = pgp_pair
    fa = _write(folder / "a.asc", key_to_pgp(a, include_private=True))
    fb = _write(folder / "b.asc", key_to_pgp(b, include_private=True))
    return fa, fb, folder / "partner.keyset.json"


# -- loading and editing --------------------------------------------------------------------
def test_full_rotation_through_the_manifest(
    two_files: tuple[Path, Path, Path], pgp_pair: tuple[ge.Key, ge.Key]
) -> None:
    fa, fb, m = two_files
    a, b = pgp_pair
    ks = init_manifest(m, fa, environment="sandbox")
    assert ks.primary.kid == a.kid and ks.primary.has_secret
    doc = json.loads(m.read_text())
    assert doc == {
        "version": 1,
        "codec": "pgp",
        "environment": "sandbox",
        "primary": a.kid,
        "keys": [{"file": "a.asc", "kid": a.kid, "status": "enabled"}],
    }
    ks = add_key(m, fb)
    assert ks.kids == (a.kid, b.kid) and ks.primary.kid == a.kid
    assert load_manifest(m).kids == ks.kids
    ks = promote_key(m, b.kid)
    assert load_manifest(m).primary.kid == b.kid
    ks = set_key_status(m, a.kid, ge.KeyStatus.DISABLED)
    loaded = load_manifest(m)
    assert loaded.get(a.kid).status is ge.KeyStatus.DISABLED
    assert [k.kid for k in loaded.enabled()] == [b.kid]
    ks = remove_key(m, a.kid)
    assert load_manifest(m).kids == (b.kid,)
    assert sorted(p.name for p in m.parent.iterdir()) == ["a.asc", "b.asc", "partner.keyset.json"]
    assert stat.S_IMODE(m.stat().st_mode) == 0o644


def test_paths_are_relative_to_the_manifest(
    two_files: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fa, _, m = two_files
    init_manifest(m, fa)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert len(load_manifest(m)) == 1
    assert len(load_keyset(m)) == 1


def test_passphrase_by_env_or_file_never_inline(
    tmp_path: Path, protected: tuple[ge.Key, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, armored = protected
    _write(tmp_path / "p.asc", armored)
    base = {"codec": "pgp", "primary": key.kid, "keys": [{"file": "p.asc"}]}
    m = tmp_path / "m.json"

    m.write_text(json.dumps({**base, "passphrase": {"env": "GPAY_TEST_PW"}}))
    monkeypatch.delenv("GPAY_TEST_PW", raising=False)
    with pytest.raises(ge.KeySetError, match=r"GPAY_TEST_PW.*not set"):
        load_manifest(m)
    monkeypatch.setenv("GPAY_TEST_PW", "wrong")
    with pytest.raises(ge.KeySetError, match="wrong passphrase") as info:
        load_manifest(m)
    assert "wrong" not in str(info.value).replace("wrong passphrase", "")
    monkeypatch.setenv("GPAY_TEST_PW", "s3cret")
    assert load_manifest(m).primary.has_secret

    _write(tmp_path / "pw.txt", b"s3cret\n")
    entry = {"file": "p.asc", "passphrase": {"file": "pw.txt"}}
    m.write_text(json.dumps({**base, "keys": [entry]}))
    assert load_manifest(m).primary.has_secret

    m2 = tmp_path / "m2.json"
    init_manifest(m2, tmp_path / "p.asc", passphrase=PassphraseRef(file="pw.txt"))
    assert json.loads(m2.read_text())["passphrase"] == {"file": "pw.txt"}  # for later keys too
    assert "passphrase" not in json.loads(m2.read_text())["keys"][0]

    m.write_text(json.dumps({**base, "passphrase": "s3cret"}))
    with pytest.raises(ge.KeySetError, match="never stored in a manifest") as info:
        load_manifest(m)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(extra=1), "unknown member"),
        (lambda d: d.update(version=2), "version 2"),
        (lambda d: d.update(codec="xml"), "codec must be"),
        (lambda d: d.update(keys=[]), "non-empty list"),
        (lambda d: d["keys"][0].update(status="on"), "status must be"),
        (lambda d: d["keys"][0].update(primay=True), "unknown member"),
        (lambda d: d["keys"][0].update(file="missing.asc"), "cannot read key file missing.asc"),
        (lambda d: d["keys"][0].update(kid="0" * 40), "holds no key"),
        (lambda d: d.update(primary="NOPE"), "primary 'NOPE' is not in the set"),
        (lambda d: d["keys"].append(dict(d["keys"][0])), "duplicate key id"),
        (lambda d: d["keys"][0].update(status="disabled"), "must be ENABLED"),
        (lambda d: d.update(codec="jwe"), "holds 'pgp' keys, not 'jwe'"),
    ],
)
def test_invalid_manifests_are_refused(
    two_files: tuple[Path, Path, Path], change: object, message: str
) -> None:
    fa, _, m = two_files
    init_manifest(m, fa)
    doc = json.loads(m.read_text())
    change(doc)  # type: ignore[operator]
    m.write_text(json.dumps(doc))
    with pytest.raises(ge.KeySetError, match=message):
        load_manifest(m)


def test_a_file_of_several_keys_needs_a_kid(
    tmp_path: Path, pgp_pair: tuple[ge.Key, ge.Key]
) -> None:
    a, b = pgp_pair
    both = key_to_pgp(a) + key_to_pgp(b)
    _write(tmp_path / "both.asc", both, 0o644)
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"codec": "pgp", "primary": b.kid, "keys": [{"file": "both.asc"}]}))
    with pytest.raises(ge.KeySetError, match="holds 2 keys; name one with 'kid'"):
        load_manifest(m)
    m.write_text(
        json.dumps({"codec": "pgp", "primary": b.kid, "keys": [{"file": "both.asc", "kid": b.kid}]})
    )
    assert load_manifest(m).kids == (b.kid,)


def test_refused_steps_leave_the_manifest_untouched(
    two_files: tuple[Path, Path, Path], pgp_pair: tuple[ge.Key, ge.Key]
) -> None:
    fa, fb, m = two_files
    a, b = pgp_pair
    init_manifest(m, fa)
    add_key(m, fb)
    before = m.read_bytes()
    with pytest.raises(ge.KeySetError, match="cannot disable the primary"):
        set_key_status(m, a.kid, ge.KeyStatus.DISABLED)
    with pytest.raises(ge.KeySetError, match="cannot remove the primary"):
        remove_key(m, a.kid)
    with pytest.raises(ge.KeySetError, match="still ENABLED; disable it first"):
        remove_key(m, b.kid)
    with pytest.raises(ge.KeySetError, match="duplicate key id"):
        add_key(m, fb)
    with pytest.raises(ge.KeyNotFound):
        promote_key(m, "0123456789")
    with pytest.raises(ge.KeySetError, match="expired or not yet valid"):
        promote_key(m, b.kid, now=NOW + timedelta(days=400))
    with pytest.raises(ge.KeySetError, match="exists; refusing to overwrite"):
        init_manifest(m, fb)
    assert m.read_bytes() == before
    assert remove_key(m, b.kid, force=True).kids == (a.kid,)


def test_save_refuses_a_concurrent_change_and_cleans_up(
    two_files: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fa, _, m = two_files
    init_manifest(m, fa)
    m.chmod(0o640)
    original = m.read_bytes()
    manifest = read_manifest(m)
    with pytest.raises(ge.KeySetError, match="changed while it was being edited"):
        save_manifest(manifest, m, expect=original + b" ")
    assert m.read_bytes() == original

    def boom(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space"):
        save_manifest(manifest, m, expect=original)
    monkeypatch.undo()
    assert m.read_bytes() == original
    assert [p.name for p in m.parent.iterdir() if p.name.endswith(".tmp")] == []
    save_manifest(manifest, m, expect=original)
    assert stat.S_IMODE(m.stat().st_mode) == 0o640  # the mode is kept


def test_resolve_kid_accepts_a_unique_fingerprint_suffix(pgp_pair: tuple[ge.Key, ge.Key]) -> None:
    a, b = pgp_pair
    ks = ge.KeySet([a, b], primary=a.kid)
    assert resolve_kid(ks, a.kid[-16:].lower()) == a.kid
    assert resolve_kid(ks, " ".join([a.kid[-16:-8], a.kid[-8:]])) == a.kid
    with pytest.raises(ge.KeyNotFound):
        resolve_kid(ks, a.kid[-7:])  # too short to be a key id


def test_key_files_of_every_format(tmp_path: Path, pgp_pair: tuple[ge.Key, ge.Key]) -> None:
    a, _ = pgp_pair
    enc = ge.generate_key(kid="e1", use="enc", size=2048)
    _write(tmp_path / "a.pgp", a.material.export(include_private=False))  # type: ignore[attr-defined]
    _write(tmp_path / "e.jwks.json", json.dumps(ge.KeySet([enc], primary="e1").to_jwks()).encode())
    _write(tmp_path / "e.jwk.json", json.dumps(enc.to_jwk()).encode())
    from cryptography.hazmat.primitives import serialization

    native = enc.material.native.public_key()  # type: ignore[attr-defined]
    pem = native.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write(tmp_path / "google-enc.pub.pem", pem)
    assert read_key_file(tmp_path / "a.pgp")[0].kid == a.kid
    assert read_key_file(tmp_path / "e.jwks.json")[0].kid == "e1"
    assert read_key_file(tmp_path / "e.jwk.json")[0].use == "enc"
    pem_key = read_key_file(tmp_path / "google-enc.pub.pem", use="enc")[0]
    assert (pem_key.kid, pem_key.use) == ("google-enc", "enc")
    with pytest.raises(ge.KeySetError, match="holds 'jwe' keys, not 'pgp'"):
        read_key_file(tmp_path / "e.jwk.json", codec="pgp")
    _write(tmp_path / "junk.txt", b"hello")
    with pytest.raises(ge.KeySetError, match="not a key file"):
        read_key_file(tmp_path / "junk.txt")
    m = tmp_path / "m.json"
    init_manifest(m, tmp_path / "e.jwks.json")
    with pytest.raises(ge.KeySetError, match="is a keyset manifest"):
        read_key_file(m)


# -- checks ---------------------------------------------------------------------------------
def _levels(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.level, f.message) for f in findings]


def _pgp(spec: Spec, *, secret: bool = True) -> ge.Key:
    (key,) = keys_from_pgp(build_key(spec, secret=secret))
    return key


def test_a_fresh_generated_key_meets_the_rules(pgp_pair: tuple[ge.Key, ge.Key]) -> None:
    a, _ = pgp_pair
    assert check_key(a, primary=True) == []
    info = describe_key(a, primary=True)
    assert info.usages == ("certify", "sign", "encrypt")
    assert [p.usages for p in info.parts] == [("certify", "sign"), ("encrypt",)]
    assert info.expires is not None and info.created is not None
    assert timedelta(days=364) < info.expires - info.created <= timedelta(days=366)


@pytest.mark.parametrize(
    ("spec", "secret", "level", "message"),
    [
        (Spec(expires_after=None, subkeys=(Sub(expires_after=None),)), True, "error", "never"),
        (Spec(expires_after=None, subkeys=(Sub(expires_after=None),)), False, "warning", "never"),
        (Spec(expires_after=3 * YEAR, subkeys=(Sub(expires_after=None),)), True, "error", "two"),
        (Spec(expires_after=3 * YEAR, subkeys=(Sub(expires_after=None),)), False, "warning", "two"),
        (Spec(expires_after=500 * DAY), True, "warning", "expire in one year"),
        (Spec(subkeys=()), True, "error", "no encryption subkey"),
        (
            Spec(flags=op.FLAG_CERTIFY | op.FLAG_SIGN | op.FLAG_ENCRYPT, subkeys=()),
            True,
            "error",
            "encrypts with its primary key",
        ),
        (Spec(subkeys=(Sub(revoked=True),)), True, "error", "every encryption subkey"),
        (Spec(subkeys=(Sub(expires_after=10 * DAY),)), True, "error", "subkey expires in"),
        (Spec(expires_after=10 * DAY), True, "error", "expires in 8 days"),
        (Spec(created=int(time.time()) - 2 * YEAR), True, "error", "expired"),
        (
            Spec(flags=op.FLAG_CERTIFY, subkeys=(Sub(),)),
            True,
            "error",
            "no usable signing key",
        ),
    ],
)
def test_pgp_key_rules(spec: Spec, secret: bool, level: str, message: str) -> None:
    key = _pgp(spec, secret=secret)
    found = _levels(check_key(key, primary=True))
    assert any(lv == level and message in msg for lv, msg in found), found


def test_the_warning_window_and_the_as_of_date(pgp_pair: tuple[ge.Key, ge.Key]) -> None:
    a, _ = pgp_pair
    later = NOW + timedelta(days=350)
    assert [f.level for f in check_key(a, primary=True, now=later)] == ["error"]
    assert check_key(a, primary=True, now=later, warn_days=10) == []
    old = check_key(a, primary=False, now=later)[0].message
    assert "finish the rotation" in old
    disabled = a.with_status(ge.KeyStatus.DISABLED)
    assert [f.level for f in check_key(disabled, now=NOW + timedelta(days=400))] == ["warning"]
    assert [f.level for f in check_key(disabled)] == ["note"]


def test_jwe_key_rules() -> None:
    k = ge.generate_key(kid="k", use="enc", size=2048)
    assert "never expires" in check_key(k)[0].message
    assert check_key(k.public())[0].level == "warning"
    made = NOW.replace(microsecond=0)
    good = k.with_validity(not_before=made, not_after=made + timedelta(days=365))
    assert check_key(good) == []
    long = k.with_validity(not_before=made, not_after=made + timedelta(days=800))
    assert [f.level for f in check_key(long)] == ["error"]
    unknown_start = k.with_validity(not_after=made + timedelta(days=800))
    assert "more than two years from now" in check_key(unknown_start)[0].message
    both = ge.generate_key(kid="b", use=None, size=2048, legacy=True).with_validity(
        not_before=made, not_after=made + timedelta(days=300)
    )
    assert _levels(check_key(both)) == [
        (
            "warning",
            "bound to both encryption and signatures: Google's JWE exchange uses one key per use",
        ),
        ("note", "legacy: bound to RSA1_5 (Google's older JWE text)"),
    ]
    mixed = ge.KeySet([good, both.public()], primary="k")
    messages = [f.message for f in check_keyset(mixed) if f.kid is None]
    assert any("mixes your own keys" in m for m in messages)


# -- the watcher ----------------------------------------------------------------------------
@pytest.fixture
def watched(
    two_files: tuple[Path, Path, Path],
) -> tuple[Path, Path, Path]:
    fa, fb, m = two_files
    init_manifest(m, fa)
    return fa, fb, m


def test_watcher_swaps_in_a_changed_manifest(
    watched: tuple[Path, Path, Path], pgp_pair: tuple[ge.Key, ge.Key]
) -> None:
    _, fb, m = watched
    a, b = pgp_pair
    w = KeySetWatcher(m, poll_interval=0)
    first = w.current()
    assert first.primary.kid == a.kid and w.check() is False
    add_key(m, fb)
    promote_key(m, b.kid)
    assert w.check() is True
    assert w.current().primary.kid == b.kid and w.reloads == 1
    assert w.check() is False and w.reloads == 1
    assert "reloads=1" in repr(w)


def test_watcher_ignores_a_rewrite_with_the_same_content(watched: tuple[Path, Path, Path]) -> None:
    _, _, m = watched
    w = KeySetWatcher(m, poll_interval=0)
    first = w.current()
    data = m.read_bytes()
    m.unlink()
    m.write_bytes(data)  # new inode, new mtime, same bytes
    assert w.check() is False
    assert w.current() is first and w.reloads == 0
    assert w.check(force=True) is False and w.current() is first


def test_watcher_keeps_the_old_set_on_a_bad_file_and_logs_once(
    watched: tuple[Path, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    _, _, m = watched
    w = KeySetWatcher(m, poll_interval=0)
    first = w.current()
    good = m.read_bytes()
    caplog.set_level(logging.WARNING, logger="gpay_envelope.manifest")
    m.write_bytes(good[:-30])
    assert w.check() is False and w.current() is first
    assert w.last_error is not None and "not valid JSON" in w.last_error
    assert w.check() is False and w.check(force=True) is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "keeping the previous set" in warnings[0].getMessage()
    m.write_bytes(good)
    assert [w.check(), w.last_error] == [False, None] and w.current() is first


def test_watcher_follows_the_key_files_too(
    watched: tuple[Path, Path, Path], pgp_pair: tuple[ge.Key, ge.Key]
) -> None:
    fa, fb, m = watched
    a, b = pgp_pair
    w = KeySetWatcher(m, poll_interval=0)
    first = w.current()
    saved = fa.read_bytes()
    fa.unlink()
    assert w.check() is False and w.current() is first
    assert w.last_error is not None and "a.asc" in w.last_error
    _write(fa, saved)
    assert [w.check(), w.last_error] == [False, None]
    # A manifest that names a key file which is not there yet: refused until the file comes.
    doc = json.loads(m.read_text())
    doc["keys"].append({"file": "later.asc", "kid": b.kid})
    m.write_text(json.dumps(doc))
    assert w.check() is False and "later.asc" in (w.last_error or "")
    _write(m.parent / "later.asc", fb.read_bytes())
    assert w.check() is True and w.current().kids == (a.kid, b.kid)


def test_watcher_polls_at_most_every_interval(watched: tuple[Path, Path, Path]) -> None:
    _, fb, m = watched
    ticks = [0.0]
    w = KeySetWatcher(m, poll_interval=5, clock=lambda: ticks[0])
    add_key(m, fb)
    ticks[0] = 4.9
    assert len(w.current()) == 1  # not checked yet
    ticks[0] = 5.0
    assert len(w.current()) == 2


def test_watcher_follows_a_plain_key_file(tmp_path: Path) -> None:
    g1 = ge.generate_key(kid="google-sig-1", use="sig", size=2048)
    g2 = ge.generate_key(kid="google-sig-2", use="sig", size=2048)
    path = tmp_path / "google.jwks.json"
    path.write_text(json.dumps(ge.KeySet([g1], primary=g1.kid).to_jwks()))
    w = KeySetWatcher(path, poll_interval=0)
    assert w.current().kids == ("google-sig-1",) and not w.current().has_secret
    new = tmp_path / "new.json"
    new.write_text(json.dumps(ge.KeySet([g2, g1], primary=g2.kid).to_jwks()))
    os.replace(new, path)  # how Google's new key set is dropped in
    assert w.check() is True
    assert w.current().kids == ("google-sig-2", "google-sig-1")
    path.write_text("{}")
    assert w.check() is False and "neither a JWK nor a JWK Set" in (w.last_error or "")


def test_watcher_first_load_must_succeed(tmp_path: Path) -> None:
    with pytest.raises(ge.KeySetError, match=r"cannot read .*none\.json"):
        KeySetWatcher(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ge.KeySetError, match="not valid JSON"):
        KeySetWatcher(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="poll_interval"):
        KeySetWatcher(tmp_path / "bad.json", poll_interval=-1)


def test_watcher_background_thread(
    watched: tuple[Path, Path, Path], pgp_pair: tuple[ge.Key, ge.Key]
) -> None:
    _, fb, m = watched
    with KeySetWatcher(m, poll_interval=0.01) as w:
        add_key(m, fb)
        for _ in range(500):  # bounded: at most ~5 s
            if w.reloads:
                break
            time.sleep(0.01)
        assert w.reloads == 1 and len(w.current()) == 2
    assert not any(t.name.startswith("KeySetWatcher") for t in threading.enumerate())
    with pytest.raises(ValueError, match="poll_interval > 0"):
        KeySetWatcher(m, poll_interval=0).start()


def test_readers_only_ever_see_complete_sets(
    tmp_path: Path, pgp_pair: tuple[ge.Key, ge.Key]
) -> None:
    a, b = pgp_pair
    fa = _write(tmp_path / "a.pub.asc", key_to_pgp(a), 0o644)  # public keys: quick to load
    fb = _write(tmp_path / "b.pub.asc", key_to_pgp(b), 0o644)
    m = tmp_path / "google.keyset.json"
    init_manifest(m, fa)
    add_key(m, fb)
    w = KeySetWatcher(m, poll_interval=0)
    seen: set[tuple[str, tuple[str, ...]]] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            ks = w.current()
            seen.add((ks.primary.kid, ks.kids))
            time.sleep(0.0005)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            promote_key(m, (b if i % 2 == 0 else a).kid)
            w.check()
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert seen <= {(a.kid, (a.kid, b.kid)), (b.kid, (a.kid, b.kid))}
    assert len(seen) == 2 and w.reloads == 6


def test_manifest_round_trips_through_json() -> None:
    doc = {
        "version": 1,
        "codec": "jwe",
        "environment": "production",
        "note": "decryption keys",
        "primary": "k2",
        "passphrase": {"file": "pw"},
        "keys": [
            {"file": "k1.pem", "kid": "k1", "status": "disabled", "use": "enc"},
            {"file": "k2.json", "kid": "k2", "status": "enabled", "passphrase": {"env": "X"}},
        ],
    }
    assert Manifest.from_json(json.dumps(doc)).to_json() == doc
