"""PGP seal/open timings next to the raw floor: the same RSA, AES-256-CFB, SHA384 (and, for the
zip profile, DEFLATE) work done with `cryptography` directly, with no packets, MDC or base64.

    python benchmarks/bench_pgp.py              # table: RSA-2048 and 3072, 1 KiB to 1 MiB
    python benchmarks/bench_pgp.py --json       # one JSON object per row
    python benchmarks/bench_pgp.py --quick      # 1 KiB, RSA-2048 only, fewer repeats
    python benchmarks/bench_pgp.py --gpg        # add gpg 2.2 (a subprocess per call) as a peer
    python benchmarks/bench_pgp.py --pgpy       # add pgpy 0.6 as shipped (slow: ~0.1 s a call)
    python benchmarks/bench_pgp.py --bomb       # time refusing a 1 GiB ZIP bomb

One recipient, one signer, in-process, keys loaded once. seal = sign SHA384 + encrypt AES256;
open = decrypt + verify. Target: open and seal of 1 KiB with RSA-2048 within 3x the floor.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

# The same seeded payloads and timer as the JWE benchmark, so the two tables compare.
from bench_jwe import SIZES, interleaved, payload, per_call
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import AES

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode
from gpay_envelope.codecs.pgp import generate_pgp_key, key_to_pgp

PKCS1 = padding.PKCS1v15()
SHA384 = utils.Prehashed(hashes.SHA384())


def floor_seal(sig_key: object, enc_pub: object, pt: bytes, zip_: bool) -> Callable[[], object]:
    def run() -> object:
        sig = sig_key.sign(hashlib.sha384(pt).digest(), PKCS1, SHA384)  # type: ignore[attr-defined]
        body = pt
        if zip_:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            body = c.compress(pt) + c.flush()
        key = os.urandom(32)
        e = Cipher(AES(key), CFB(b"\0" * 16)).encryptor()
        return sig, enc_pub.encrypt(key, PKCS1), e.update(body) + e.finalize()  # type: ignore[attr-defined]

    return run


def floor_open(enc_key: object, sig_key: object, pt: bytes, zip_: bool) -> Callable[[], object]:
    key = os.urandom(32)
    ek = enc_key.public_key().encrypt(key, PKCS1)  # type: ignore[attr-defined]
    body = pt
    if zip_:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = c.compress(pt) + c.flush()
    e = Cipher(AES(key), CFB(b"\0" * 16)).encryptor()
    ct = e.update(body) + e.finalize()
    sig = sig_key.sign(hashlib.sha384(pt).digest(), PKCS1, SHA384)  # type: ignore[attr-defined]
    spub = sig_key.public_key()  # type: ignore[attr-defined]

    def run() -> object:
        k = enc_key.decrypt(ek, PKCS1)  # type: ignore[attr-defined]
        d = Cipher(AES(k), CFB(b"\0" * 16)).decryptor()
        out = d.update(ct) + d.finalize()
        if zip_:
            out = zlib.decompressobj(-15).decompress(out, len(pt) + 1)
        spub.verify(sig, hashlib.sha384(out).digest(), PKCS1, SHA384)
        return out

    return run


def _secret(key: ge.Key, keyid_index: int) -> object:
    material = key.material
    part = material.parts[keyid_index]  # type: ignore[attr-defined]
    return material._secrets[part.keyid]  # type: ignore[attr-defined]


class GpgPeer:
    """gpg 2.2 in a throw-away home holding both keys; one process per call."""

    def __init__(self, signer: ge.Key, recipient: ge.Key) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="bench-gnupg-"))
        for k in (signer, recipient):
            self._gpg("--import", data=key_to_pgp(k, include_private=True))
        self.signer, self.recipient = signer.kid, recipient.kid

    def _gpg(self, *args: str, data: bytes = b"") -> bytes:
        cmd = ["gpg", "--homedir", str(self.home), "--batch", "--yes", "--trust-model", "always"]
        cmd += ["--pinentry-mode", "loopback", "--passphrase", "", *args]
        return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout

    def seal(self, pt: bytes, zip_: bool) -> bytes:
        z = ["--compress-algo", "zip"] if zip_ else ["-z", "0"]
        args = ["-s", "-e", "-u", self.signer, "-r", self.recipient, "--digest-algo", "SHA384"]
        return self._gpg(*args, "--cipher-algo", "AES256", *z, "-o", "-", data=pt)

    def open(self, msg: bytes) -> bytes:
        return self._gpg("-d", "-o", "-", data=msg)

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"], check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def pgpy_row(signer: ge.Key, recipient: ge.Key, pt: bytes, repeat: int) -> dict[str, float]:
    """pgpy 0.6 as shipped (no key cache), same keys, for the record."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from gpay_envelope.codecs.pgp._pgpy import load_pgpy

        pgpy = load_pgpy()
        c = pgpy.constants
        s, _ = pgpy.PGPKey.from_blob(signer.material.export(include_private=True))  # type: ignore[attr-defined]
        r, _ = pgpy.PGPKey.from_blob(recipient.material.export(include_private=True))  # type: ignore[attr-defined]
        rsub = next(iter(r.subkeys.values()))

        def seal() -> object:
            m = pgpy.PGPMessage.new(pt, format="b")
            m |= s.sign(m, hash=c.HashAlgorithm.SHA384)
            return r.pubkey.encrypt(m, cipher=c.SymmetricKeyAlgorithm.AES256)

        env = seal()

        def open_() -> object:
            m = rsub.decrypt(env)
            return s.pubkey.verify(m)

        return {"seal": per_call(seal, repeat), "open": per_call(open_, repeat)}


