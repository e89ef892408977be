"""Which parts of a pgp key are used: identity and binding, expiry (of the key, a subkey's
binding, a user ID certification), unusable or unbound subkeys, back signatures, and the keys
refused at load."""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest
from pgp_fixtures import (
    DAY,
    YEAR,
    Party,
    Spec,
    Sub,
    build_key,
    keyset,
    load,
    packets_of,
)
from pgp_messages import (
    MSG,
    NOW,
    T0,
    framed,
    old_pair,
    rsa2048,
    sig_body,
    unix_now,
)

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import PGPMaterial, keys_from_pgp
from gpay_envelope.codecs.pgp import wire as op
from gpay_envelope.codecs.pgp._keys import fingerprint, public_key_body


def test_key_identity_and_binding(pgp_keys: Party) -> None:
    key = pgp_keys.keys["p1"]
    assert re.fullmatch(r"[0-9A-F]{40}", key.kid)
    assert key.algorithms == frozenset({"openpgp"}) and key.use is None and key.codec == "pgp"
    assert key.kty == "RSA" and key.size == 2048 and key.has_secret
    assert isinstance(key.material, PGPMaterial)
    assert key.not_after is not None and key.not_after == key.material.expires
    assert key.material.expires.tzinfo is not None
    assert key.material.user_ids == ("p1 <p1@example.com>",)


def test_expired_primary_loads_but_is_never_used(pgp_keys: Party) -> None:
    expired, recipient, then = old_pair()
    assert expired.not_after == datetime.fromtimestamp(
        expired.material.parts[0].created + 2 * YEAR,
        timezone.utc,  # type: ignore[attr-defined]
    )
    assert not expired.usable_at(datetime.now(timezone.utc))
    with pytest.raises(ge.SealError):
        ge.seal(MSG, recipients=keyset(expired.public()), signer=pgp_keys.secret("p1"))
    with pytest.raises(ge.SealError):
        ge.seal(MSG, recipients=pgp_keys.public("g1"), signer=keyset(expired))
    # Beside a valid key it is skipped, not an error: rotation keeps working.
    mixed = keyset(pgp_keys.keys["g1"].public(), expired.public())
    env = ge.seal(MSG, recipients=mixed, signer=pgp_keys.secret("p1"))
    assert [t for t, _ in packets_of(env)] == [op.TAG_PKESK, op.TAG_SEIPD]
    # Our own expired key still decrypts what was sent to it before it expired.
    env = ge.seal(MSG, recipients=keyset(expired.public()), signer=keyset(recipient), now=then)
    assert ge.open(env, identities=keyset(expired), senders=keyset(recipient.public())) == MSG


@pytest.mark.parametrize(
    "sub",
    [
        Sub(slot=3, expires_after=DAY // 2),  # expired subkey
        Sub(slot=3, revoked=True),
        Sub(slot=3, forge="foreign"),
        Sub(slot=3, forge="corrupt"),
        Sub(slot=3, flags=op.FLAG_SIGN),  # no encryption flag
        Sub(slot=3, flags=0),
    ],
    ids=["expired", "revoked", "foreign-binding", "corrupt-binding", "sign-only", "no-flags"],
)
def test_unusable_encryption_subkeys_are_never_encrypted_to(pgp_keys: Party, sub: Sub) -> None:
    key = load(Spec(slot=2, subkeys=(sub,)), secret=False)
    with pytest.raises(ge.SealError, match=key.kid):
        ge.seal(MSG, recipients=keyset(key), signer=pgp_keys.secret("p1"))


def test_a_good_subkey_beside_a_bad_one_is_used(pgp_keys: Party) -> None:
    key = load(Spec(slot=2, subkeys=(Sub(slot=3, forge="foreign"), Sub(slot=4))))
    parts = key.material.parts  # type: ignore[attr-defined]
    assert len(parts) == 2
    env = ge.seal(MSG, recipients=keyset(key.public()), signer=pgp_keys.secret("p1"))
    (pkesk, _), (seipd, _) = packets_of(env)
    assert (pkesk, seipd) == (op.TAG_PKESK, op.TAG_SEIPD)
    assert packets_of(env)[0][1][1:9] == parts[1].keyid
    assert ge.open(env, identities=keyset(key), senders=pgp_keys.public("p1")) == MSG


def test_signing_subkeys_need_a_back_signature(pgp_keys: Party) -> None:
    def spec(backsig: bool) -> Spec:
        signing = Sub(slot=4, flags=op.FLAG_SIGN, backsig=backsig)
        return Spec(slot=2, created=T0, flags=op.FLAG_CERTIFY, subkeys=(Sub(slot=3), signing))

    good, bad = load(spec(True)), load(spec(False))
    assert good.kid == bad.kid
    env = ge.seal(MSG, recipients=pgp_keys.public("g1"), signer=keyset(good))
    result = ge.open_detailed(env, identities=pgp_keys.secret("g1"), senders=keyset(good.public()))
    assert result.verified_by == (good.kid,)
    with pytest.raises(ge.SealError, match=bad.kid):
        ge.seal(MSG, recipients=pgp_keys.public("g1"), signer=keyset(bad))
    # A signature by the subkey (made while it looked fine) does not verify against `bad`.
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=pgp_keys.secret("g1"), senders=keyset(bad.public()))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (Spec(slot=7, size=1024), "RSA-1024"),
        (Spec(slot=2, subkeys=(Sub(slot=8, size=1024),)), "RSA-1024"),
        (Spec(slot=2, revoked=True), "revoked"),
        (Spec(slot=2, self_signed=False), "no valid self-signature"),
        (Spec(slot=2, flags=op.FLAG_CERTIFY, subkeys=()), "may sign or encrypt"),
    ],
    ids=["rsa1024", "rsa1024-subkey", "revoked", "unsigned", "useless"],
)
def test_keys_refused_at_load(spec: Spec, message: str) -> None:
    with pytest.raises(ge.KeySetError, match=message) as info:
        keys_from_pgp(build_key(spec))
    assert info.value.__cause__ is None


