"""`seal` and `open`: files, stdin and stdout, manifests, and the refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import generated_keys, mode, run

import gpay_envelope as ge


@pytest.fixture(scope="session")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_keys(tmp_path_factory)


def test_pgp_seal_and_open_files(keydir: Path, tmp_path: Path) -> None:
    payload = tmp_path / "request.json"
    payload.write_bytes(b'{"requestHeader":{"requestId":"r1"}}')
    env = tmp_path / "request.pgp"
    r = run(
        "seal", "--to", keydir / "g1.public.asc", "--sign-with", keydir / "p1.secret.asc",
        "-i", payload, "-o", env,
    )  # fmt: skip
    assert r.code == 0 and r.out == ""
    assert env.read_bytes().endswith(b"=") or env.read_bytes().isascii()
    clear = tmp_path / "clear.json"
    r = run(
        "open", "--identity", keydir / "g1.secret.asc", "--from", keydir / "p1.public.asc",
        "-i", env, "-o", clear, "-v",
    )  # fmt: skip
    assert r.code == 0 and clear.read_bytes() == payload.read_bytes()
    assert mode(clear) == 0o600
    g1 = ge.KeySet.from_pgp((keydir / "g1.public.asc").read_bytes()).primary.kid
    assert f"opened: decrypted with {g1}; signed by" in r.err and "SHA384" in r.err


def test_jwe_seal_and_open_through_stdin_and_manifests(keydir: Path, tmp_path: Path) -> None:
    sig = tmp_path / "sig.keyset.json"
    enc = tmp_path / "enc.keyset.json"
    assert run("keys", "init", sig, keydir / "jp1-sig.secret.jwks.json").code == 0
    assert run("keys", "init", enc, keydir / "jg1-enc.secret.jwks.json").code == 0
    payload = b'{"hello":"world"}'
    # The partner seals to Google's public JWK Set (its enc key is picked), signed by the
    # partner's signing manifest; Google opens with its enc manifest.
    r = run("seal", "--to", keydir / "jg1.public.jwks.json", "--sign-with", sig, stdin=payload)
    assert r.code == 0 and r.out.count(".") == 4
    r2 = run("open", "--identity", enc, "--from", keydir / "jp1.public.jwks.json",
             stdin=r.out.encode())  # fmt: skip
    assert r2.code == 0 and r2.out == payload.decode() and r2.err == ""
    # A forged signer: decrypts, but no trusted signature -> exit 1, one line, no payload.
    forged = run("seal", "--to", keydir / "jg1.public.jwks.json",
                 "--sign-with", keydir / "jg1-sig.secret.jwks.json", stdin=payload)  # fmt: skip
    r3 = run("open", "--identity", enc, "--from", keydir / "jp1.public.jwks.json",
             stdin=forged.out.encode())  # fmt: skip
    assert r3.code == 1 and r3.out == ""
    assert r3.err == "gpay-envelope: no valid signature by a trusted sender key\n"
    # A tampered envelope: exit 1, the one fixed message.
    tampered = r.out[:-5] + ("A" if r.out[-5] != "A" else "B") + r.out[-4:]
    r4 = run("open", "--identity", enc, "--from", keydir / "jp1.public.jwks.json",
             stdin=tampered.encode())  # fmt: skip
    assert (r4.code, r4.out, r4.err) == (1, "", "gpay-envelope: invalid envelope\n")


def test_seal_and_open_refusals(keydir: Path) -> None:
    r = run("seal", "--to", keydir / "g1.public.asc", stdin=b"x")
    assert r.code == 2 and "--sign-with is required" in r.err
    r = run("open", "--identity", keydir / "g1.secret.asc", stdin=b"x")
    assert r.code == 2 and "--from is required" in r.err
    jwe_key = keydir / "jp1-sig.secret.jwks.json"
    r = run("seal", "--to", keydir / "g1.public.asc", "--sign-with", jwe_key, stdin=b"x")
    assert r.code == 2 and r.err.count("\n") == 1
    assert "--to holds pgp keys but --sign-with holds jwe keys" in r.err
    r = run("seal", "--to", keydir / "missing.asc", "--sign-with", keydir / "p1.secret.asc",
            stdin=b"x")  # fmt: skip
    assert r.code == 1 and "missing.asc" in r.err
    r = run("open", "--identity", keydir / "p1.public.asc", "--from", keydir / "g1.public.asc",
            stdin=b"x")  # fmt: skip
    assert r.code == 1 and "hold no private key" in r.err


def test_real_stdin_and_stdout_through_a_pipe(keydir: Path) -> None:
    payload = b'{"binary-safe":"\xc3\xa9"}'
    cli = [sys.executable, "-m", "gpay_envelope"]
    sealed = subprocess.run(
        [*cli, "seal", "--to", str(keydir / "g1.public.asc"),
         "--sign-with", str(keydir / "p1.secret.asc")],
        input=payload, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    opened = subprocess.run(
        [*cli, "open", "--identity", str(keydir / "g1.secret.asc"),
         "--from", str(keydir / "p1.public.asc")],
        input=sealed.stdout, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert (opened.returncode, opened.stdout, opened.stderr) == (0, payload, b"")
