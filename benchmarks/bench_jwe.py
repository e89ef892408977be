"""JWE seal/open timings next to the raw floor: the same RSA, AES, HMAC and DEFLATE work done
with `cryptography` and zlib directly, with no base64, JSON or routing.

    python benchmarks/bench_jwe.py            # table
    python benchmarks/bench_jwe.py --json     # one JSON object per row
    python benchmarks/bench_jwe.py --quick    # 1 KiB only, fewer repeats

Targets: open of a 1 KiB legacy JWE within 1.3x the floor; open time independent of
the number of keys in the KeySet when the envelope carries a kid.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import statistics
import sys
import timeit
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sympad
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import gpay_envelope as ge

SIZES = {"1KiB": 1 << 10, "64KiB": 64 << 10, "1MiB": 1 << 20}
OAEP256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def payload(size: int) -> bytes:
    """JSON-like records, seeded, cut to ``size`` bytes (compresses about 4:1 like real bodies)."""
    rnd = random.Random(42)
    out = bytearray()
    while len(out) < size:
        rec = {
            "requestId": f"r-{rnd.randrange(10**9)}",
            "amount": f"{rnd.random() * 1000:.2f}",
            "currency": rnd.choice(["USD", "EUR", "JPY"]),
            "note": rnd.randbytes(12).hex(),
        }
        out += json.dumps(rec).encode()
    return bytes(out[:size])


def per_call(fn: Callable[[], object], repeat: int) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return statistics.median(t / number for t in timer.repeat(repeat, number))


@dataclass
class Floor:
    """The primitive work of one profile, done directly."""

    enc_key: object
    sig_key: object
    profile: str
    signed: bool

    def seal(self, pt: bytes) -> Callable[[], object]:
        pub, spriv = self.enc_key.public_key(), self.sig_key  # type: ignore[attr-defined]
        if self.profile == "signed":

            def run() -> object:
                cek, iv = os.urandom(32), os.urandom(12)
                body = pt
                if self.signed:
                    body = pt + spriv.sign(pt, padding.PKCS1v15(), hashes.SHA256())
                return pub.encrypt(cek, OAEP256), AESGCM(cek).encrypt(iv, body, b"h")

            return run

        def run_legacy() -> object:
            cek, iv = os.urandom(64), os.urandom(16)
            body = pt
            if self.signed:
                body = pt + spriv.sign(pt, padding.PKCS1v15(), hashes.SHA256())
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            z = c.compress(body) + c.flush()
            p = sympad.PKCS7(128).padder()
            e = Cipher(algorithms.AES(cek[32:]), modes.CBC(iv)).encryptor()
            ct = e.update(p.update(z) + p.finalize()) + e.finalize()
            tag = hmac.new(cek[:32], b"h" + iv + ct, hashlib.sha512).digest()[:32]
            return pub.encrypt(cek, padding.PKCS1v15()), ct, tag

        return run_legacy

    def open(self, pt: bytes) -> Callable[[], object]:
        priv = self.enc_key
        spub = self.sig_key.public_key()  # type: ignore[attr-defined]
        sig = self.sig_key.sign(pt, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined]
        if self.profile == "signed":
            cek, iv = os.urandom(32), os.urandom(12)
            ek = priv.public_key().encrypt(cek, OAEP256)  # type: ignore[attr-defined]
            ct = AESGCM(cek).encrypt(iv, pt, b"h")

            def run() -> object:
                k = priv.decrypt(ek, OAEP256)  # type: ignore[attr-defined]
                out = AESGCM(k).decrypt(iv, ct, b"h")
                if self.signed:
                    spub.verify(sig, out, padding.PKCS1v15(), hashes.SHA256())
                return out

            return run
        cek, iv = os.urandom(64), os.urandom(16)
        ek = priv.public_key().encrypt(cek, padding.PKCS1v15())  # type: ignore[attr-defined]
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        z = c.compress(pt) + c.flush()
        p = sympad.PKCS7(128).padder()
        e = Cipher(algorithms.AES(cek[32:]), modes.CBC(iv)).encryptor()
        ct = e.update(p.update(z) + p.finalize()) + e.finalize()
        tag = hmac.new(cek[:32], b"h" + iv + ct, hashlib.sha512).digest()[:32]

        def run_legacy() -> object:
            k = priv.decrypt(ek, padding.PKCS1v15())  # type: ignore[attr-defined]
            if not hmac.compare_digest(
                hmac.new(k[:32], b"h" + iv + ct, hashlib.sha512).digest()[:32], tag
            ):
                raise ValueError
            d = Cipher(algorithms.AES(k[32:]), modes.CBC(iv)).decryptor()
            u = sympad.PKCS7(128).unpadder()
            z2 = u.update(d.update(ct) + d.finalize()) + u.finalize()
            out = zlib.decompressobj(-15).decompress(z2, len(pt) + 1)
            if self.signed:
                spub.verify(sig, out, padding.PKCS1v15(), hashes.SHA256())
            return out

        return run_legacy


CASES = [("signed", True), ("legacy", True), ("legacy", False)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    ap.add_argument("--quick", action="store_true", help="1 KiB only, 3 repeats")
    ap.add_argument("--bits", type=int, default=2048, help="RSA key size (default 2048)")
    args = ap.parse_args(argv)
    repeat = 3 if args.quick else 7
    sizes = {"1KiB": SIZES["1KiB"]} if args.quick else SIZES

    # Bound to both paddings on purpose: one key measures every profile.
    both = ("RSA-OAEP-256", "RSA1_5")
    enc = ge.generate_key(kid="bench-enc", use="enc", size=args.bits, algorithms=both)
    sig = ge.generate_key(kid="bench-sig", use="sig", size=args.bits)
    ids, signer = ge.KeySet([enc], primary=enc.kid), ge.KeySet([sig], primary=sig.kid)
    rows = []
    for label, size in sizes.items():
        pt = payload(size)
        for profile, signed in CASES:
            floor = Floor(enc.material.native, sig.material.native, profile, signed)  # type: ignore[attr-defined]
            kw = {"signer": signer if signed else None, "allow_unsigned": not signed}
            env = ge.seal(pt, recipients=ids.public(), codec="jwe", profile=profile, **kw)
            okw = {"senders": signer.public() if signed else None, "allow_unsigned": not signed}
            assert ge.open(env, identities=ids, **okw) == pt
            t = {
                "seal": per_call(
                    partial(
                        ge.seal, pt, recipients=ids.public(), codec="jwe", profile=profile, **kw
                    ),
                    repeat,
                ),
                "seal_floor": per_call(floor.seal(pt), repeat),
                "open": per_call(partial(ge.open, env, identities=ids, **okw), repeat),
                "open_floor": per_call(floor.open(pt), repeat),
            }
            name = f"{profile}{'' if signed else '-unsigned'}"
            rows.append(
                {
                    "profile": name,
                    "size": label,
                    "rsa_bits": args.bits,
                    **{k: round(v * 1e6, 1) for k, v in t.items()},
                    "seal_x": round(t["seal"] / t["seal_floor"], 2),
                    "open_x": round(t["open"] / t["open_floor"], 2),
                }
            )

    # Open time against KeySet size, kid present (legacy unsigned, 1 KiB).
    pt = payload(1024)
    extra = [
        ge.generate_key(kid=f"bench-extra-{i}", use="enc", size=args.bits, legacy=True)
        for i in range(49)
    ]
    env = ge.seal(
        pt, recipients=ids.public(), codec="jwe", profile="legacy", signer=None, allow_unsigned=True
    )
    scaling = {}
    for n in (1, 10, 50):
        ks = ge.KeySet([*extra[: n - 1], enc], primary=enc.kid)
        scaling[n] = (
            per_call(
                lambda ks=ks: ge.open(env, identities=ks, senders=None, allow_unsigned=True), repeat
            )
            * 1e6
        )
    rows.append(
        {
            "profile": "legacy-unsigned kid routing",
            "size": "1KiB",
            "rsa_bits": args.bits,
            **{f"open_{n}_keys": round(v, 1) for n, v in scaling.items()},
        }
    )

    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    print(f"JWE, RSA-{args.bits}, median us per call (x = ours / floor)")
    print(
        f"{'profile':<18}{'size':>6}{'seal':>10}{'floor':>9}{'x':>6}{'open':>10}{'floor':>9}{'x':>6}"
    )
    for r in rows[:-1]:
        print(
            f"{r['profile']:<18}{r['size']:>6}{r['seal']:>10.0f}{r['seal_floor']:>9.0f}"
            f"{r['seal_x']:>6.2f}{r['open']:>10.0f}{r['open_floor']:>9.0f}{r['open_x']:>6.2f}"
        )
    last = rows[-1]
    print(
        "open, legacy unsigned 1 KiB, kid present, by KeySet size: "
        + ", ".join(f"{n} keys {last[f'open_{n}_keys']:.0f} us" for n in (1, 10, 50))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
