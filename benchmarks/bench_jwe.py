"""JWE seal/open timings next to the raw floor: the same RSA, AES, HMAC and DEFLATE work done
with `cryptography` and zlib directly, with no base64, JSON or routing.

    python benchmarks/bench_jwe.py            # table
    python benchmarks/bench_jwe.py --json     # one JSON object per row
    python benchmarks/bench_jwe.py --quick    # 1 KiB and the 1 MiB memory row, fewer repeats

Every ratio is taken inside one run, ours and the floor measured in alternating batches
(medians), so load from other processes hits both alike. Besides the table:

- joserfc used directly (its public ``decrypt_compact`` and ``deserialize_compact``) on the
  same 1 KiB signed envelope, and the same open written with the standard library's base64
  and json and no checks (``stdlib_open``): what splitting, decoding and parsing cost on top
  of the floor before any rule is applied;
- open time by KeySet size (1, 10, 100 keys), the envelope naming its kid;
- signed open of 1 MiB and 8 MiB payloads against a floor that splits and decodes with the
  standard library's base64 (``bytes.split``, ``base64.urlsafe_b64decode``), with the peak
  memory of one open (tracemalloc) as a multiple of the payload, ours and the floor's.

Targets: signed open of 1 KiB within 1.10x the floor and at or below joserfc; open time flat
in the number of keys; signed open of 1 MiB and 8 MiB within 1.15x the standard-library floor.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import hmac
import json
import os
import random
import statistics
import sys
import timeit
import tracemalloc
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sympad
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import gpay_envelope as ge

SIZES = {"1KiB": 1 << 10, "64KiB": 64 << 10, "1MiB": 1 << 20}
LARGE = {"1MiB": 1 << 20, "8MiB": 8 << 20}
OAEP256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
PKCS1 = padding.PKCS1v15()


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


def interleaved(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds per call of each function, measured in alternating batches so that
    load from other processes hits ours and the floor alike. Each of the ``repeat`` rounds is
    cut into eight short batches (about 25 ms each), so that a burst of load lands on all the
    functions of a row rather than on one."""
    timers = {k: timeit.Timer(f) for k, f in fns.items()}
    numbers = {k: max(1, t.autorange()[0] // 8) for k, t in timers.items()}
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat * 8):
        for k, t in timers.items():
            samples[k].append(t.timeit(numbers[k]) / numbers[k])
    return {k: statistics.median(v) for k, v in samples.items()}


def peak_memory(fn: Callable[[], object]) -> int:
    """Peak bytes allocated by one call of ``fn`` beyond what was live before it."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _b64d(segment: bytes) -> bytes:
    return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))


def stdlib_open_envelope(env: bytes, priv: Any, spub: Any) -> bytes:
    """A signed (RSA-OAEP-256, A256GCM, RS256) open written with the standard library's
    base64 and json and `cryptography`: one split per serialization, each segment decoded
    once, no checks beyond what the primitives do."""
    head, ek, iv, ct, tag = env.split(b".")
    json.loads(_b64d(head))
    cek = priv.decrypt(_b64d(ek), OAEP256)
    inner = AESGCM(cek).decrypt(_b64d(iv), _b64d(ct) + _b64d(tag), head)
    jhead, body, sig = inner.split(b".")
    json.loads(_b64d(jhead))
    spub.verify(_b64d(sig), jhead + b"." + body, PKCS1, hashes.SHA256())
    return _b64d(body)


def stdlib_open(env: bytes, priv: Any, spub: Any) -> Callable[[], bytes]:
    """`stdlib_open_envelope` of ``env``, as a timer's callable."""
    return partial(stdlib_open_envelope, env, priv, spub)


def joserfc_open(env: bytes, enc_priv: Any, sig_pub: Any) -> Callable[[], bytes]:
    """The same signed open with joserfc's public API, as an application would write it."""
    from joserfc import jwe, jws
    from joserfc.jwk import RSAKey

    ereg = jwe.JWERegistry(algorithms=["RSA-OAEP-256", "A256GCM"])
    sreg = jws.JWSRegistry(algorithms=["RS256"])
    ekey, skey = RSAKey(enc_priv, enc_priv), RSAKey(sig_pub, sig_pub)

    def run() -> bytes:
        obj = jwe.decrypt_compact(env, ekey, registry=ereg)
        assert obj.plaintext is not None
        return jws.deserialize_compact(obj.plaintext, skey, registry=sreg).payload

    return run


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


def table_rows(
    enc: ge.Key, sig: ge.Key, sizes: dict[str, int], repeat: int, bits: int
) -> list[dict[str, Any]]:
    """Seal and open of each profile and size against the raw floor; joserfc at 1 KiB signed."""
    ids, signer = ge.KeySet([enc], primary=enc.kid), ge.KeySet([sig], primary=sig.kid)
    enc_native, sig_native = enc.material.native, sig.material.native  # type: ignore[attr-defined]
    rows = []
    for label, size in sizes.items():
        pt = payload(size)
        for profile, signed in CASES:
            floor = Floor(enc_native, sig_native, profile, signed)
            kw = {"signer": signer if signed else None, "allow_unsigned": not signed}
            seal = partial(ge.seal, pt, recipients=ids.public(), codec="jwe", profile=profile, **kw)
            env = seal()
            okw = {"senders": signer.public() if signed else None, "allow_unsigned": not signed}
            open_ = partial(ge.open, env, identities=ids, **okw)
            assert open_() == pt
            fns = {
                "seal": seal,
                "seal_floor": floor.seal(pt),
                "open": open_,
                "open_floor": floor.open(pt),
            }
            if profile == "signed" and size <= 1 << 10:
                fns["open_joserfc"] = joserfc_open(env, enc_native, sig_native.public_key())
                fns["open_stdlib"] = stdlib_open(env, enc_native, sig_native.public_key())
                assert fns["open_joserfc"]() == pt and fns["open_stdlib"]() == pt
            t = interleaved(fns, repeat)
            row = {
                "profile": f"{profile}{'' if signed else '-unsigned'}",
                "size": label,
                "rsa_bits": bits,
                **{k: round(v * 1e6, 1) for k, v in t.items()},
                "seal_x": round(t["seal"] / t["seal_floor"], 2),
                "open_x": round(t["open"] / t["open_floor"], 2),
            }
            if "open_joserfc" in t:
                row["joserfc_x"] = round(t["open_joserfc"] / t["open_floor"], 2)
                row["stdlib_x"] = round(t["open_stdlib"] / t["open_floor"], 2)
            rows.append(row)
    return rows


def scaling_row(enc: ge.Key, sig: ge.Key, repeat: int, bits: int) -> dict[str, Any]:
    """Signed 1 KiB open with 1, 10 and 100 identity keys, the envelope naming its kid. The
    other keys share one key pair (only their kids differ): loading is fast, routing the same."""
    other = ge.generate_key(kid="bench-extra", use="enc", size=bits).to_jwk(include_private=True)
    extra = [ge.Key.from_jwk({**other, "kid": f"bench-extra-{i}"}) for i in range(99)]
    signer = ge.KeySet([sig], primary=sig.kid)
    senders = signer.public()
    pt = payload(1024)
    env = ge.seal(pt, recipients=ge.KeySet([enc.public()], primary=enc.kid), signer=signer,
                  codec="jwe")  # fmt: skip
    fns = {}
    for n in (1, 10, 100):
        ks = ge.KeySet([*extra[: n - 1], enc], primary=enc.kid)
        fns[f"open_{n}_keys"] = partial(ge.open, env, identities=ks, senders=senders)
    t = interleaved(fns, repeat)
    row: dict[str, Any] = {"profile": "signed kid routing", "size": "1KiB", "rsa_bits": bits}
    row.update({k: round(v * 1e6, 1) for k, v in t.items()})
    row["keys_100_x"] = round(t["open_100_keys"] / t["open_1_keys"], 3)
    return row


def large_rows(
    enc: ge.Key, sig: ge.Key, sizes: dict[str, int], repeat: int, bits: int
) -> list[dict[str, Any]]:
    """Signed open of large payloads against the standard-library floor, time and memory."""
    ids, signer = ge.KeySet([enc], primary=enc.kid), ge.KeySet([sig], primary=sig.kid)
    rows = []
    for label, size in sizes.items():
        pt = payload(size)
        # 8 MiB is over the default caps (4 MiB payload, 8 MiB envelope): raised for the row.
        limits = ge.Limits(max_plaintext=max(size, 4 << 20), max_envelope=max(2 * size, 8 << 20))
        env = ge.seal(pt, recipients=ids.public(), signer=signer, codec="jwe", limits=limits)
        open_ = partial(ge.open, env, identities=ids, senders=signer.public(), limits=limits)
        floor = stdlib_open(env, enc.material.native, sig.material.native.public_key())  # type: ignore[attr-defined]
        assert open_() == pt and floor() == pt
        t = interleaved({"open": open_, "open_floor": floor}, repeat)
        mem, mem_floor = peak_memory(open_), peak_memory(floor)
        rows.append(
            {
                "profile": "signed vs stdlib",
                "size": label,
                "rsa_bits": bits,
                "envelope_bytes": len(env),
                **{k: round(v * 1e6, 1) for k, v in t.items()},
                "open_x": round(t["open"] / t["open_floor"], 2),
                "peak_x_payload": round(mem / size, 2),
                "floor_peak_x_payload": round(mem_floor / size, 2),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    ap.add_argument("--quick", action="store_true", help="1 KiB and 1 MiB only, 3 repeats")
    ap.add_argument("--bits", type=int, default=2048, help="RSA key size (default 2048)")
    args = ap.parse_args(argv)
    repeat = 3 if args.quick else 7
    sizes = {"1KiB": SIZES["1KiB"]} if args.quick else SIZES
    large = {"1MiB": LARGE["1MiB"]} if args.quick else LARGE

    # Bound to both paddings on purpose: one key measures every profile.
    both = ("RSA-OAEP-256", "RSA1_5")
    enc = ge.generate_key(kid="bench-enc", use="enc", size=args.bits, algorithms=both)
    sig = ge.generate_key(kid="bench-sig", use="sig", size=args.bits)
    rows = table_rows(enc, sig, sizes, repeat, args.bits)
    scaling = scaling_row(enc, sig, repeat, args.bits)
    big = large_rows(enc, sig, large, repeat, args.bits)

    if args.json:
        for r in (*rows, scaling, *big):
            print(json.dumps(r))
        return 0
    print(f"JWE, RSA-{args.bits}, median us per call (x = ours / floor), round-robin")
    print(
        f"{'profile':<18}{'size':>6}{'seal':>10}{'floor':>9}{'x':>6}{'open':>10}{'floor':>9}{'x':>6}"
        f"{'joserfc x':>11}{'stdlib x':>10}"
    )
    for r in rows:
        jx = f"{r['joserfc_x']:>11.2f}{r['stdlib_x']:>10.2f}" if "joserfc_x" in r else ""
        print(
            f"{r['profile']:<18}{r['size']:>6}{r['seal']:>10.0f}{r['seal_floor']:>9.0f}"
            f"{r['seal_x']:>6.2f}{r['open']:>10.0f}{r['open_floor']:>9.0f}{r['open_x']:>6.2f}{jx}"
        )
    print(
        "open, signed 1 KiB, kid present, by KeySet size: "
        + ", ".join(f"{n} keys {scaling[f'open_{n}_keys']:.0f} us" for n in (1, 10, 100))
        + f" (100 keys / 1 key: {scaling['keys_100_x']:.3f})"
    )
    print("signed open vs a standard-library-base64 floor; peak memory of one open / payload")
    for r in big:
        print(
            f"  {r['size']:>5}: {r['open']:>9.0f} us, floor {r['open_floor']:>9.0f} us, "
            f"x {r['open_x']:.2f}; peak {r['peak_x_payload']:.2f}x (floor "
            f"{r['floor_peak_x_payload']:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
