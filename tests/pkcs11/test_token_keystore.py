"""Token keys in the keystore and on the command line: `keys generate --pkcs11` makes the key
in the token and writes only the public half, a manifest mixes file and token keys, and
`keys check`, `verify-rotation` and the watcher work with it (SoftHSM2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import softhsm as hsm
from cli_run import run

import gpay_envelope as ge
from gpay_envelope.keystore import KeySetWatcher, load_manifest

pytestmark = pytest.mark.interop


def _generate(softhsm, out: Path, *args: str) -> str:
    r = run("keys", "generate", "--bits", "2048", "--out-dir", out, "--pkcs11",
            softhsm.uri("cli"), "--pin-env", hsm.PIN_ENV, *args)  # fmt: skip
    assert r.code == 0, r.err
    return r.out


@pytest.fixture(scope="module")
def pgp_manifest(softhsm, tmp_path_factory):
    d = tmp_path_factory.mktemp("tokcli")
    r = run("keys", "generate", "--codec", "pgp", "--bits", "2048", "--out-dir", d,
            "--name", "file", "--uid", "File <f@example.com>")  # fmt: skip
    assert r.code == 0, r.err
    out = _generate(softhsm, d, "--codec", "pgp", "--name", "tok", "--uid", "Tok <t@example.com>")
    assert sorted(p.name for p in d.iterdir() if p.name.startswith("tok")) == ["tok.public.asc"]
    entry = json.loads(out.rsplit("\n  ", 1)[1])
    assert entry["pin"] == {"env": hsm.PIN_ENV} and hsm.PIN not in out
    file_kid = ge.KeySet.from_pgp((d / "file.secret.asc").read_bytes()).primary.kid
    token_kid = ge.KeySet.from_pgp((d / "tok.public.asc").read_bytes()).primary.kid
    entry["file"] = "tok.public.asc"
    manifest = {
        "version": 1,
        "codec": "pgp",
        "primary": file_kid,
        "keys": [{"file": "file.secret.asc", "kid": file_kid}, {**entry, "kid": token_kid}],
    }
    path = d / "keyset.json"
    path.write_text(json.dumps(manifest))
    return path, file_kid, token_kid


def test_generate_refuses_a_pkcs11_uri_without_a_pin_reference(tmp_path, softhsm):
    r = run("keys", "generate", "--codec", "jwe", "--out-dir", tmp_path, "--pkcs11",
            softhsm.uri("x"))  # fmt: skip
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "--pin-env" in r.err


def test_a_manifest_mixes_file_and_token_keys(pgp_manifest):
    path, file_kid, token_kid = pgp_manifest
    ks = load_manifest(path)
    assert ks.get(token_kid).has_secret and ks.get(file_kid).has_secret
    env = ge.seal(
        b"m",
        recipients=ge.KeySet([ks.get(token_kid).public()], primary=token_kid),
        signer=ge.KeySet([ks.get(token_kid)], primary=token_kid),
        codec="pgp",
    )
    assert ge.open(env, identities=ks, senders=ks.public()) == b"m"


def test_keys_check_and_verify_rotation_with_a_token_key(pgp_manifest):
    path, _, token_kid = pgp_manifest
    r = run("keys", "check", path)
    assert r.code == 0, r.out + r.err
    r = run("keys", "verify-rotation", path, token_kid, "--public",
            path.parent / "tok.public.asc")  # fmt: skip
    assert r.code == 0, r.out + r.err
    assert "works in every direction" in r.out


def test_the_watcher_reloads_a_manifest_with_a_token_key(pgp_manifest):
    path, file_kid, token_kid = pgp_manifest
    watcher = KeySetWatcher(path, poll_interval=0)
    assert watcher.current().primary.kid == file_kid
    doc = json.loads(path.read_text())
    doc["primary"] = token_kid
    path.write_text(json.dumps(doc))
    try:
        assert watcher.check(force=True)
        ks = watcher.current()
        assert ks.primary.kid == token_kid
        env = ge.seal(b"w", recipients=ks.public(), signer=ks, codec="pgp")
        assert ge.open(env, identities=ks, senders=ks.public()) == b"w"
    finally:
        doc["primary"] = file_kid
        path.write_text(json.dumps(doc))


def test_jwe_keys_generated_in_the_token(softhsm, tmp_path):
    out = _generate(softhsm, tmp_path, "--codec", "jwe", "--name", "jt", "--legacy")
    assert [p.name for p in tmp_path.iterdir()] == ["jt.public.jwks.json"]
    public = json.loads((tmp_path / "jt.public.jwks.json").read_text())
    assert all("d" not in k for k in public["keys"]) and "generated JWE key jt-enc" in out


def test_rotate_add_promote_a_token_key_into_a_file_key_manifest(softhsm, tmp_path):
    r = run("keys", "generate", "--codec", "jwe", "--bits", "2048", "--out-dir", tmp_path,
            "--name", "old", "--use", "enc")  # fmt: skip
    assert r.code == 0, r.err
    manifest = tmp_path / "enc.json"
    assert run("keys", "init", manifest, tmp_path / "old-enc.secret.jwks.json").code == 0
    _generate(softhsm, tmp_path, "--codec", "jwe", "--name", "new", "--use", "enc")
    r = run("keys", "rotate", manifest, "add", tmp_path / "new.public.jwks.json",
            "--pkcs11", softhsm.uri("cli"), "--pin-env", hsm.PIN_ENV)  # fmt: skip
    assert r.code == 0, r.out + r.err
    entry = json.loads(manifest.read_text())["keys"][1]
    assert entry["pkcs11"] == softhsm.uri("cli") and entry["pin"] == {"env": hsm.PIN_ENV}
    assert run("keys", "verify-rotation", manifest, "new-enc").code == 0
    assert run("keys", "rotate", manifest, "promote", "new-enc").code == 0
    ks = load_manifest(manifest)
    assert ks.primary.kid == "new-enc" and ks.primary.material.held is not None
    peer = ge.KeySet([ge.generate_key(kid="peer-sig", use="sig", size=2048)], primary="peer-sig")
    env = ge.seal(b"n", recipients=ks.public(), signer=peer, codec="jwe")
    assert ge.open(env, identities=ks, senders=peer.public()) == b"n"
