"""`open --explain` names why one of the operator's own envelopes does not open, while the
library's `open` answers the same inputs with the one opaque `InvalidEnvelope`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cli_run import generated_keys, run

import gpay_envelope as ge


@pytest.fixture(scope="session")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_keys(tmp_path_factory)


def _jwe_seal(keydir: Path, signer: str = "jp1-sig") -> str:
    r = run("seal", "--to", keydir / "jg1.public.jwks.json",
            "--sign-with", keydir / f"{signer}.secret.jwks.json", stdin=b'{"a":1}')  # fmt: skip
    assert r.code == 0, r.err
    return r.out.strip()


def _explain(identity: Path, sender: Path, envelope: str | bytes) -> tuple[int, str]:
    data = envelope.encode() if isinstance(envelope, str) else envelope
    r = run("open", "--explain", "--identity", identity, "--from", sender, stdin=data)
    assert r.err == "" and "Traceback" not in r.out
    return r.code, r.out


def _library_refuses(
    identity: Path,
    sender: Path,
    envelope: str | bytes,
    answer: type[ge.OpenError] = ge.InvalidEnvelope,
) -> None:
    """The library's open gives its one fixed answer, naming no kid and no encoding."""
    data = envelope.encode() if isinstance(envelope, str) else envelope
    load = ge.KeySet.from_pgp if identity.suffix == ".asc" else ge.KeySet.from_jwks
    with pytest.raises(ge.OpenError) as info:
        ge.open(data, identities=load(identity.read_bytes()), senders=load(sender.read_bytes()))
    assert type(info.value) is answer
    assert str(info.value) == str(answer())


def _rewrite_header(envelope: str, **changes: str) -> str:
    head, rest = envelope.split(".", 1)
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    header.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{raw}.{rest}"


def test_an_envelope_that_opens_says_so_without_the_payload(keydir: Path) -> None:
    code, out = _explain(keydir / "jg1-enc.secret.jwks.json", keydir / "jp1.public.jwks.json",
                         _jwe_seal(keydir))  # fmt: skip
    assert code == 0 and "it opens: decrypted with jg1-enc, signed by jp1-sig" in out
    assert '{"a":1}' not in out and '"a"' not in out


def test_standard_base64_is_named(keydir: Path) -> None:
    env = _jwe_seal(keydir)
    parts = env.split(".")
    parts[3] = "+" + parts[3][1:]
    parts[4] = parts[4][:-1] + "/"
    bad = ".".join(parts)
    ident, sender = keydir / "jg1-enc.secret.jwks.json", keydir / "jp1.public.jwks.json"
    code, out = _explain(ident, sender, bad)
    assert code == 1
    assert "JWE ciphertext: '+' found: standard base64, not web-safe" in out
    assert "JWE tag: '/' found" in out
    _library_refuses(ident, sender, bad)


def test_a_kid_not_among_yours_is_named_with_yours(keydir: Path) -> None:
    env = _jwe_seal(keydir)  # sealed to jg1-enc; opened with the partner's keys
    ident, sender = keydir / "jp1-enc.secret.jwks.json", keydir / "jg1.public.jwks.json"
    code, out = _explain(ident, sender, env)
    assert code == 1
    assert "names kid 'jg1-enc' while your encryption keys are jp1-enc" in out
    _library_refuses(ident, sender, env)


def test_an_algorithm_not_bound_to_the_key_is_named(keydir: Path, tmp_path: Path) -> None:
    doc = json.loads((keydir / "jg1-enc.secret.jwks.json").read_text())
    doc["keys"][0]["alg"] = "RSA-OAEP-256"  # the key is bound to one algorithm
    ident = tmp_path / "bound.secret.jwks.json"
    ident.write_text(json.dumps(doc))
    ident.chmod(0o600)
    bad = _rewrite_header(_jwe_seal(keydir), alg="RSA-OAEP")
    sender = keydir / "jp1.public.jwks.json"
    code, out = _explain(ident, sender, bad)
    assert code == 1
    assert "algorithm RSA-OAEP is not bound to key jg1-enc (it allows RSA-OAEP-256)" in out
    _library_refuses(ident, sender, bad)


