"""Building v4 RSA key packets and transferable keys (what `generate_pgp_key` makes)."""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.asymmetric import rsa

from ..._keyops import RSAPrivateOps
from . import wire as op
from ._selfsig import fingerprint, framed, uid_prefix

__all__ = ["build_public_key", "build_secret_key", "public_key_body", "secret_key_body"]


def public_key_body(key: rsa.RSAPublicKey, created: int) -> bytes:
    """A v4 RSA public key packet body."""
    numbers = key.public_numbers()
    return (
        b"\x04"
        + struct.pack(">I", created)
        + bytes((op.PK_RSA,))
        + op.mpi(numbers.n)
        + op.mpi(numbers.e)
    )


def secret_key_body(key: rsa.RSAPrivateKey, created: int) -> bytes:
    """A v4 RSA secret key packet body, unprotected (S2K usage 0, two-octet checksum)."""
    numbers = key.private_numbers()
    # RFC 4880 5.5.3: p < q and u = p^-1 mod q (cryptography's iqmp is the other way round).
    p, q = sorted((numbers.p, numbers.q))
    secret = op.mpi(numbers.d) + op.mpi(p) + op.mpi(q) + op.mpi(rsa.rsa_crt_iqmp(q, p))
    checksum = struct.pack(">H", sum(secret) & 0xFFFF)
    return public_key_body(key.public_key(), created) + b"\x00" + secret + checksum


def build_secret_key(
    *,
    uid: str,
    primary: rsa.RSAPrivateKey,
    subkey: rsa.RSAPrivateKey,
    created: int,
    expires_after: int,
) -> bytes:
    """A transferable secret key: primary (certify, sign) with one user id, one encryption
    subkey; SHA384 self-signatures; both expire ``expires_after`` seconds after ``created``;
    preferences AES256/AES192/AES128, SHA384/SHA512/SHA256, ZIP/ZLIB/uncompressed, MDC."""
    return _build(
        uid=uid,
        primary=primary,
        subkey=subkey.public_key(),
        created=created,
        expires_after=expires_after,
        secrets=(secret_key_body(primary, created), secret_key_body(subkey, created)),
    )


def build_public_key(
    *,
    uid: str,
    primary: RSAPrivateOps,
    subkey: rsa.RSAPublicKey,
    created: int,
    expires_after: int,
) -> bytes:
    """The transferable public key of `build_secret_key`, its self-signatures made by
    ``primary``'s private half wherever it is held (a token key signs in the token)."""
    return _build(
        uid=uid,
        primary=primary,
        subkey=subkey,
        created=created,
        expires_after=expires_after,
        secrets=None,
    )


def _build(
    *,
    uid: str,
    primary: RSAPrivateOps,
    subkey: rsa.RSAPublicKey,
    created: int,
    expires_after: int,
    secrets: tuple[bytes, bytes] | None,
) -> bytes:
    pub = public_key_body(primary.public_key(), created)
    sub_pub = public_key_body(subkey, created)
    fpr = fingerprint(pub)
    when = struct.pack(">I", created)
    expiry = struct.pack(">I", expires_after)
    issuer = op.subpacket(op.SUB_ISSUER_FINGERPRINT, b"\x04" + fpr)
    unhashed = op.subpacket(op.SUB_ISSUER, fpr[-8:])
    uid_bytes = uid.encode("utf-8")
    cert = op.signature_body(
        primary,
        sigtype=op.SIG_CERT_POSITIVE,
        hashalg=op.HASH_SHA384,
        hashed=op.subpacket(op.SUB_CREATED, when)
        + op.subpacket(op.SUB_KEY_FLAGS, bytes((op.FLAG_CERTIFY | op.FLAG_SIGN,)))
        + op.subpacket(op.SUB_KEY_EXPIRES, expiry)
        + op.subpacket(
            op.SUB_PREFERRED_SYMMETRIC, bytes((op.SYM_AES256, op.SYM_AES192, op.SYM_AES128))
        )
        + op.subpacket(
            op.SUB_PREFERRED_HASH, bytes((op.HASH_SHA384, op.HASH_SHA512, op.HASH_SHA256))
        )
        + op.subpacket(
            op.SUB_PREFERRED_COMPRESSION, bytes((op.COMP_ZIP, op.COMP_ZLIB, op.COMP_NONE))
        )
        + op.subpacket(op.SUB_FEATURES, b"\x01")
        + op.subpacket(op.SUB_PRIMARY_UID, b"\x01")
        + issuer,
        unhashed=unhashed,
        data=(framed(pub), uid_prefix(op.TAG_USER_ID, uid_bytes)),
    )
    binding = op.signature_body(
        primary,
        sigtype=op.SIG_SUBKEY_BINDING,
        hashalg=op.HASH_SHA384,
        hashed=op.subpacket(op.SUB_CREATED, when)
        + op.subpacket(op.SUB_KEY_FLAGS, bytes((op.FLAG_ENCRYPT,)))
        + op.subpacket(op.SUB_KEY_EXPIRES, expiry)
        + issuer,
        unhashed=unhashed,
        data=(framed(pub), framed(sub_pub)),
    )
    if secrets is None:
        key_packet = op.packet(op.TAG_PUBLIC_KEY, pub)
        sub_packet = op.packet(op.TAG_PUBLIC_SUBKEY, sub_pub)
    else:
        key_packet = op.packet(op.TAG_SECRET_KEY, secrets[0])
        sub_packet = op.packet(op.TAG_SECRET_SUBKEY, secrets[1])
    return b"".join(
        (
            key_packet,
            op.packet(op.TAG_USER_ID, uid_bytes),
            op.packet(op.TAG_SIGNATURE, cert),
            sub_packet,
            op.packet(op.TAG_SIGNATURE, binding),
        )
    )
