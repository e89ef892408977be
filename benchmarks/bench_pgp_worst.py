"""The most expensive PGP envelopes we know how to make, timed against a normal open.

    python benchmarks/bench_pgp_worst.py            # table
    python benchmarks/bench_pgp_worst.py --json     # one JSON object per row
    python benchmarks/bench_pgp_worst.py --quick    # the small cases only, fewer repeats

Every case is content anybody holding our public key can encrypt to us (so it sits inside a
valid MDC), within the default `Limits` (4 MiB plaintext, 8 MiB envelope). Each row gives the
envelope size, the outcome, the median milliseconds of one ``ge.open`` and ratios measured in
the same run:

- ``x normal``: to a normal open of a 1 KiB signed envelope. The bar for envelopes up to
  ~64 KB is about 20.
- ``x size``: to a normal open of a signed envelope of the same size (interpolated between
  the 1 KiB and the 4 MiB normal envelopes). Large envelopes cost what decrypting, hashing
  and parsing that many bytes costs; the bar is a small factor.

Keys: RSA-2048, made once per run; one identity key, three sender keys (a signature naming no
key is tried against ``max_trials`` = 3 of them). See docs/hardening.md ("CPU per envelope")
for what each case attacks and the bounds that stop it.
"""

from __future__ import annotations

import argparse
import base64
import bz2
import json
import os
import random
import statistics
import struct
import sys
import time
import timeit
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode, b64url_encode
from gpay_envelope.codecs.pgp import generate_pgp_key
from gpay_envelope.codecs.pgp import wire as op

KIB, MIB = 1 << 10, 1 << 20
NOW = int(time.time())
#: Content just under the inflation cap (max_plaintext + 256 KiB) with the packets around it.
NEAR_CAP = 4 * MIB - 4 * KIB
#: Literal data whose plain envelope (base64url) stays just under max_envelope.
NEAR_ENVELOPE = 6 * MIB - 64 * KIB
#: Just under the inflation floor (256 KiB) once the packets around it are counted.
NEAR_FLOOR = 256 * KIB - 4 * KIB


@dataclass(frozen=True)
class Keys:
    identity: ge.KeySet  # ours, with the secret
    identity_public: ge.KeySet
    sender: ge.KeySet  # the partner's, with the secret (seals the normal envelopes)
    sender_public: ge.KeySet


def make_keys() -> Keys:
    ours = generate_pgp_key(uid="ours <ours@example.com>", size=2048)
    theirs = [generate_pgp_key(uid=f"theirs{i} <t{i}@example.com>", size=2048) for i in range(3)]
    identity = ge.KeySet([ours], primary=ours.kid)
    sender = ge.KeySet(theirs, primary=theirs[0].kid)
    return Keys(identity, identity.public(), sender, sender.public())


# -- crafting ---------------------------------------------------------------------------------
def encrypt(keys: Keys, inner: bytes, *, wildcards: int = 0, seipd_chunk: int = 0) -> bytes:
    """``inner`` encrypted to our identity key as anybody holding the public key can, base64url.

    One PKESK naming our key, or (``wildcards``) that many wildcard PKESKs with garbage values
    and none naming us, so every trial the budget allows is spent and fails. The SEIPD is in
    ``seipd_chunk``-byte partial chunks when given.
    """
    session = os.urandom(32)
    payload = op.session_key_payload(op.SYM_AES256, session)
    (part,) = keys.identity.primary.material.encryption_parts(NOW)  # type: ignore[attr-defined]
    if wildcards:
        garbage = b"\x03" + b"\x00" * 8 + b"\x01" + op.mpi(3 << 2040)
        out = [op.packet(op.TAG_PKESK, garbage)] * wildcards
    else:
        out = [op.pkesk_packet(part.keyid, part.public_key, payload)]
    seipd = op.encrypt_seipd(session, inner)
    if seipd_chunk:
        body = op.read_packets(seipd, max_packets=1)[0][1]
        seipd = chunked(op.TAG_SEIPD, body, seipd_chunk)
    out.append(seipd)
    return b64url_encode(b"".join(out))


