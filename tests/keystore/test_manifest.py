"""Keyset manifests: loading, passphrase references, atomic rotation edits, the JSON form."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import keystore_fixtures as kf
import pytest
from keystore_fixtures import write as _write

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import key_to_pgp
from gpay_envelope.keystore import (
    Manifest,
    PassphraseRef,
    add_key,
    init_manifest,
    load_keyset,
    load_manifest,
    promote_key,
    read_manifest,
    remove_key,
    resolve_kid,
    save_manifest,
    set_key_status,
)

NOW = datetime.now(timezone.utc)


@pytest.fixture
def pgp_pair() -> tuple[ge.Key, ge.Key]:
    return kf.pgp_pair()


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    return kf.key_folder(tmp_path)


@pytest.fixture
def protected() -> tuple[ge.Key, bytes]:
    return kf.protected()


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