def test_no_signature_by_a_trusted_key(keydir: Path) -> None:
    forged = _jwe_seal(keydir, signer="jg1-sig")
    ident, sender = keydir / "jg1-enc.secret.jwks.json", keydir / "jp1.public.jwks.json"
    code, out = _explain(ident, sender, forged)
    assert code == 1 and "trusted signers (--from): jp1-sig" in out
    assert "carries no valid signature by a trusted key" in out
    _library_refuses(ident, sender, forged, ge.InvalidSignature)


def test_a_disabled_identity_key_is_named(keydir: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "enc.keyset.json"
    assert run("keys", "init", manifest, keydir / "jp1-enc.secret.jwks.json").code == 0
    assert run("keys", "rotate", manifest, "add", keydir / "jg1-enc.secret.jwks.json").code == 0
    assert run("keys", "rotate", manifest, "disable", "jg1-enc").code == 0
    code, out = _explain(manifest, keydir / "jp1.public.jwks.json", _jwe_seal(keydir))
    assert code == 1 and "key jg1-enc is DISABLED in your set: it does not open envelopes" in out


def _expired_copy(src: Path, dest: Path) -> Path:
    doc = json.loads(src.read_text())
    for k in doc["keys"]:
        k["nbf"], k["exp"] = 1_500_000_000, 1_600_000_000  # 2017-07-14 to 2020-09-13
    dest.write_text(json.dumps(doc))
    dest.chmod(0o600)
    return dest


def test_expired_keys_are_named_on_both_sides(keydir: Path, tmp_path: Path) -> None:
    ident = _expired_copy(keydir / "jg1-enc.secret.jwks.json", tmp_path / "old.secret.jwks.json")
    sender = _expired_copy(keydir / "jp1.public.jwks.json", tmp_path / "old.public.jwks.json")
    code, out = _explain(ident, sender, _jwe_seal(keydir))
    assert code == 1
    assert "key jg1-enc is expired on 2020-09-13: it does not open envelopes" in out
    assert "sender key jp1-sig is expired on 2020-09-13" in out
    assert "trusted signers (--from): none" in out


def test_structure_mistakes(keydir: Path) -> None:
    ident, sender = keydir / "jg1-enc.secret.jwks.json", keydir / "jp1.public.jwks.json"
    env = _jwe_seal(keydir)
    cases = {
        "a.b.c": "not a compact JWE: 3 part(s)",
        "": "the envelope is empty",
        env.replace(".", ". ", 1): "whitespace inside the base64url text",
        "-----BEGIN PGP MESSAGE-----\n\nxx\n-----END PGP MESSAGE-----\n":
            "this is an OpenPGP envelope, but your --identity keys are JWE keys",
    }  # fmt: skip
    for envelope, said in cases.items():
        code, out = _explain(ident, sender, envelope)
        assert code == 1 and said in out, (envelope[:20], out)


def _pgp_seal(keydir: Path, signer: str) -> bytes:
    r = run("seal", "--to", keydir / "g1.public.asc",
            "--sign-with", keydir / f"{signer}.secret.asc", stdin=b"{}")  # fmt: skip
    assert r.code == 0, r.err
    return r.out.encode()


def test_pgp_diagnoses(keydir: Path) -> None:
    env = _pgp_seal(keydir, "p1")
    ident, sender = keydir / "g1.secret.asc", keydir / "p1.public.asc"
    code, out = _explain(ident, sender, env)
    assert code == 0 and "it opens: decrypted with" in out
    # sealed to g1, opened with p2's keys: the key ids named are not p2's subkeys
    other = keydir / "p2.secret.asc"
    code, out = _explain(other, sender, env)
    assert code == 1 and "while your encryption subkeys are" in out
    _library_refuses(other, sender, env)
    forged = _pgp_seal(keydir, "p2")
    code, out = _explain(ident, sender, forged)
    assert code == 1 and "carries no valid signature by a trusted key" in out
    _library_refuses(ident, sender, forged, ge.InvalidSignature)
    cut = env[: len(env) // 8 * 4]  # whole base64 quads: the packets end early
    code, out = _explain(ident, sender, cut)
    assert code == 1 and "malformed or cut short" in out
    _library_refuses(ident, sender, cut)
    code, out = _explain(ident, sender, _jwe_seal(keydir))
    assert code == 1 and "looks like a compact JWE, but your --identity keys are OpenPGP" in out
