"""Do PKCS#1 v1.5 failure classes take distinguishable time through ``ge.open``?

    python benchmarks/timing_rsa1_5.py                 # both codecs, 2000 runs per class
    python benchmarks/timing_rsa1_5.py --codec jwe --runs 5000 --bits 3072
    python benchmarks/timing_rsa1_5.py --quick         # 300 runs per class (CI smoke)
    python benchmarks/timing_rsa1_5.py --json          # one JSON object per row

A Bleichenbacher (or Manger) attacker needs *some* observable difference between "the padding
was valid" and "it was not". ``ge.open`` gives the same error for every class (asserted in
tests/hardening/test_resource_bounds.py, with the same number of private-key operations and content
decryptions); what is left is time, measured here.

Classes (JWE RSA1_5 + A256CBC-HS512 with a kid; PGP v3 PKESK + SEIPD): encrypted keys that
are valid PKCS#1 v1.5 with a wrong CEK of the right length (the reference), with a CEK of the
wrong length, block type 3 (never valid), random residues; PGP adds session-key payloads with
a bad checksum, a refused algorithm, a wrong key size. Each class cycles through 64 different
ciphertexts. Runs of all classes are interleaved in a seeded random order (drift in a shared
CPU hits every class alike), with the garbage collector off while measuring.

Statistics, each class against the reference: medians and the 10th/90th percentiles,
Mann-Whitney U (normal approximation, tie-corrected, two-sided), Cliff's delta (the effect
size from U), and the two-sample Kolmogorov-Smirnov D with its asymptotic p. "No
distinguishable difference" means every p is above 0.01 after a Bonferroni correction over the
classes of that codec. A class the peer can tell apart by itself (a ciphertext of the wrong
length is refused by the RSA layer; the sender knows what it sent) is shown but not judged.
No third-party statistics package is needed.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import padding, rsa

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_encode
from gpay_envelope.codecs.jwe import _codec as jwe_mod
from gpay_envelope.codecs.jwe import _joserfc as jx
from gpay_envelope.codecs.pgp import generate_pgp_key
from gpay_envelope.codecs.pgp import wire as op

PKCS1 = padding.PKCS1v15()
VARIANTS = 64
ALPHA = 0.01
MSG = b'{"requestHeader":{"requestId":"timing"},"amount":"1.00"}'


# -- statistics ------------------------------------------------------------------------------
def ranks(values: Sequence[float]) -> tuple[list[float], float]:
    """Average ranks (1-based) and the tie term sum(t^3 - t)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    ties = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            out[order[k]] = rank
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    return out, ties


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided p of the Mann-Whitney U test, and Cliff's delta (P(a>b) - P(a<b))."""
    n1, n2 = len(a), len(b)
    r, ties = ranks([*a, *b])
    u1 = sum(r[:n1]) - n1 * (n1 + 1) / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    mean = n1 * n2 / 2
    z = (abs(u1 - mean) - 0.5) / sigma if sigma else 0.0
    return math.erfc(max(z, 0.0) / math.sqrt(2)), 2 * u1 / (n1 * n2) - 1