def chunked(tag: int, body: bytes, size: int) -> bytes:
    """A new-format packet in partial-length chunks of ``size`` (a power of two) bytes."""
    exp = size.bit_length() - 1
    parts = [bytes((0xC0 | tag,))]
    pos = 0
    while len(body) - pos > size:
        parts.append(bytes((224 + exp,)) + body[pos : pos + size])
        pos += size
    parts.append(op.encode_length(len(body) - pos) + body[pos:])
    return b"".join(parts)


def signature(
    *,
    sigtype: int = op.SIG_BINARY,
    hashalg: int = op.HASH_SHA512,
    tiny: int = 0,
    fill: tuple[int, int] = (0, 0),
) -> bytes:
    """A v4 signature naming no issuer (so ``max_trials`` sender keys are tried), with a
    creation time (so it is checked) and a garbage value. Extra subpackets of an unknown,
    non-critical type go into both areas: ``tiny`` one-octet ones, or ``fill`` = (count,
    bytes) filling each area to that many bytes with that many subpackets."""
    created = op.subpacket(op.SUB_CREATED, NOW.to_bytes(4, "big"))
    if fill[0]:
        count, size = fill
        hashed = created + filler(count - 1, size - len(created))
        unhashed = filler(count, size)
    else:
        hashed, unhashed = (created + b"\x01\x65" * tiny)[:0xFFFF], (b"\x01\x65" * tiny)[:0xFFFF]
    body = bytes((4, sigtype, op.PK_RSA, hashalg)) + struct.pack(">H", len(hashed)) + hashed
    body += struct.pack(">H", len(unhashed)) + unhashed + b"\x00\x00" + op.mpi((1 << 2047) + 1)
    return op.packet(op.TAG_SIGNATURE, body)