def bomb_row(recipient: ge.Key) -> dict[str, object]:
    """Seconds and peak memory growth to refuse a 1 GiB ZIP bomb encrypted to us."""
    import resource

    from gpay_envelope._b64 import b64url_encode
    from gpay_envelope.codecs.pgp import wire as op

    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = (
        bytes((0xC0 | op.TAG_LITERAL, 0xFF))
        + ((1 << 30) + 6).to_bytes(4, "big")
        + b"b\0"
        + b"\0" * 4
    )
    chunk = b"\0" * (1 << 20)
    deflated = c.compress(head) + b"".join(c.compress(chunk) for _ in range(1024)) + c.flush()
    inner = op.packet(op.TAG_COMPRESSED, b"\x01" + deflated)
    key = os.urandom(32)
    part = recipient.material.parts[1]  # type: ignore[attr-defined]
    msg = op.pkesk_packet(part.keyid, part.public_key, op.session_key_payload(op.SYM_AES256, key))
    env = b64url_encode(msg + op.encrypt_seipd(key, inner))
    ids = ge.KeySet([recipient], primary=recipient.kid)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        ge.open(env, identities=ids, senders=None, allow_unsigned=True)
    except ge.InvalidEnvelope:
        outcome = "refused"
    else:
        outcome = "OPENED"
    seconds = time.perf_counter() - t0
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    return {
        "bomb": "ZIP 1 GiB",
        "envelope_bytes": len(env),
        "outcome": outcome,
        "seconds": round(seconds, 3),
        "peak_growth_kib": grew,
    }


def size_arguments(description: str | None, quick_repeat: int) -> argparse.ArgumentParser:
    """The parser of the PGP benchmarks' common options: --json, --quick and --bits."""
    ap = argparse.ArgumentParser(description=(description or "").splitlines()[0])
    ap.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    ap.add_argument(
        "--quick", action="store_true", help=f"1 KiB and RSA-2048 only, {quick_repeat} repeats"
    )
    ap.add_argument("--bits", default="2048,3072", help="RSA sizes, comma-separated")
    return ap


def size_plan(
    args: argparse.Namespace, sizes: dict[str, int], quick_repeat: int, full_repeat: int = 15
) -> tuple[int, dict[str, int], list[int]]:
    """(repeats, payload sizes, RSA sizes) that --quick and --bits ask for."""
    if args.quick:
        return quick_repeat, {"1KiB": sizes["1KiB"]}, [2048]
    return full_repeat, sizes, [int(b) for b in args.bits.split(",")]