def kolmogorov_smirnov(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sample KS statistic D and its asymptotic p (Numerical Recipes' probks)."""
    sa, sb = sorted(a), sorted(b)
    i = j = 0
    d = 0.0
    while i < len(sa) and j < len(sb):
        x = min(sa[i], sb[j])
        while i < len(sa) and sa[i] == x:
            i += 1
        while j < len(sb) and sb[j] == x:
            j += 1
        d = max(d, abs(i / len(sa) - j / len(sb)))
    en = math.sqrt(len(sa) * len(sb) / (len(sa) + len(sb)))
    lam = (en + 0.12 + 0.11 / en) * d
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return d, min(max(p, 0.0), 1.0)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


# -- cases -----------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    envelopes: list[bytes]
    judged: bool = True


@dataclass
class Bench:
    codec: str
    cases: list[Case]
    open: Callable[[bytes], None]


def _block_type_3(n: int, size: int) -> bytes:
    return pow(int.from_bytes(b"\x00\x03" + b"\xff" * (size - 2), "big"), 65537, n).to_bytes(
        size, "big"
    )


def jwe_bench(bits: int) -> Bench:
    from joserfc import jwe

    key = ge.generate_key(kid="timing-enc", use="enc", size=bits, legacy=True)
    ids = ge.KeySet([key], primary=key.kid)
    pub = key.material.native.public_key()  # type: ignore[attr-defined]
    n = pub.public_numbers().n
    size = (n.bit_length() + 7) // 8
    registry = jx.registries(4 << 20, 8 << 20).jwe
    head = {"alg": "RSA1_5", "enc": "A256CBC-HS512", "kid": key.kid}
    jose = key.public().material.jose  # type: ignore[attr-defined]
    token = jwe.encrypt_compact(head, MSG, jose, registry=registry)
    h, _ek, *rest = token.encode().split(b".")

    def with_ek(make: Callable[[], bytes]) -> list[bytes]:
        return [b".".join([h, b64url_encode(make(), pad=False), *rest]) for _ in range(VARIANTS)]

    cases = [
        Case("valid padding, wrong 64-byte CEK (reference)",
             with_ek(lambda: pub.encrypt(secrets.token_bytes(64), PKCS1))),
        Case("valid padding, 32-byte CEK",
             with_ek(lambda: pub.encrypt(secrets.token_bytes(32), PKCS1))),
        Case("valid padding, empty CEK", with_ek(lambda: pub.encrypt(b"", PKCS1))),
        Case("block type 3 (invalid padding)", with_ek(lambda: _block_type_3(n, size))),
        Case("random residue", with_ek(
            lambda: (int.from_bytes(secrets.token_bytes(size), "big") % n).to_bytes(size, "big"))),
        Case("ciphertext one byte short (public)", with_ek(lambda: secrets.token_bytes(size - 1)),
             judged=False),
        Case("valid envelope (opens; reference only)", [token.encode()], judged=False),
    ]  # fmt: skip

    def open_(envelope: bytes) -> None:
        try:
            ge.open(envelope, identities=ids, senders=None, allow_unsigned=True)
        except ge.InvalidEnvelope:
            pass

    return Bench("jwe", cases, open_)


def pgp_bench(bits: int) -> Bench:
    key = generate_pgp_key(uid="timing <timing@example.com>", size=bits)
    ids = ge.KeySet([key], primary=key.kid)
    (part,) = [p for p in key.material.parts if p.can_encrypt()]  # type: ignore[attr-defined]
    pub: rsa.RSAPublicKey = part.public_key
    n = pub.public_numbers().n
    size = (n.bit_length() + 7) // 8
    session = secrets.token_bytes(32)
    good = ge.seal(MSG, recipients=ids.public(), signer=None, allow_unsigned=True)
    from gpay_envelope._b64 import b64url_decode

    (_, _pkesk), (_, seipd) = op.read_packets(b64url_decode(good), max_packets=5)
    body = op.packet(op.TAG_SEIPD, seipd)

    def envelope(value: bytes) -> bytes:
        mpi = op.mpi(int.from_bytes(value, "big"))
        return op.packet(op.TAG_PKESK, b"\x03" + part.keyid + b"\x01" + mpi) + body

    def payloads(make: Callable[[], bytes]) -> list[bytes]:
        return [envelope(pub.encrypt(make(), PKCS1)) for _ in range(VARIANTS)]

    def checksum_off() -> bytes:
        p = op.session_key_payload(op.SYM_AES256, secrets.token_bytes(32))
        return p[:-1] + bytes((p[-1] ^ 1,))

    cases = [
        Case("valid, wrong AES256 session key (reference)",
             payloads(lambda: op.session_key_payload(op.SYM_AES256, secrets.token_bytes(32)))),
        Case("bad checksum", payloads(checksum_off)),
        Case("CAST5 (refused algorithm)",
             payloads(lambda: op.session_key_payload(3, session[:16]))),
        Case("AES256 with a 16-byte key", payloads(
            lambda: op.session_key_payload(op.SYM_AES256, secrets.token_bytes(16)))),
        Case("block type 3 (invalid padding)",
             [envelope(_block_type_3(n, size)) for _ in range(VARIANTS)]),
        Case("random residue", [envelope(
            (int.from_bytes(secrets.token_bytes(size), "big") % n).to_bytes(size, "big"))
            for _ in range(VARIANTS)]),
        Case("valid envelope (opens; reference only)", [good], judged=False),
    ]  # fmt: skip
    senders = ids.public()

    def open_(env: bytes) -> None:
        try:
            ge.open(env, identities=ids, senders=senders, allow_unsigned=True)
        except ge.InvalidEnvelope:
            pass

    return Bench("pgp", cases, open_)


# -- measuring -------------------------------------------------------------------------------
def measure(bench: Bench, runs: int, seed: int) -> dict[str, list[float]]:
    rnd = random.Random(seed)
    schedule = [i for i in range(len(bench.cases)) for _ in range(runs)]
    rnd.shuffle(schedule)
    times: dict[str, list[float]] = {c.name: [] for c in bench.cases}
    counters = [0] * len(bench.cases)
    for i in range(min(300, len(schedule))):  # warm-up: caches, registries, branch predictors
        case = bench.cases[schedule[i]]
        bench.open(case.envelopes[i % len(case.envelopes)])
    clock = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for idx in schedule:
            case = bench.cases[idx]
            env = case.envelopes[counters[idx] % len(case.envelopes)]
            counters[idx] += 1
            t0 = clock()
            bench.open(env)
            times[case.name].append((clock() - t0) / 1000)
    finally:
        gc.enable()
    return times


def analyse(bench: Bench, times: dict[str, list[float]]) -> list[dict[str, object]]:
    ref_name = bench.cases[0].name
    ref = times[ref_name]
    judged = [c for c in bench.cases[1:] if c.judged]
    threshold = ALPHA / max(1, len(judged))
    rows: list[dict[str, object]] = []
    for case in bench.cases:
        t = sorted(times[case.name])
        row: dict[str, object] = {
            "codec": bench.codec,
            "class": case.name,
            "n": len(t),
            "median_us": round(statistics.median(t), 1),
            "p10_us": round(quantile(t, 0.1), 1),
            "p90_us": round(quantile(t, 0.9), 1),
        }
        if case.name != ref_name:
            p_mw, delta = mann_whitney(times[case.name], ref)
            d, p_ks = kolmogorov_smirnov(times[case.name], ref)
            row.update(
                median_diff_us=round(statistics.median(t) - statistics.median(ref), 1),
                mw_p=round(p_mw, 4),
                cliffs_delta=round(delta, 3),
                ks_d=round(d, 3),
                ks_p=round(p_ks, 4),
                judged=case.judged,
                distinguishable=case.judged and min(p_mw, p_ks) < threshold,
            )
        rows.append(row)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    head = ("codec", "class", "n", "median_us", "p10_us", "p90_us", "median_diff_us", "mw_p",
            "cliffs_delta", "ks_d", "ks_p", "distinguishable")  # fmt: skip
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for row in rows:
        lines.append(" | ".join(str(row.get(h, "")) for h in head))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", choices=("jwe", "pgp", "both"), default="both")
    parser.add_argument("--runs", type=int, default=2000, help="runs per class")
    parser.add_argument("--bits", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="300 runs per class")
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args(argv[1:])
    runs = 300 if opts.quick else opts.runs
    codecs = ("jwe", "pgp") if opts.codec == "both" else (opts.codec,)
    if not jwe_mod.implicit_rejection_ok():
        print("the RSA backend does no implicit rejection: RSA1_5 is refused on open",
              file=sys.stderr)  # fmt: skip
    rows: list[dict[str, object]] = []
    verdicts = []
    for codec in codecs:
        bench = jwe_bench(opts.bits) if codec == "jwe" else pgp_bench(opts.bits)
        started = time.perf_counter()
        result = analyse(bench, measure(bench, runs, opts.seed))
        rows += result
        bad = [str(r["class"]) for r in result if r.get("distinguishable")]
        verdict = "DISTINGUISHABLE: " + ", ".join(bad) if bad else "no distinguishable difference"
        verdicts.append(
            f"{codec}: {verdict} "
            f"(alpha {ALPHA}, Bonferroni; {runs} runs per class, RSA-{opts.bits}, "
            f"{time.perf_counter() - started:.0f} s)"
        )
    if opts.json:
        for row in rows:
            print(json.dumps(row))
    else:
        import cryptography
        from cryptography.hazmat.backends.openssl.backend import backend

        print(f"python {sys.version.split()[0]}, cryptography {cryptography.__version__}, "
              f"{backend.openssl_version_text()}, pid {os.getpid()}")  # fmt: skip
        print(table(rows))
        print("\n".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
