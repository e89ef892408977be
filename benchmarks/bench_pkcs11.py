"""Open and seal with a key held in a PKCS#11 token (SoftHSM2) next to the same key in memory.

    python benchmarks/bench_pkcs11.py            # table: JWE (RSA1_5, RSA-OAEP-256) and PGP
    python benchmarks/bench_pkcs11.py --json     # one JSON object per row
    python benchmarks/bench_pkcs11.py --quick    # fewer repeats (the CI smoke run)

One in-memory RSA-2048 key is imported into a fresh SoftHSM2 token in a temporary directory,
so both columns use the very same key; only where its private operations run differs. The
ratio is token / memory, measured in alternating batches (medians). A network HSM adds its
round trip to every private operation on top of what SoftHSM2 shows here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from bench_pgp import interleaved
from cryptography.hazmat.primitives import serialization

import gpay_envelope as ge
from gpay_envelope.codecs.jwe import key_to_jwk
from gpay_envelope.codecs.pgp import generate_pgp_key, key_to_pgp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
import softhsm as hsm

MSG = b'{"requestHeader": {"requestId": "bench"}, "amount": "1.00"}' * 16  # about 1 KiB


def _import(token: object, private: object, label: str) -> None:
    """Put an in-memory RSA private key into the token (the same key in both columns)."""
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.util.rsa import decode_rsa_private_key

    der = private.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    attrs = decode_rsa_private_key(der)
    attrs.update(
        {
            Attribute.TOKEN: True,
            Attribute.LABEL: label,
            Attribute.SENSITIVE: True,
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.ID: label.encode(),
        }
    )
    token.call(lambda s: s.create_object(attrs))  # type: ignore[attr-defined]


def _pair(memory: ge.Key, held: ge.Key) -> tuple[ge.KeySet, ge.KeySet]:
    return ge.KeySet([memory], primary=memory.kid), ge.KeySet([held], primary=held.kid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    module = hsm.module_path()
    if module is None:
        sys.exit("softhsm2 is not installed (apt-get install softhsm2)")
    from gpay_envelope.pkcs11 import open_token, token_key

    root = Path(tempfile.mkdtemp(prefix="bench-softhsm-"))
    box = hsm.SoftHSM(root, module)
    box.init()
    os.environ[hsm.PIN_ENV] = hsm.PIN
    token = open_token(box.uri(), pin_env=hsm.PIN_ENV)
    repeat = 3 if args.quick else 9
    rows = []

    enc = ge.generate_key(kid="bench-enc", size=2048, algorithms=["RSA1_5", "RSA-OAEP-256"])
    sig = ge.generate_key(kid="bench-sig", size=2048, use="sig")
    peer = ge.generate_key(kid="bench-peer", size=2048, use="sig")
    for key, label in ((enc, "bench-enc"), (sig, "bench-sig")):
        _import(token, key.material.native, label)  # type: ignore[attr-defined]
    held = {
        k.kid: token_key(box.uri(k.kid), public=json.dumps(key_to_jwk(k)), pin_env=hsm.PIN_ENV,
                         algorithms=sorted(k.algorithms))
        for k in (enc, sig)
    }  # fmt: skip
    mem_ids, tok_ids = _pair(enc, held["bench-enc"])
    mem_sig, tok_sig = _pair(sig, held["bench-sig"])
    peer_set = ge.KeySet([peer], primary=peer.kid)
    for profile in ("legacy", "signed"):
        env = ge.seal(MSG, recipients=mem_ids.public(), signer=peer_set, codec="jwe",
                      profile=profile)  # fmt: skip
        times = interleaved({
            "memory": lambda e=env: ge.open(e, identities=mem_ids, senders=peer_set.public()),
            "token": lambda e=env: ge.open(e, identities=tok_ids, senders=peer_set.public()),
        }, repeat)  # fmt: skip
        rows.append(("jwe", f"open {profile} ({'RSA1_5' if profile == 'legacy' else 'OAEP-256'})",
                     times))  # fmt: skip
    times = interleaved({
        "memory": lambda: ge.seal(MSG, recipients=mem_ids.public(), signer=mem_sig, codec="jwe"),
        "token": lambda: ge.seal(MSG, recipients=mem_ids.public(), signer=tok_sig, codec="jwe"),
    }, repeat)  # fmt: skip
    rows.append(("jwe", "seal (RS256 signature)", times))

    pgp = generate_pgp_key(uid="Bench <bench@example.com>", size=2048)
    secrets = pgp.material._secrets  # type: ignore[attr-defined]
    for i, private in enumerate(secrets.values()):
        _import(token, private, f"bench-pgp-{i}")
    pgp_held = token_key(box.uri(), public=key_to_pgp(pgp), pin_env=hsm.PIN_ENV)
    mem_p, tok_p = _pair(pgp, pgp_held)
    env = ge.seal(MSG, recipients=mem_p.public(), signer=None, allow_unsigned=True, codec="pgp")
    times = interleaved({
        "memory": lambda: ge.open(env, identities=mem_p, senders=None, allow_unsigned=True),
        "token": lambda: ge.open(env, identities=tok_p, senders=None, allow_unsigned=True),
    }, repeat)  # fmt: skip
    rows.append(("pgp", "open (PKESK, PKCS#1 v1.5)", times))
    times = interleaved({
        "memory": lambda: ge.seal(MSG, recipients=mem_p.public(), signer=mem_p, codec="pgp"),
        "token": lambda: ge.seal(MSG, recipients=mem_p.public(), signer=tok_p, codec="pgp"),
    }, repeat)  # fmt: skip
    rows.append(("pgp", "seal (SHA384 signature)", times))

    if args.json:
        for codec, what, t in rows:
            print(json.dumps({"codec": codec, "operation": what, "memory_ms": t["memory"] * 1e3,
                              "token_ms": t["token"] * 1e3,
                              "ratio": t["token"] / t["memory"]}))  # fmt: skip
        return
    print(f"{'codec':5} {'operation':32} {'memory ms':>10} {'token ms':>10} {'ratio':>6}")
    for codec, what, t in rows:
        print(f"{codec:5} {what:32} {t['memory'] * 1e3:10.2f} {t['token'] * 1e3:10.2f} "
              f"{t['token'] / t['memory']:6.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