def filler(count: int, size: int) -> bytes:
    """``count`` subpackets of type 101 taking exactly ``size`` bytes."""
    each = -(-size // count)  # one-octet lengths while under 192
    out = op.subpacket(101, b"f" * (each - 2)) * (count - 1)
    rest = size - len(out)
    out += op.subpacket(101, b"f" * (rest - 2 if rest < 193 else rest - 3))
    assert len(out) == size
    return out


def signed_inner(data: bytes, sigs: Iterable[bytes], *, literal_chunk: int = 0) -> bytes:
    """OPS* literal Sig* around ``data``."""
    sigs = list(sigs)
    ops = b"".join(
        op.ops_packet(hashalg=op.HASH_SHA512, keyid=b"\x00" * 8, last=i == len(sigs) - 1)
        for i in range(len(sigs))
    )
    literal = b"b\x00" + NOW.to_bytes(4, "big") + data
    if literal_chunk:
        lit = chunked(op.TAG_LITERAL, literal, literal_chunk)
    else:
        lit = op.packet(op.TAG_LITERAL, literal)
    return ops + lit + b"".join(sigs)


def compressed(algo: int, inner: bytes, *, chunk: int = 0) -> bytes:
    if algo == op.COMP_BZIP2:
        body = bz2.compress(inner, 9)
    elif algo == op.COMP_NONE:
        body = inner
    else:
        body = op.compress(algo, inner)
    if chunk:
        return chunked(op.TAG_COMPRESSED, bytes((algo,)) + body, chunk)
    return op.packet(op.TAG_COMPRESSED, bytes((algo,)) + body)


def every_hasher() -> list[bytes]:
    """Six signatures, one per (signature type, digest) the open path hashes the data for."""
    return [
        signature(sigtype=t, hashalg=h)
        for t in (op.SIG_BINARY, op.SIG_TEXT)
        for h in (op.HASH_SHA256, op.HASH_SHA384, op.HASH_SHA512)
    ]


def periodic(n: int) -> bytes:
    """Data whose BZip2 block sorts into a few runs (tiny compressed) but never runs four equal
    bytes (no help from the initial run-length step): much decoding work per input byte."""
    return (b"abcdefghijklmnopqrstuvwxyz0123456789" * (n // 36 + 1))[:n]


def sixteen_to_one(n: int) -> bytes:
    """Data that ZIP compresses about 16:1: 1 KiB of fresh random bytes in every 16 KiB."""
    rng = random.Random(16)
    return b"".join(rng.randbytes(KIB) + bytes(15 * KIB) for _ in range(n // (16 * KIB)))


def armored(envelope: bytes, width: int) -> bytes:
    """The envelope as an armored message with lines of ``width`` characters."""
    body = base64.b64encode(b64url_decode(envelope))
    lines = [body[i : i + width] for i in range(0, len(body), width)]
    return b"-----BEGIN PGP MESSAGE-----\n\n" + b"\n".join(lines) + b"\n-----END PGP MESSAGE-----\n"


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    make: Callable[[Keys], bytes]
    large: bool = False  # an envelope of megabytes: left out of --quick


def _zip(
    data: Callable[[], bytes], sigs: list[bytes], algo: int = op.COMP_ZIP
) -> Callable[[Keys], bytes]:
    """A maker of a compressed, signed envelope (the data is made when the case runs)."""
    return lambda keys: encrypt(keys, compressed(algo, signed_inner(data(), sigs)))


CASES = [
    # The cases that were found first: small envelopes that cost hundreds of normal opens.
    Case("sig-flood-zip", "16 signatures, 64 KiB areas of 1-octet subpackets, ZIP",
         _zip(lambda: b"x" * 64, [signature(tiny=32767)] * 16)),
    Case("bzip2-periodic", "BZip2 of periodic data to the cap (not packets)",
         lambda keys: encrypt(keys, compressed(op.COMP_BZIP2, periodic(NEAR_CAP)))),
    Case("bzip2-to-cap", "BZip2 literal to the cap, six signatures (every hasher)",
         _zip(lambda: periodic(NEAR_CAP), every_hasher(), op.COMP_BZIP2)),
    Case("zip-to-cap", "ZIP literal of zeros to the cap, every hasher",
         _zip(lambda: bytes(NEAR_CAP), every_hasher())),
    Case("zip-chunked-literal", "ZIP literal to the cap in 256-byte partial chunks",
         lambda keys: encrypt(keys, compressed(
             op.COMP_ZIP, signed_inner(bytes(NEAR_CAP), [], literal_chunk=256)))),
    # What the bounds still let through, at the bounds.
    Case("sig-flood-at-bounds", "16 signatures, 64 subpackets and 10,000 bytes in each area",
         lambda keys: encrypt(keys, signed_inner(b"x" * 64, [signature(fill=(64, 10_000))] * 16))),
    Case("zip-at-floor", "ZIP literal of zeros to 256 KiB, every hasher",
         _zip(lambda: bytes(NEAR_FLOOR), every_hasher())),
    Case("bzip2-at-floor", "BZip2 literal of periodic data to 256 KiB, every hasher",
         _zip(lambda: periodic(NEAR_FLOOR), every_hasher(), op.COMP_BZIP2)),
    Case("sigs-no-issuer", "16 signatures naming no key: max_trials verifications each",
         lambda keys: encrypt(keys, signed_inner(b"x" * 64, [signature()] * 16))),
    Case("pkesk-wildcards", "32 wildcard PKESKs, none ours: max_trials decryptions",
         lambda keys: encrypt(keys, signed_inner(b"x" * 64, []), wildcards=32)),
    Case("ops-flood", "17 one-pass signatures and signatures (one too many)",
         lambda keys: encrypt(keys, signed_inner(b"x", [signature()] * 17))),
    Case("zip-16-to-1-to-cap", "ZIP literal at 16:1 to the cap, every hasher",
         _zip(lambda: sixteen_to_one(NEAR_CAP), every_hasher()), large=True),
    Case("bzip2-max-input", "BZip2 of 248 KiB of random data (under its input bound), every hasher",
         _zip(lambda: os.urandom(248 * KIB), every_hasher(), op.COMP_BZIP2)),
    Case("bzip2-random-4MiB", "BZip2 of 4 MiB of random data (over its input bound)",
         _zip(lambda: os.urandom(NEAR_CAP), [], op.COMP_BZIP2), large=True),
    Case("pkesk-wildcards-max", "32 wildcard PKESKs, none ours, around a 6 MiB SEIPD",
         lambda keys: encrypt(keys, signed_inner(os.urandom(NEAR_ENVELOPE), []), wildcards=32),
         large=True),
    Case("chunked-max-envelope", "SEIPD, compressed(0) and literal in 256-byte chunks",
         lambda keys: encrypt(keys, compressed(
             op.COMP_NONE, signed_inner(os.urandom(4 * MIB - 4 * KIB), [], literal_chunk=256),
             chunk=256), seipd_chunk=256), large=True),
    Case("max-envelope-every-hasher", "4 MiB literal, every hasher, no compression",
         lambda keys: encrypt(keys, signed_inner(os.urandom(4 * MIB - 4 * KIB), every_hasher())),
         large=True),
    Case("armor-short-lines", "armored 4 MiB message, lines of 48 characters (the bound)",
         lambda keys: armored(encrypt(keys, signed_inner(os.urandom(4 * MIB - 4 * KIB), [])), 48),
         large=True),
]  # fmt: skip


# -- timing -----------------------------------------------------------------------------------
def outcome(keys: Keys, envelope: bytes) -> str:
    try:
        ge.open(envelope, identities=keys.identity, senders=keys.sender_public)
    except (ge.InvalidEnvelope, ge.InvalidSignature) as e:
        return type(e).__name__
    return "opened"


def timed(keys: Keys, envelope: bytes, repeat: int) -> float:
    """Median seconds of one open, in batches of at least ~50 ms."""
    timer = timeit.Timer(lambda: outcome(keys, envelope))
    number, _ = timer.autorange()
    number = max(1, number // 4)
    return statistics.median(t / number for t in timer.repeat(repeat, number))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument("--quick", action="store_true", help="small cases, fewer repeats")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else 7
    keys = make_keys()
    small = ge.seal(os.urandom(KIB), recipients=keys.identity_public, signer=keys.sender)
    base = timed(keys, small, repeat)
    large = ge.seal(os.urandom(4 * MIB), recipients=keys.identity_public, signer=keys.sender)
    big = timed(keys, large, 3)
    per_byte = (big - base) / (len(large) - len(small))

    def row(name: str, what: str, env: bytes, seconds: float) -> dict[str, object]:
        same_size = base + per_byte * (len(env) - len(small))
        return {"case": name, "bytes": len(env), "outcome": outcome(keys, env),
                "ms": round(seconds * 1e3, 3), "x_normal": round(seconds / base, 2),
                "x_size": round(seconds / same_size, 2), "what": what}  # fmt: skip

    rows = [row("normal-1KiB", "a 1 KiB signed envelope (the unit)", small, base),
            row("normal-4MiB", "a 4 MiB signed envelope", large, big)]  # fmt: skip
    for case in CASES:
        if args.quick and case.large:
            continue
        env = case.make(keys)
        rows.append(row(case.name, case.what, env, timed(keys, env, repeat)))
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    print(f"{'case':<26} {'bytes':>9} {'outcome':<17} {'ms':>8} {'x normal':>9} {'x size':>7}")
    for r in rows:
        print(f"{r['case']:<26} {r['bytes']:>9} {r['outcome']:<17} {r['ms']:>8.2f} "
              f"{r['x_normal']:>9.1f} {r['x_size']:>7.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