def main(argv: list[str] | None = None) -> int:
    ap = size_arguments(__doc__, quick_repeat=5)
    ap.add_argument("--gpg", action="store_true", help="add gpg (subprocess) rows")
    ap.add_argument("--pgpy", action="store_true", help="add pgpy 0.6 as shipped (1 KiB)")
    ap.add_argument("--bomb", action="store_true", help="time refusing a 1 GiB ZIP bomb")
    args = ap.parse_args(argv)
    repeat, sizes, bits_list = size_plan(args, SIZES, quick_repeat=5)
    use_gpg = args.gpg and shutil.which("gpg") is not None

    rows: list[dict[str, object]] = []
    extra: list[dict[str, object]] = []
    for bits in bits_list:
        signer = generate_pgp_key(uid="bench signer <s@example.com>", size=bits)
        recipient = generate_pgp_key(uid="bench recipient <r@example.com>", size=bits)
        sk, rk = (
            ge.KeySet([signer], primary=signer.kid),
            ge.KeySet([recipient], primary=recipient.kid),
        )
        sig_priv, enc_priv = _secret(signer, 0), _secret(recipient, 1)
        enc_pub = enc_priv.public_key()  # type: ignore[attr-defined]
        gpg = GpgPeer(signer, recipient) if use_gpg else None
        for label, size in sizes.items():
            pt = payload(size)
            for profile in ("default", "zip"):
                zip_ = profile == "zip"
                seal = partial(ge.seal, pt, recipients=rk.public(), signer=sk, profile=profile)
                env = seal()
                open_ = partial(ge.open, env, identities=rk, senders=sk.public())
                assert open_() == pt
                floors = (
                    floor_seal(sig_priv, enc_pub, pt, zip_),
                    floor_open(enc_priv, sig_priv, pt, zip_),
                )
                t = interleaved(
                    {"seal": seal, "seal_floor": floors[0], "open": open_, "open_floor": floors[1]},
                    repeat,
                )
                row: dict[str, object] = {
                    "profile": profile,
                    "size": label,
                    "rsa_bits": bits,
                    **{k: round(v * 1e6, 1) for k, v in t.items()},
                    "seal_x": round(t["seal"] / t["seal_floor"], 2),
                    "open_x": round(t["open"] / t["open_floor"], 2),
                }
                if gpg is not None:
                    msg = gpg.seal(pt, zip_)
                    assert ge.open(msg, identities=rk, senders=sk.public()) == pt
                    assert gpg.open(b64url_decode(env)) == pt
                    row["gpg_seal"] = round(per_call(partial(gpg.seal, pt, zip_), 3) * 1e6, 1)
                    row["gpg_open"] = round(per_call(partial(gpg.open, msg), 3) * 1e6, 1)
                rows.append(row)
        if gpg is not None:
            gpg.close()
        if args.pgpy and bits == bits_list[0]:
            p = pgpy_row(signer, recipient, payload(1024), 3)
            extra.append(
                {
                    "what": "pgpy 0.6 as shipped",
                    "size": "1KiB",
                    "rsa_bits": bits,
                    **{k: round(v * 1e6, 1) for k, v in p.items()},
                }
            )
        if args.bomb and bits == bits_list[0]:
            extra.append(bomb_row(recipient))

    if args.json:
        for r in (*rows, *extra):
            print(json.dumps(r))
        return 0
    print(
        "PGP, median us per call (x = ours / floor; floor = RSA + AES-256-CFB + SHA384 [+ DEFLATE])"
    )
    head = f"{'profile':<9}{'bits':>5}{'size':>7}"
    head += f"{'seal':>9}{'floor':>8}{'x':>6}{'open':>9}{'floor':>8}{'x':>6}"
    print(head + (f"{'gpg seal':>10}{'gpg open':>10}" if use_gpg else ""))
    for r in rows:
        line = (
            f"{r['profile']:<9}{r['rsa_bits']:>5}{r['size']:>7}{r['seal']:>9.0f}{r['seal_floor']:>8.0f}"
            f"{r['seal_x']:>6.2f}{r['open']:>9.0f}{r['open_floor']:>8.0f}{r['open_x']:>6.2f}"
        )
        if use_gpg:
            line += f"{r['gpg_seal']:>10.0f}{r['gpg_open']:>10.0f}"
        print(line)
    for e in extra:
        print(", ".join(f"{k}={v}" for k, v in e.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