def test_sha1_self_signatures_are_accepted() -> None:
    """Older BouncyCastle-made keys carry SHA-1 self-signatures; a binding cannot be forged
    with SHA-1 collisions (see gpay_envelope/codecs/pgp/_keys.py)."""
    assert load(Spec(slot=2, hashalg=op.HASH_SHA1)).kty == "RSA"


def test_non_rsa_keys_are_refused() -> None:
    eddsa = (
        b"\x04"
        + int(time.time()).to_bytes(4, "big")
        + b"\x16"
        + b"\x09"
        + b"\x2b\x06\x01\x04\x01\xda\x47\x0f\x01"
        + op.mpi(0x40 << 256)
    )
    with pytest.raises(ge.KeySetError, match=r"^an OpenPGP key is EdDSA \(legacy\): only RSA"):
        keys_from_pgp(op.packet(op.TAG_PUBLIC_KEY, eddsa))
    # Named by its user ID when it has one.
    named = op.packet(op.TAG_PUBLIC_KEY, eddsa) + op.packet(op.TAG_USER_ID, b"Ada <a@x.test>")
    refusal = re.escape("the OpenPGP key of 'Ada <a@x.test>' is EdDSA")
    with pytest.raises(ge.KeySetError, match=refusal):
        keys_from_pgp(named)
    with pytest.raises(ge.KeySetError, match="version 4"):
        keys_from_pgp(op.packet(op.TAG_PUBLIC_KEY, b"\x03" + b"\0" * 20))


def test_keys_of_other_codecs_are_refused(pgp_keys: Party) -> None:
    jwe = ge.generate_key(kid="jwe", size=2048)
    with pytest.raises(ge.KeySetError, match="'jwe' keys, but the codec is 'pgp'"):
        ge.seal(MSG, recipients=pgp_keys.public("g1"), signer=keyset(jwe), codec="pgp")


def test_a_subkey_whose_binding_signature_expired_is_not_used(pgp_keys: Party) -> None:
    created = NOW - 10 * DAY
    pk, sk = rsa2048(2), rsa2048(3)
    pub = public_key_body(pk.public_key(), created)
    sub = public_key_body(sk.public_key(), created)
    fpr = fingerprint(pub)
    uid = b"Binding <b@example.com>"
    cert = sig_body(
        pk,
        fpr,
        op.SIG_CERT_POSITIVE,
        created,
        (framed(pub), b"\xb4" + struct.pack(">I", len(uid)) + uid),
        op.subpacket(op.SUB_KEY_FLAGS, b"\x03"),
    )
    expired_binding = sig_body(
        pk,
        fpr,
        op.SIG_SUBKEY_BINDING,
        created,
        (framed(pub), framed(sub)),
        op.subpacket(op.SUB_KEY_FLAGS, bytes((op.FLAG_ENCRYPT,)))
        + op.subpacket(op.SUB_SIG_EXPIRES, struct.pack(">I", DAY)),  # expired 9 days ago
    )
    blob = b"".join(
        (
            op.packet(op.TAG_PUBLIC_KEY, pub),
            op.packet(op.TAG_USER_ID, uid),
            op.packet(op.TAG_SIGNATURE, cert),
            op.packet(op.TAG_PUBLIC_SUBKEY, sub),
            op.packet(op.TAG_SIGNATURE, expired_binding),
        )
    )
    (key,) = keys_from_pgp(blob)
    with pytest.raises(ge.SealError):
        ge.seal(MSG, recipients=keyset(key), signer=pgp_keys.secret("p1"))


