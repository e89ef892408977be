"""The command line, through main([...]): exit codes and what it prints."""

from __future__ import annotations

import io
import json
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pgp_fixtures import YEAR, Spec, Sub, build_key

import gpay_envelope as ge
from gpay_envelope._cli import main
from gpay_envelope.keystore import load_manifest


@dataclass
class Run:
    code: int
    out: str
    err: str


def run(*argv: str | Path, stdin: bytes | None = None) -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [str(a) for a in argv],
        out=out,
        err=err,
        stdin=io.BytesIO(stdin) if stdin is not None else None,
    )
    return Run(code, out.getvalue(), err.getvalue())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- demo, usage, entry points --------------------------------------------------------------
def _table(section: str) -> dict[str, str]:
    return {line.split("  ")[0]: line for line in section.splitlines() if line[:1].isdigit()}


def test_demo_walks_the_rotation_and_succeeds() -> None:
    r = run("demo")
    assert r.code == 0, r.out
    assert "every envelope behaved as expected" in r.out
    assert "refused (InvalidSignature -> HTTP 401)" in r.out
    jwe_part, pgp_part = r.out.split("\nPGP:")
    jwe = _table(jwe_part)
    assert "opened by partner-enc-2026" in jwe["3 promote k2"].rsplit("  ", 1)[-1]
    assert jwe["4 disable k1"].endswith("refused (InvalidEnvelope)")
    assert jwe["5 remove k1"].endswith("refused (InvalidEnvelope)")
    assert "opened by partner-enc-2027, signed by google-sig-1" in jwe["5 remove k1"]
    pgp = _table(pgp_part)
    assert "verify-rotation ok" in pgp["2 add"]
    assert "to p1+p2, opened by p1" in pgp["3 exchange"]
    assert "to p1+p2, opened by p2" in pgp["4 promote"]
    assert "signed p2+p1, Google accepts p2+p1" in pgp["4 promote"]
    assert "reload refused, old set kept" in pgp["5 typo"]
    assert pgp["5 typo"].endswith("opened by p1")
    assert pgp["6 disable"].endswith("refused (InvalidEnvelope)")
    assert re.split(r"\s{2,}", pgp["7 remove"])[2] == "p2*"


def test_demo_can_keep_its_files(tmp_path: Path) -> None:
    r = run("demo", "--workdir", tmp_path / "demo")
    assert r.code == 0
    manifest = tmp_path / "demo" / "partner.keyset.json"
    assert len(load_manifest(manifest)) == 1
    assert mode(tmp_path / "demo" / "partner-2027.secret.asc") == 0o600
    assert run("keys", "check", manifest).code == 0


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["demo", "--bits", "1024"]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["keys"]) == 2
    assert main(["keys", "generate", "--codec", "pgp", "--bits", "1024"]) == 2
    assert main(["keys", "generate", "--codec", "jwe", "--days", "800"]) == 2
    assert main(["keys", "rotate", "m.json"]) == 2
    assert "usage:" in capsys.readouterr().err
    assert run("keys", "generate", "--codec", "pgp").code == 2  # no --uid
    r = run("keys", "generate", "--codec", "jwe", "--kid", "k")
    assert r.code == 2 and "--use enc or --use sig" in r.err
    r = run("keys", "generate", "--codec", "jwe", "--passphrase-env", "X")
    assert r.code == 2 and "no encryption" in r.err


def test_python_dash_m_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpay_envelope", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.startswith("gpay-envelope ")


def test_tls_check_is_wired(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 9 on loopback: nothing listens, so the probe reports unreachable and exits 1.
    assert main(["tls-check", "https://127.0.0.1:9", "--json", "--timeout", "2"]) == 1
    assert '"compliant": false' in capsys.readouterr().out
    assert main(["tls-check"]) == 2


# -- keys generate --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keys made once for this module through `keys generate` (RSA-2048): partner p1, p2
    (PGP), Google g1 (PGP), and JWE partner/google sets."""
    d = tmp_path_factory.mktemp("keys")
    for name in ("p1", "p2", "g1"):
        r = run(
            "keys", "generate", "--codec", "pgp", "--bits", "2048", "--out-dir", d,
            "--name", name, "--uid", f"{name} <{name}@example.com>",
        )  # fmt: skip
        assert r.code == 0, r.err
    for name in ("jp1", "jg1"):
        r = run(
            "keys", "generate", "--codec", "jwe", "--bits", "2048", "--out-dir", d, "--name", name
        )
        assert r.code == 0, r.err
    return d


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


# -- rotation -------------------------------------------------------------------------------
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


# -- seal / open ----------------------------------------------------------------------------
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
    assert r.code == 1 and "'jwe' keys" in r.err
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
