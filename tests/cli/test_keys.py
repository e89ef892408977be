"""`keys generate`, `keys list`, `keys show`, `keys check` (and `keys init` for a manifest)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cli_run import generated_keys, mode, run
from pgp_fixtures import YEAR, Spec, Sub, build_key

import gpay_envelope as ge


@pytest.fixture(scope="session")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_keys(tmp_path_factory)


# -- keys generate --------------------------------------------------------------------------
def test_generate_pgp_writes_safe_files(keydir: Path) -> None:
    secret, public = keydir / "p1.secret.asc", keydir / "p1.public.asc"
    assert mode(secret) == 0o600 and mode(public) == 0o644
    assert secret.read_bytes().startswith(b"-----BEGIN PGP PRIVATE KEY BLOCK-----")
    assert public.read_bytes().startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    (key,) = ge.KeySet.from_pgp(secret.read_bytes())
    assert key.has_secret and key.size == 2048
    (pub,) = ge.KeySet.from_pgp(public.read_bytes())
    assert pub.kid == key.kid and not pub.has_secret
    assert key.not_after is not None
    lifetime = key.not_after - datetime.now(timezone.utc)
    assert timedelta(days=364) < lifetime <= timedelta(days=365)


def test_generate_never_clobbers_without_force(keydir: Path, tmp_path: Path) -> None:
    before = (keydir / "p1.secret.asc").read_bytes()
    r = run(
        "keys", "generate", "--codec", "pgp", "--bits", "2048", "--out-dir", keydir,
        "--name", "p1", "--uid", "x <x@example.com>",
    )  # fmt: skip
    assert r.code == 1 and "refusing to overwrite" in r.err
    assert (keydir / "p1.secret.asc").read_bytes() == before
    args = ["keys", "generate", "--codec", "jwe", "--bits", "2048", "--use", "enc"]
    assert run(*args, "--out-dir", tmp_path, "--name", "x").code == 0
    first = (tmp_path / "x-enc.secret.jwks.json").read_bytes()
    assert run(*args, "--out-dir", tmp_path, "--name", "x").code == 1
    assert run(*args, "--out-dir", tmp_path, "--name", "x", "--force").code == 0
    assert (tmp_path / "x-enc.secret.jwks.json").read_bytes() != first
    assert mode(tmp_path / "x-enc.secret.jwks.json") == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "x-enc.secret.jwks.json",
        "x.public.jwks.json",
    ]


def test_generate_jwe_enc_and_sig(keydir: Path) -> None:
    enc = json.loads((keydir / "jp1-enc.secret.jwks.json").read_text())["keys"]
    sig = json.loads((keydir / "jp1-sig.secret.jwks.json").read_text())["keys"]
    public = json.loads((keydir / "jp1.public.jwks.json").read_text())["keys"]
    assert [k["kid"] for k in enc + sig] == ["jp1-enc", "jp1-sig"]
    assert [k["use"] for k in enc + sig] == ["enc", "sig"]
    assert "d" in enc[0] and "d" in sig[0]
    assert [k["kid"] for k in public] == ["jp1-enc", "jp1-sig"]
    assert not any("d" in k or "p" in k for k in public)
    assert 364 * 86400 <= public[0]["exp"] - public[0]["nbf"] <= 365 * 86400
    assert mode(keydir / "jp1-enc.secret.jwks.json") == 0o600


def test_generate_legacy_jwe_key_and_protected_pgp_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = run(
        "keys", "generate", "--codec", "jwe", "--bits", "2048", "--use", "enc", "--legacy",
        "--kid", "legacy-1", "--out-dir", tmp_path, "--name", "l",
    )  # fmt: skip
    assert r.code == 0
    (jwk,) = json.loads((tmp_path / "legacy-1.secret.jwks.json").read_text())["keys"]
    assert jwk["alg"] == "RSA1_5"
    monkeypatch.setenv("GPAY_PW", "correct horse")
    r = run(
        "keys", "generate", "--codec", "pgp", "--bits", "2048", "--out-dir", tmp_path,
        "--name", "prot", "--uid", "p <p@example.com>", "--passphrase-env", "GPAY_PW",
    )  # fmt: skip
    assert r.code == 0 and "passphrase-protected" in r.out
    secret = tmp_path / "prot.secret.asc"
    r = run("keys", "list", secret)
    assert r.code == 1 and "passphrase-protected" in r.out
    assert "correct horse" not in r.out + r.err
    assert run("keys", "list", secret, "--passphrase-env", "GPAY_PW").code == 0
    monkeypatch.setenv("GPAY_PW", "wrong")
    r = run("keys", "check", secret, "--passphrase-env", "GPAY_PW")
    assert r.code == 1 and "wrong passphrase" in r.out


# -- keys list / show / check ---------------------------------------------------------------
def test_list_and_show(keydir: Path) -> None:
    r = run("keys", "list", keydir / "p1.secret.asc", keydir / "jp1.public.jwks.json")
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0].split() == [
        "file", "kid", "codec", "key", "use", "status", "half", "created", "expires",
    ]  # fmt: skip
    assert "RSA-2048  CS/E  enabled  secret" in lines[2]
    assert "jp1-enc" in lines[3] and "enc " in lines[3] and "public" in lines[3]
    assert "jp1-sig" in lines[4] and "sig " in lines[4]
    doc = json.loads(run("keys", "list", "--json", keydir / "p1.public.asc").out)
    (key,) = doc[0]["keys"]
    assert key["usages"] == ["certify", "sign", "encrypt"] and key["secret"] is False
    assert [p["usages"] for p in key["parts"]] == [["certify", "sign"], ["encrypt"]]
    r = run("keys", "show", keydir / "p1.public.asc", keydir / "jg1-enc.secret.jwks.json")
    assert r.code == 0
    assert "user id:        p1 <p1@example.com>" in r.out
    assert "subkey  " in r.out and "encrypt" in r.out
    assert "JWK thumbprint:" in r.out
    assert "PRIVATE" not in r.out and '"d"' not in r.out


def test_check_passes_fresh_keys_and_fails_them_later(keydir: Path) -> None:
    files = [keydir / "p1.secret.asc", keydir / "jp1.public.jwks.json"]
    r = run("keys", "check", *files)
    assert r.code == 0, r.out
    assert "check passed: 0 error(s), 0 warning(s)" in r.out
    soon = (datetime.now(timezone.utc) + timedelta(days=350)).date().isoformat()
    r = run("keys", "check", *files, "--at", soon)
    assert r.code == 1 and "check FAILED" in r.out
    assert "expires in 14 days" in r.out or "expires in 15 days" in r.out
    assert run("keys", "check", *files, "--at", soon, "--warn-days", "7").code == 0
    later = (datetime.now(timezone.utc) + timedelta(days=400)).date().isoformat()
    r = run("keys", "check", keydir / "p1.secret.asc", "--at", later, "--json")
    doc = json.loads(r.out)
    assert r.code == 1 and doc["ok"] is False and doc["errors"] >= 1
    assert any("expired" in f["message"] for f in doc["files"][0]["findings"])


def _armored(spec: Spec, *, secret: bool) -> bytes:
    (key,) = ge.KeySet.from_pgp(build_key(spec, secret=secret))
    from gpay_envelope.codecs.pgp import key_to_pgp

    return key_to_pgp(key, include_private=secret)


def test_check_flags_google_rule_violations(tmp_path: Path) -> None:
    never = Spec(expires_after=None, subkeys=(Sub(expires_after=None),))
    cases = {
        "never.secret.asc": (_armored(never, secret=True), 1, "never expires"),
        "never.public.asc": (_armored(never, secret=False), 0, "WARNING"),
        "long.secret.asc": (
            _armored(Spec(expires_after=3 * YEAR, subkeys=(Sub(expires_after=None),)), secret=True),
            1,
            "Google's maximum is two years",
        ),
        "nosub.secret.asc": (_armored(Spec(subkeys=()), secret=True), 1, "no encryption subkey"),
    }
    for name, (data, code, text) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        path.chmod(0o600)
        r = run("keys", "check", path)
        assert r.code == code and text in r.out, (name, r.out)
    r = run("keys", "check", "--strict", tmp_path / "never.public.asc")
    assert r.code == 1 and "strict" in r.out


def test_check_reports_weak_and_unloadable_keys(tmp_path: Path) -> None:
    (tmp_path / "weak.pgp").write_bytes(build_key(Spec(size=1024, subkeys=()), secret=False))
    (tmp_path / "junk.asc").write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n")
    r = run("keys", "check", tmp_path / "weak.pgp", tmp_path / "junk.asc", tmp_path / "nope")
    assert r.code == 1
    assert "cannot load" in r.out and "RSA-1024; at least RSA-2048 is required" in r.out
    assert r.out.count("ERROR") == 3


def test_check_a_manifest_and_its_file_modes(keydir: Path, tmp_path: Path) -> None:
    m = tmp_path / "partner.keyset.json"
    secret = tmp_path / "p1.secret.asc"
    secret.write_bytes((keydir / "p1.secret.asc").read_bytes())
    secret.chmod(0o640)
    assert run("keys", "init", m, secret, "--environment", "production").code == 0
    r = run("keys", "check", m)
    assert r.code == 0 and "(manifest, pgp, production, 1 key(s))" in r.out
    assert "readable by others (mode 0640); chmod 600 it" in r.out
    assert run("keys", "check", "--strict", m).code == 1
    doc = json.loads(m.read_text())
    doc["keys"][0]["status"] = "disabled"  # the primary may not be disabled
    m.write_text(json.dumps(doc))
    r = run("keys", "check", m)
    assert r.code == 1 and "must be ENABLED" in r.out
