"""A signature counts only when it was made within the life of the key that made it.

A message signature's creation time must lie in [created, expires) of the signing part and of
its primary key (a subkey's expiry includes its binding's). The clock skew allowance is only for
comparing a creation time with *now*: it never stretches a key's life, so a signature dated a
few minutes after its key expired does not count even while the key has not expired by the
local clock. The same holds for subkey binding signatures: one made before the primary or the
subkey was created, or at or after the primary expired, binds nothing.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from pgp_fixtures import DAY, Spec, Sub, build_key, encrypt_raw, keyset, load, rsa_key

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import wire as op
from gpay_envelope.codecs.pgp._keys import CLOCK_SKEW, fingerprint, parse_keys, public_key_body

MSG = b'{"amount": "1000"}'
HOUR = 3600
T = int(time.time())
#: When the signing subkey, or the primary, of the signers below expires: an hour from now.
EXPIRES = T + HOUR
CREATED = T - DAY
IDENTITY = Spec(uid="Id <id@example.com>", slot=70, subkeys=(Sub(slot=71),))
#: A certify-only primary with a signing subkey that expires at EXPIRES.
SUBKEY_SIGNER = Spec(
    uid="Sub <sub@example.com>",
    slot=72,
    created=CREATED,
    flags=op.FLAG_CERTIFY,
    subkeys=(Sub(slot=73, flags=op.FLAG_SIGN, expires_after=EXPIRES - CREATED),),
)
#: A primary that expires at EXPIRES, with a signing subkey that does not expire.
PRIMARY_EXPIRES = Spec(
    uid="Prim <prim@example.com>",
    slot=74,
    created=CREATED,
    expires_after=EXPIRES - CREATED,
    flags=op.FLAG_CERTIFY,
    subkeys=(Sub(slot=75, flags=op.FLAG_SIGN, expires_after=None),),
)
#: A primary that signs itself and expires at EXPIRES.
PRIMARY_SIGNER = Spec(
    uid="Self <self@example.com>",
    slot=76,
    created=CREATED,
    expires_after=EXPIRES - CREATED,
    subkeys=(Sub(slot=77, expires_after=None),),
)
#: A signing subkey created a day before its primary (bound after both exist).
OLD_SUBKEY = Spec(
    uid="Old <old@example.com>",
    slot=78,
    created=CREATED,
    flags=op.FLAG_CERTIFY,
    subkeys=(Sub(slot=79, flags=op.FLAG_SIGN, created=CREATED - DAY, bound=CREATED),),
)


def _at(when: int) -> datetime:
    return datetime.fromtimestamp(when, timezone.utc)


def _signed_by(spec: Spec, created: int, *, subkey: bool = True) -> bytes:
    """An envelope to IDENTITY signed by ``spec``'s first subkey (or its primary), the
    signature dated ``created``."""
    if subkey:
        sub = spec.subkeys[0]
        key = rsa_key(sub.slot, sub.size)
        sub_created = spec.created if sub.created is None else sub.created
        fpr = fingerprint(public_key_body(key.public_key(), sub_created))
    else:
        key = rsa_key(spec.slot, spec.size)
        fpr = fingerprint(public_key_body(key.public_key(), spec.created))
    hashed = op.subpacket(op.SUB_CREATED, created.to_bytes(4, "big")) + op.subpacket(
        op.SUB_ISSUER_FINGERPRINT, b"\x04" + fpr
    )
    sig = op.signature_body(
        key, sigtype=op.SIG_BINARY, hashalg=op.HASH_SHA384, hashed=hashed, unhashed=b"", data=(MSG,)
    )
    inner = b"".join(
        (
            op.ops_packet(hashalg=op.HASH_SHA384, keyid=fpr[-8:], last=True),
            op.literal_packet(MSG, when=created),
            op.packet(op.TAG_SIGNATURE, sig),
        )
    )
    return encrypt_raw(inner, [load(IDENTITY)])


def _verified(spec: Spec, env: bytes, now: int) -> bool:
    senders = keyset(load(spec, secret=False))
    try:
        ge.open(env, identities=keyset(load(IDENTITY)), senders=senders, now=_at(now))
    except ge.InvalidSignature:
        return False
    return True


# -- message signatures ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("created", "ok"),
    [
        (EXPIRES + 240, False),  # 4 minutes after the subkey expired: inside the skew of now
        (EXPIRES, False),  # the expiry itself is outside the life
        (EXPIRES - 1, True),
        (CREATED, True),
        (CREATED - 1, False),  # before the subkey was created
    ],
    ids=["4min-after-expiry", "at-expiry", "1s-before-expiry", "at-creation", "before-creation"],
)
def test_a_signature_counts_only_within_the_signing_subkeys_life(created: int, ok: bool) -> None:
    now = EXPIRES - 100  # the subkey has not expired yet by our clock
    assert created <= now + CLOCK_SKEW  # so only the key's life can refuse the signature
    assert _verified(SUBKEY_SIGNER, _signed_by(SUBKEY_SIGNER, created), now) is ok


@pytest.mark.parametrize(
    ("created", "ok"),
    [(EXPIRES + 240, False), (EXPIRES - 1, True)],
    ids=["4min-after-expiry", "1s-before-expiry"],
)
def test_a_subkey_signature_counts_only_within_the_primarys_life(created: int, ok: bool) -> None:
    assert _verified(PRIMARY_EXPIRES, _signed_by(PRIMARY_EXPIRES, created), EXPIRES - 100) is ok


@pytest.mark.parametrize(
    ("created", "ok"),
    [(EXPIRES + 240, False), (EXPIRES - 1, True)],
    ids=["4min-after-expiry", "1s-before-expiry"],
)
def test_a_primary_signature_counts_only_within_the_primarys_life(created: int, ok: bool) -> None:
    env = _signed_by(PRIMARY_SIGNER, created, subkey=False)
    assert _verified(PRIMARY_SIGNER, env, EXPIRES - 100) is ok


def test_a_subkey_signature_before_the_primary_existed_does_not_count() -> None:
    """The subkey is older than its primary: a signature dated between the two creations
    was made before the key it is judged by existed."""
    assert _verified(OLD_SUBKEY, _signed_by(OLD_SUBKEY, CREATED), T)
    assert not _verified(OLD_SUBKEY, _signed_by(OLD_SUBKEY, CREATED - 100), T)


def test_the_skew_still_lets_a_signature_from_a_fast_clock_count() -> None:
    """Comparing with now is what the skew is for: a signature dated a few minutes ahead of
    our clock counts while its key lives then."""
    now = T
    assert _verified(SUBKEY_SIGNER, _signed_by(SUBKEY_SIGNER, now + CLOCK_SKEW - 10), now)
    assert not _verified(SUBKEY_SIGNER, _signed_by(SUBKEY_SIGNER, now + CLOCK_SKEW + 10), now)


def test_we_sign_only_with_a_part_alive_at_the_signing_time() -> None:
    signer = load(SUBKEY_SIGNER)
    part, _ = signer.material.signing_part(EXPIRES - 1)  # type: ignore[attr-defined]
    assert part.fingerprint != signer.material.parts[0].fingerprint  # type: ignore[attr-defined]
    assert signer.material.signing_part(EXPIRES) is None  # type: ignore[attr-defined]
    # Within the skew before the subkey was created: usable by the clock, but a signature
    # dated then would not count.
    assert signer.material.signing_part(CREATED - 100) is None  # type: ignore[attr-defined]
    env = ge.seal(
        MSG, recipients=keyset(load(IDENTITY).public()), signer=keyset(signer), now=_at(T)
    )
    assert _verified(SUBKEY_SIGNER, env, T)


# -- subkey binding signatures ---------------------------------------------------------------
def _bound_subkeys(spec: Spec, now: int) -> int:
    (parsed,) = parse_keys(build_key(spec, secret=False), now=now)
    return len(parsed.subkeys)


def _with_binding(spec: Spec, bound: int) -> Spec:
    return replace(spec, subkeys=(replace(spec.subkeys[0], bound=bound),))


@pytest.mark.parametrize(
    ("bound", "ok"),
    [
        (EXPIRES + 240, False),  # after the primary expired (inside the skew of now)
        (EXPIRES, False),
        (EXPIRES - 1, True),
        (CREATED, True),
        (CREATED - 1, False),  # before the primary (and the subkey) were created
    ],
    ids=["4min-after-expiry", "at-expiry", "1s-before-expiry", "at-creation", "before-creation"],
)
def test_a_binding_counts_only_within_the_primarys_life(bound: int, ok: bool) -> None:
    now = EXPIRES - 100
    assert _bound_subkeys(_with_binding(PRIMARY_SIGNER, bound), now) == int(ok)


def test_a_binding_before_its_subkey_was_created_binds_nothing() -> None:
    late = Spec(
        uid="Late <late@example.com>",
        slot=80,
        created=CREATED,
        subkeys=(Sub(slot=81, created=CREATED + HOUR, bound=CREATED + HOUR - 1),),
    )
    assert _bound_subkeys(late, T) == 0
    assert _bound_subkeys(_with_binding(late, CREATED + HOUR), T) == 1
