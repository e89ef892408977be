"""`keys init`, `keys rotate` and `keys verify-rotation` from the shell."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import generated_keys, run

import gpay_envelope as ge
from gpay_envelope.keystore import load_manifest


@pytest.fixture(scope="session")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_keys(tmp_path_factory)


def test_rotation_from_the_shell(keydir: Path, tmp_path: Path) -> None:
    m = tmp_path / "partner.keyset.json"
    p1 = ge.KeySet.from_pgp((keydir / "p1.public.asc").read_bytes()).primary.kid
    p2 = ge.KeySet.from_pgp((keydir / "p2.public.asc").read_bytes()).primary.kid
    r = run("keys", "init", m, keydir / "p1.secret.asc", "--environment", "sandbox")
    assert r.code == 0 and f"primary {p1}" in r.out
    assert run("keys", "init", m, keydir / "p2.secret.asc").code == 1  # exists

    r = run("keys", "rotate", m, "add", keydir / "p2.secret.asc")
    assert r.code == 0 and f"verify-rotation {m} {p2}" in r.out
    listing = run("keys", "list", m).out.splitlines()
    assert listing[2].split()[1] == p1 and " primary " in listing[2]
    assert listing[3].split()[1] == p2 and " enabled " in listing[3]
    assert listing[3].split()[0].endswith("/p2.secret.asc")  # as the manifest names it
    r = run("keys", "verify-rotation", m, "--public", keydir / "p2.public.asc")
    assert r.code == 0, r.out
    assert f"Google -> you       ok      sealed to its public key, opened by {p2}" in r.out
    assert "you -> Google       ok" in r.out and "current primary     ok" in r.out
    assert f"rotate {m} promote {p2}" in r.out
    r = run("keys", "verify-rotation", m, p2, "--public", keydir / "g1.public.asc")
    assert r.code == 1 and "public key file     FAILED" in r.out and "NOT verified" in r.out

    assert run("keys", "rotate", m, "promote", p2[-16:]).code == 0  # a key id is enough
    assert load_manifest(m).primary.kid == p2
    r = run("keys", "rotate", m, "remove", p1)
    assert r.code == 1 and "disable it first" in r.err
    r = run("keys", "rotate", m, "disable", p2)
    assert r.code == 1 and "cannot disable the primary" in r.err
    assert run("keys", "rotate", m, "disable", p1).code == 0
    r = run("keys", "verify-rotation", m, p1)
    assert r.code == 1 and "status              FAILED  disabled: enable it first" in r.out
    assert run("keys", "rotate", m, "enable", p1).code == 0
    assert run("keys", "rotate", m, "disable", p1).code == 0
    r = run("keys", "rotate", m, "remove", p1)
    assert r.code == 0 and "p1.secret.asc is left in place" in r.out
    assert load_manifest(m).kids == (p2,)
    assert run("keys", "rotate", m, "promote", "NOPE1234").code == 1
    assert run("keys", "rotate", tmp_path / "missing.json", "promote", p2).code == 1


def test_verify_rotation_of_jwe_keys(keydir: Path, tmp_path: Path) -> None:
    m = tmp_path / "sig.keyset.json"
    assert run("keys", "init", m, keydir / "jp1-sig.secret.jwks.json").code == 0
    assert run("keys", "rotate", m, "add", keydir / "jg1-sig.secret.jwks.json").code == 0
    r = run("keys", "verify-rotation", m)
    assert r.code == 0, r.out
    assert "Google -> you       n/a" in r.out and "you -> Google       ok" in r.out
    assert "RS256" in r.out
