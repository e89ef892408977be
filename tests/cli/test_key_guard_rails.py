"""Guard rails on keys through the command line: expired keys refused unless --force, the
thumbprint warning for a JWK without a kid, key-load errors that name the file and the
passphrase source (never the passphrase), manifest JSON errors with line and column, -o
errors naming the file asked for, and hints that print the real kids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import generated_keys, run


@pytest.fixture(scope="session")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_keys(tmp_path_factory)


def _rewrite_jwks(src: Path, dest: Path, **member: object) -> Path:
    doc = json.loads(src.read_text())
    for k in doc["keys"]:
        k.update(member)
        k.pop("kid") if member.get("kid", "") is None else None
        if k.get("kid", "") is None:
            del k["kid"]
    dest.write_text(json.dumps(doc))
    dest.chmod(0o600)
    return dest


def _expired(keydir: Path, tmp_path: Path) -> Path:
    return _rewrite_jwks(keydir / "jg1-enc.secret.jwks.json", tmp_path / "old.secret.jwks.json",
                         nbf=1_500_000_000, exp=1_600_000_000)  # fmt: skip


def test_keys_init_refuses_an_expired_key_unless_force(keydir: Path, tmp_path: Path) -> None:
    old, manifest = _expired(keydir, tmp_path), tmp_path / "enc.keyset.json"
    r = run("keys", "init", manifest, old)
    assert r.code == 1 and r.err.count("\n") == 1
    assert f"{old}: key jg1-enc expired on 2020-09-13" in r.err and "--force" in r.err
    assert not manifest.exists()
    r = run("keys", "init", manifest, old, "--force")
    assert r.code == 0, r.err
    assert json.loads(manifest.read_text())["primary"] == "jg1-enc"


def test_rotate_add_refuses_an_expired_key_unless_force(keydir: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "enc.keyset.json"
    assert run("keys", "init", manifest, keydir / "jp1-enc.secret.jwks.json").code == 0
    before = manifest.read_bytes()
    old = _expired(keydir, tmp_path)
    r = run("keys", "rotate", manifest, "add", old)
    assert r.code == 1 and "expired on 2020-09-13" in r.err and "--force" in r.err
    assert manifest.read_bytes() == before
    r = run("keys", "rotate", manifest, "add", old, "--force", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert {k["kid"]: k["expired"] for k in doc["keys"]} == {"jp1-enc": False, "jg1-enc": True}


def test_rotation_json_and_hints_name_the_real_kids(keydir: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "enc.keyset.json"
    assert run("keys", "init", manifest, keydir / "jp1-enc.secret.jwks.json").code == 0
    r = run("keys", "rotate", manifest, "add", keydir / "jg1-enc.secret.jwks.json", "--json")
    doc = json.loads(r.out)
    assert r.code == 0 and doc["step"] == "add" and doc["primary"] == "jp1-enc"
    assert [k["status"] for k in doc["keys"]] == ["primary", "enabled"]
    assert f"next: gpay-envelope keys verify-rotation {manifest} jg1-enc" in doc["hint"]
    r = run("keys", "verify-rotation", manifest, "--json")
    v = json.loads(r.out)
    assert r.code == 0 and v["ok"] is True and v["kid"] == "jg1-enc" and v["codec"] == "jwe"
    assert {s["step"] for s in v["steps"]} >= {"private half", "status", "current primary"}
    assert all(set(s) == {"step", "result", "detail"} for s in v["steps"])
    r = run("keys", "rotate", manifest, "promote", "jg1-enc")
    assert r.code == 0 and f"keys rotate {manifest} disable jp1-enc" in r.out
    assert "OLD_KID" not in r.out
    r = run("keys", "rotate", manifest, "remove", "jp1-enc")
    assert r.code == 1 and "remove it with force (--force)" in r.err


def test_a_signing_key_added_does_not_claim_to_open(keydir: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "sig.keyset.json"
    assert run("keys", "init", manifest, keydir / "jp1-sig.secret.jwks.json").code == 0
    r = run("keys", "rotate", manifest, "add", keydir / "jg1-sig.secret.jwks.json")
    assert r.code == 0, r.err
    assert "jg1-sig added" in r.out and "opens envelopes" not in r.out


def test_a_jwk_without_kid_is_warned_about(keydir: Path, tmp_path: Path) -> None:
    nokid = _rewrite_jwks(keydir / "jg1-enc.secret.jwks.json", tmp_path / "n.secret.jwks.json",
                          kid=None)  # fmt: skip
    assert "kid" not in json.loads(nokid.read_text())["keys"][0]
    said = "the JWK names no kid, so its kid is its RFC 7638 thumbprint"
    for argv in (("keys", "check", nokid), ("keys", "list", nokid),
                 ("keys", "init", tmp_path / "m.keyset.json", nokid)):  # fmt: skip
        r = run(*argv)
        assert said in r.out + r.err, (argv, r.out, r.err)
    named = run("keys", "list", keydir / "jg1-enc.secret.jwks.json")
    assert "thumbprint" not in named.out + named.err


def test_key_load_errors_name_the_file_and_passphrase_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAKE_PASS", "right horse battery")
    r = run("keys", "generate", "--codec", "pgp", "--bits", "2048", "--out-dir", tmp_path,
            "--name", "locked", "--uid", "l <l@example.com>",
            "--passphrase-env", "MAKE_PASS")  # fmt: skip
    assert r.code == 0, r.err
    key = tmp_path / "locked.secret.asc"
    monkeypatch.setenv("WRONG_PASS", "wrong-secret-words")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("wrong-secret-words\n")
    for opt, value, source in (("--passphrase-env", "WRONG_PASS", "WRONG_PASS"),
                               ("--passphrase-file", wrong, str(wrong))):  # fmt: skip
        r = run("keys", "list", key, opt, value)
        said = r.out + r.err  # keys list reports a file that does not load in its table
        assert r.code == 1 and str(key) in said and f"(passphrase from {opt} {source})" in said
        assert "wrong-secret-words" not in said
        assert "right horse" not in r.err + r.out


def test_manifest_json_errors_give_line_and_column(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.keyset.json"
    manifest.write_text('{\n  "version": 1,\n  "codec": "jwe"\n  "keys": []\n}\n')
    r = run("keys", "list", manifest)
    assert r.code != 0 and "Traceback" not in r.err
    assert f"{manifest}: not valid JSON at line 4, column 3" in r.out + r.err


def test_output_errors_name_the_file_asked_for(keydir: Path, tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "out.pgp"
    r = run("seal", "--to", keydir / "g1.public.asc", "--sign-with", keydir / "p1.secret.asc",
            "-o", target, stdin=b"{}")  # fmt: skip
    assert r.code != 0 and str(target) in r.err and ".tmp" not in r.err, r.err
