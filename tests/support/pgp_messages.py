"""Messages for the pgp codec tests: the test message sealed to and opened with a Party's keys,
and inner contents built by hand, the way anyone holding our public key can build them."""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric import rsa
from pgp_fixtures import DAY, YEAR, Party, Spec, Sub, build_key, encrypt_raw, load, rsa_key

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import wire as op

MSG = b'{"requestHeader": {"requestId": "abc"}, "amount": "1000"}'
NOW = int(time.time())
T0 = NOW - DAY


def unix_now() -> int:
    """The time now. Not NOW: the session's keys may be made after this module is imported,
    and a signature older than its key does not count."""
    return int(time.time())


def seal(party: Party, to: tuple[str, ...], by: tuple[str, ...] | None, **kw: object) -> bytes:
    """MSG sealed to the named keys, signed by the named keys (unsigned when ``by`` is None)."""
    signer = party.secret(*by) if by else None
    return ge.seal(
        MSG,
        recipients=party.public(*to),
        signer=signer,
        codec="pgp",
        allow_unsigned=signer is None,
        **kw,  # type: ignore[arg-type]
    )


def open_(
    party: Party, env: bytes | str, ids: tuple[str, ...], senders: tuple[str, ...], **kw: object
) -> ge.OpenResult:
    """``env`` opened with the named identities, trusting the named senders."""
    return ge.open_detailed(
        env,
        identities=party.secret(*ids),
        senders=party.public(*senders),
        **kw,  # type: ignore[arg-type]
    )


def signed_inner(
    signers: list[ge.Key],
    data: bytes,
    *,
    hashalg: int = op.HASH_SHA384,
    extra: bytes = b"",
    sigtype: int = op.SIG_BINARY,
    created: int | None = None,
) -> bytes:
    """OPS packets, a literal packet and one signature per signer (the first signer's OPS
    innermost): the inner content of a signed message, built by hand."""
    now = int(time.time()) if created is None else created
    ops, sigs = [], []
    for i, key in enumerate(signers):
        part, private = key.material.signing_part(now)  # type: ignore[attr-defined]
        hashed = (
            op.subpacket(op.SUB_CREATED, now.to_bytes(4, "big"))
            + op.subpacket(op.SUB_ISSUER, part.keyid)
            + extra
        )
        body = op.signature_body(
            private, sigtype=sigtype, hashalg=hashalg, hashed=hashed, unhashed=b"", data=(data,)
        )
        sigs.append(op.packet(op.TAG_SIGNATURE, body))
        ops.insert(0, op.ops_packet(hashalg=hashalg, keyid=part.keyid, last=i == 0))
    return b"".join((*ops, op.literal_packet(data, when=now), *sigs))


def old_pair() -> tuple[ge.Key, ge.Key, datetime]:
    """A signer that expired a year ago and a recipient that is still valid, both made three
    years ago, and a time when both were valid."""
    old = int(time.time()) - 3 * YEAR
    signer = load(Spec(slot=5, created=old, expires_after=2 * YEAR, subkeys=(Sub(slot=6),)))
    recipient = load(
        Spec(
            slot=7,
            created=old,
            expires_after=5 * YEAR,
            subkeys=(Sub(slot=8, expires_after=5 * YEAR),),
        )
    )
    return signer, recipient, datetime.fromtimestamp(old + DAY, timezone.utc)


def rsa2048(slot: int) -> rsa.RSAPrivateKey:
    """The cached builder key of pgp_fixtures, 2048 bits."""
    return rsa_key(slot, 2048)  # always pass the size: rsa_key(5) and rsa_key(5, 2048) differ


def framed(body: bytes) -> bytes:
    """A key packet body framed for hashing (0x99, two-octet length)."""
    return b"\x99" + struct.pack(">H", len(body)) + body


def sig_body(
    key: rsa.RSAPrivateKey,
    issuer: bytes,
    sigtype: int,
    created: int,
    data: Sequence[bytes],
    extra: bytes = b"",
) -> bytes:
    """A v4 SHA384 signature body with creation time, ``extra`` and the issuer fingerprint
    hashed."""
    hashed = (
        op.subpacket(op.SUB_CREATED, struct.pack(">I", created))
        + extra
        + op.subpacket(op.SUB_ISSUER_FINGERPRINT, b"\x04" + issuer)
    )
    return op.signature_body(
        key, sigtype=sigtype, hashalg=op.HASH_SHA384, hashed=hashed, unhashed=b"", data=data
    )


def signed_by(
    private: rsa.RSAPrivateKey, part_fpr: bytes, data: bytes = MSG, *, extra: bytes = b""
) -> bytes:
    """OPS, literal, signature: the inner content an attacker holding ``private`` can make."""
    body = sig_body(private, part_fpr, op.SIG_BINARY, unix_now(), (data,), extra)
    return (
        op.ops_packet(hashalg=op.HASH_SHA384, keyid=part_fpr[-8:], last=True)
        + op.literal_packet(data, when=unix_now())
        + op.packet(op.TAG_SIGNATURE, body)
    )


def open_inner(party: Party, inner: bytes, senders: ge.KeySet) -> ge.OpenResult:
    """Encrypt ``inner`` to g1 and open it as g1, trusting ``senders``."""
    env = encrypt_raw(inner, [party.keys["g1"]])
    return ge.open_detailed(env, identities=party.secret("g1"), senders=senders)


def signing_subkey_key(*, revoked: bool) -> bytes:
    """A certify-only primary (slot 23) with an encryption subkey and a signing subkey (slot
    24), the signing subkey revoked or not; public key data."""
    sign = Sub(slot=24, flags=op.FLAG_SIGN, revoked=revoked)
    return build_key(
        Spec(slot=23, created=T0, flags=op.FLAG_CERTIFY, subkeys=(Sub(slot=22), sign)),
        secret=False,
    )