def _binding_key(bindings: Sequence[tuple[int, int | None]]) -> bytes:
    """A key whose encryption subkey has one binding per (created, signature lifetime)."""
    created = NOW - 10 * DAY
    pk, sk = rsa2048(2), rsa2048(3)
    pub = public_key_body(pk.public_key(), created)
    sub = public_key_body(sk.public_key(), created)
    fpr = fingerprint(pub)
    uid = b"Binding <b@example.com>"
    cert = sig_body(
        pk,
        fpr,
        op.SIG_CERT_POSITIVE,
        created,
        (framed(pub), b"\xb4" + struct.pack(">I", len(uid)) + uid),
        op.subpacket(op.SUB_KEY_FLAGS, b"\x03"),
    )
    out = [
        op.packet(op.TAG_PUBLIC_KEY, pub),
        op.packet(op.TAG_USER_ID, uid),
        op.packet(op.TAG_SIGNATURE, cert),
        op.packet(op.TAG_PUBLIC_SUBKEY, sub),
    ]
    for when, lifetime in bindings:
        extra = op.subpacket(op.SUB_KEY_FLAGS, bytes((op.FLAG_ENCRYPT,)))
        if lifetime is not None:
            extra += op.subpacket(op.SUB_SIG_EXPIRES, struct.pack(">I", lifetime))
        body = sig_body(pk, fpr, op.SIG_SUBKEY_BINDING, when, (framed(pub), framed(sub)), extra)
        out.append(op.packet(op.TAG_SIGNATURE, body))
    return b"".join(out)


def test_binding_signature_expiry_is_the_subkey_expiry() -> None:
    created = NOW - 10 * DAY
    # Still valid: the subkey is usable until the binding expires, and not after.
    (key,) = keys_from_pgp(_binding_key([(created, 20 * DAY)]))
    (sub,) = key.material.encryption_parts(unix_now())  # type: ignore[attr-defined]
    assert sub.expires == created + 20 * DAY
    assert not sub.valid_at(created + 20 * DAY)
    # A newer binding that has expired gives way to an older one that has not.
    (key,) = keys_from_pgp(_binding_key([(created, None), (created + DAY, DAY)]))
    (sub,) = key.material.encryption_parts(unix_now())  # type: ignore[attr-defined]
    assert sub.expires is None
    # Every binding expired: the subkey is kept (our own secret still decrypts late mail)
    # but expired, so nobody encrypts to it or counts its signatures.
    (key,) = keys_from_pgp(_binding_key([(created, DAY)]))
    parts = key.material.parts  # type: ignore[attr-defined]
    assert len(parts) == 2 and parts[1].expires == created + DAY
    assert not key.material.encryption_parts(unix_now())  # type: ignore[attr-defined]


def test_an_expired_user_id_certification_expires_the_key() -> None:
    created = NOW - 10 * DAY
    pk = rsa2048(2)
    pub = public_key_body(pk.public_key(), created)
    fpr = fingerprint(pub)
    uid = b"Lapsed <l@example.com>"
    cert = sig_body(
        pk,
        fpr,
        op.SIG_CERT_POSITIVE,
        created,
        (framed(pub), b"\xb4" + struct.pack(">I", len(uid)) + uid),
        op.subpacket(op.SUB_KEY_FLAGS, b"\x03")
        + op.subpacket(op.SUB_SIG_EXPIRES, struct.pack(">I", DAY)),
    )
    blob = (
        op.packet(op.TAG_PUBLIC_KEY, pub)
        + op.packet(op.TAG_USER_ID, uid)
        + op.packet(op.TAG_SIGNATURE, cert)
    )
    (key,) = keys_from_pgp(blob)
    assert key.material.parts[0].expires == created + DAY  # type: ignore[attr-defined]
    assert key.not_after is not None and key.not_after.timestamp() == created + DAY
