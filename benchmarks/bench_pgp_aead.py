"""Opening RFC 9580 messages (PKESK v6 + SEIPD v2) next to the raw floor: the same RSA
PKCS#1 v1.5 decryption, HKDF-SHA256, AEAD (every chunk and the final tag), SHA384 and RSA
signature check done with `cryptography` directly, with no packets or base64.

    python benchmarks/bench_pgp_aead.py            # table: RSA-2048 and 3072, 1 KiB and 64 KiB
    python benchmarks/bench_pgp_aead.py --json     # one JSON object per row
    python benchmarks/bench_pgp_aead.py --quick    # 1 KiB, RSA-2048 only, fewer repeats

One recipient and one signer, as an RFC 9580 peer sends to a partner: the signed literal data
that `seal` writes, re-encrypted as SEIPD v2 (AES-256, 4 KiB chunks) to the recipient's
subkey with a v6 PKESK naming its fingerprint. Keys are loaded once; ours and the floor are
timed in alternating batches (bench_pgp.interleaved). EAX has no `cryptography` class: its
floor is the same AES-CTR and CMAC calls that wire/aead.py makes, as little as EAX needs.
Target: open of 1 KiB with RSA-2048 within 1.3x the floor, in every mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from collections.abc import Callable
from functools import partial

from bench_jwe import payload
from bench_pgp import PKCS1, SHA384, _secret, interleaved, size_arguments, size_plan
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESOCB3
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode
from gpay_envelope.codecs.pgp import generate_pgp_key
from gpay_envelope.codecs.pgp import wire as op

SIZES = {"1KiB": 1024, "64KiB": 64 << 10}
CHUNK_OCTET = 6  # 4 KiB chunks: 1 KiB is one chunk, 64 KiB sixteen
NONCE = {op.AEAD_EAX: 16, op.AEAD_OCB: 15, op.AEAD_GCM: 12}


def _aead(mode: int, key: bytes) -> AESOCB3 | AESGCM | op.EAX:
    if mode == op.AEAD_OCB:
        return AESOCB3(key)
    if mode == op.AEAD_GCM:
        return AESGCM(key)
    return op.EAX(key)


def _one(key: ge.Key) -> ge.KeySet:
    return ge.KeySet([key], primary=key.kid)


def _signed_inner(pt: bytes, recipient: ge.Key, signer: ge.Key) -> bytes:
    """The packets inside the encryption that `seal` writes (OPS, literal, signature)."""
    env = ge.seal(pt, recipients=_one(recipient), signer=_one(signer))
    (_, pkesk), (_, seipd) = op.read_packets(b64url_decode(env), max_packets=2)
    parsed = op.parse_pkesk(pkesk)
    assert parsed is not None
    plain = _secret(recipient, 1).decrypt(parsed[2], PKCS1)  # type: ignore[attr-defined]
    inner = op.decrypt_seipd(plain[1:-2], seipd)
    assert inner is not None
    return inner


def message(recipient: ge.Key, inner: bytes, mode: int) -> tuple[bytes, bytes, bytes]:
    """(envelope, PKESK v6 value, SEIPD v2 body) carrying ``inner``, chunked as RFC 9580 says."""
    part = recipient.material.parts[1]  # type: ignore[attr-defined]
    session_key = os.urandom(32)
    checksum = struct.pack(">H", sum(session_key) & 0xFFFF)
    value = part.public_key.encrypt(session_key + checksum, PKCS1)
    head = bytes((2, op.SYM_AES256, mode, CHUNK_OCTET)) + os.urandom(op.SALT_SIZE)
    key, iv = op.message_key(session_key, head)
    aead, ad = _aead(mode, key), bytes((0xC0 | op.TAG_SEIPD,)) + head[:4]
    size = 1 << (CHUNK_OCTET + 6)
    body = bytearray(head)
    for index, start in enumerate(range(0, len(inner), size)):
        body += aead.encrypt(iv + struct.pack(">Q", index), inner[start : start + size], ad)
    final = iv + struct.pack(">Q", -(-len(inner) // size))
    body += aead.encrypt(final, b"", ad + struct.pack(">Q", len(inner)))
    recipient_id = b"\x15\x04" + part.fingerprint
    pkesk = b"\x06" + recipient_id + bytes((op.PK_RSA,)) + op.mpi(int.from_bytes(value, "big"))
    env = op.packet(op.TAG_PKESK, pkesk) + op.packet(op.TAG_SEIPD, bytes(body))
    return env, value, bytes(body)


def floor_open(
    enc_key: object, sig_pub: object, value: bytes, body: bytes, pt: bytes, sig: bytes
) -> Callable[[], object]:
    """RSA decrypt, HKDF-SHA256, every chunk and the final tag, SHA384 over the payload and the
    RSA signature check: the work and nothing else (no packet is parsed)."""
    mode, info = body[2], bytes((0xC0 | op.TAG_SEIPD,)) + body[:4]
    salt, data, final_tag = body[4:36], body[36:-16], body[-16:]
    step = (1 << (CHUNK_OCTET + 6)) + 16

    def run() -> object:
        sk = enc_key.decrypt(value, PKCS1)  # type: ignore[attr-defined]
        okm = HKDF(hashes.SHA256(), 32 + NONCE[mode] - 8, salt, info).derive(sk[:32])
        aead, iv = _aead(mode, okm[:32]), okm[32:]
        out = bytearray()
        for index, start in enumerate(range(0, len(data), step)):
            out += aead.decrypt(iv + struct.pack(">Q", index), data[start : start + step], info)
        count = -(-len(data) // step)
        aead.decrypt(iv + struct.pack(">Q", count), final_tag, info + struct.pack(">Q", len(out)))
        sig_pub.verify(sig, hashlib.sha384(pt).digest(), PKCS1, SHA384)  # type: ignore[attr-defined]
        return out

    return run


def main(argv: list[str] | None = None) -> int:
    args = size_arguments(__doc__, quick_repeat=3).parse_args(argv)
    repeat, sizes, bits_list = size_plan(args, SIZES, quick_repeat=3)
    rows: list[dict[str, object]] = []
    for bits in bits_list:
        recipient = generate_pgp_key(uid="bench recipient <r@example.com>", size=bits)
        signer = generate_pgp_key(uid="bench signer <s@example.com>", size=bits)
        ids, senders = _one(recipient), _one(signer).public()
        enc_priv, sig_priv = _secret(recipient, 1), _secret(signer, 0)
        for label, size in sizes.items():
            pt = payload(size)
            inner = _signed_inner(pt, recipient, signer)
            # A valid signature over the payload for the floor (PKCS#1 v1.5 is deterministic
            # work to verify, whatever it signs).
            sig = sig_priv.sign(hashlib.sha384(pt).digest(), PKCS1, SHA384)  # type: ignore[attr-defined]
            fns: dict[str, Callable[[], object]] = {}
            for mode, name in op.AEAD_NAMES.items():
                env, value, body = message(recipient, inner, mode)
                fns[name] = partial(ge.open, env, identities=ids, senders=senders)
                if fns[name]() != pt:
                    raise SystemExit(f"{name}: open returned something else")
                fns[name + "_floor"] = floor_open(
                    enc_priv, sig_priv.public_key(), value, body, pt, sig  # type: ignore[attr-defined]
                )
            t = interleaved(fns, repeat)
            for name in op.AEAD_NAMES.values():
                rows.append(
                    {
                        "mode": name,
                        "size": label,
                        "rsa_bits": bits,
                        "open_us": round(t[name] * 1e6, 1),
                        "floor_us": round(t[name + "_floor"] * 1e6, 1),
                        "open_x": round(t[name] / t[name + "_floor"], 2),
                    }
                )
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(f"{'mode':<5} {'size':<6} {'bits':>5} {'open us':>9} {'floor us':>9} {'x':>6}")
        for r in rows:
            print(
                f"{r['mode']:<5} {r['size']:<6} {r['rsa_bits']:>5} {r['open_us']:>9} "
                f"{r['floor_us']:>9} {r['open_x']:>6}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
