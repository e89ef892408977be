"""Tink's four-stage rotation (add, promote, disable, remove): what still opens at each stage,
for both codecs, our own keys (identities) and the peer's keys (senders) alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from pgp_fixtures import pgp_party

import gpay_envelope as ge

PAYLOAD = b'{"requestHeader":{"requestId":"rotation"}}'

# (stage, key set change, does an envelope to/by the old key open, to/by the new key)
STAGES = [
    ("initial", lambda ks, old, new: ge.KeySet([old], primary=old.kid), True, False),
    ("add", lambda ks, old, new: ks.with_key(new), True, True),
    ("promote", lambda ks, old, new: ks.with_primary(new.kid), True, True),
    ("disable", lambda ks, old, new: ks.with_status(old.kid, ge.KeyStatus.DISABLED), False, True),
    ("remove", lambda ks, old, new: ks.without(old.kid), False, True),
]


@dataclass(frozen=True)
class World:
    """One codec's keys for the matrix: two of ours that rotate, two of the peer's that rotate,
    and a fixed key on the other side of each exchange."""

    codec: str
    old_identity: ge.Key
    new_identity: ge.Key
    peer_signer: ge.KeySet  # signs what we open in the identity matrix
    old_sender: ge.Key
    new_sender: ge.Key
    our_identities: ge.KeySet  # opens what the rotating senders sign


def _jwe(partner, google, spare_keys) -> World:
    return World(
        codec="jwe",
        old_identity=spare_keys[0],
        new_identity=spare_keys[1],
        peer_signer=google.signer,
        old_sender=google.signer.get("google-sig-1"),
        new_sender=google.signer.get("google-sig-2"),
        our_identities=partner.identities,
    )


def _pgp() -> World:
    party = pgp_party()
    return World(
        codec="pgp",
        old_identity=party.keys["p1"],
        new_identity=party.keys["p2"],
        peer_signer=party.secret("g3"),
        old_sender=party.keys["g1"],
        new_sender=party.keys["g2"],
        our_identities=party.secret("p1"),
    )


def _with_token_keys(world: World, softhsm) -> World:
    """The same world with the new identity and the new sender made in a PKCS#11 token
    (SoftHSM2): a token key rotates in like a file key."""
    import softhsm as hsm

    from gpay_envelope.pkcs11 import generate_token_key

    def make(label: str, use: str) -> ge.Key:
        key, _ = generate_token_key(
            softhsm.uri(f"rotation-{world.codec}-{label}"),
            codec=world.codec,
            kid=f"token-{label}",
            uid=f"Token {label} <{label}@example.com>",
            size=2048,
            use=use,
            pin_env=hsm.PIN_ENV,
        )
        return key

    return dataclasses.replace(world, new_identity=make("id", "enc"), new_sender=make("sig", "sig"))


@pytest.fixture(params=["jwe", "pgp", "jwe-token", "pgp-token"])
def world(request, partner, google, spare_keys) -> World:
    codec = request.param.removesuffix("-token")
    base = _jwe(partner, google, spare_keys) if codec == "jwe" else _pgp()
    if request.param.endswith("-token"):
        return _with_token_keys(base, request.getfixturevalue("softhsm"))
    return base


def _one(key: ge.Key) -> ge.KeySet:
    return ge.KeySet([key], primary=key.kid)


def _walk(world: World, each: Callable[[str, ge.KeySet, bool, bool], None], *, senders: bool):
    ks: ge.KeySet | None = None
    old, new = (
        (world.old_sender.public(), world.new_sender.public())
        if senders
        else (world.old_identity, world.new_identity)
    )
    for stage, change, old_ok, new_ok in STAGES:
        ks = change(ks, old, new)
        each(stage, ks, old_ok, new_ok)


def test_identity_rotation_matrix(world: World) -> None:
    old, new, codec = world.old_identity, world.new_identity, world.codec
    peer_public = world.peer_signer.public()
    to_old = ge.seal(PAYLOAD, recipients=_one(old).public(), signer=world.peer_signer, codec=codec)
    to_new = ge.seal(PAYLOAD, recipients=_one(new).public(), signer=world.peer_signer, codec=codec)
    seen = []

    def stage_checks(stage: str, ks: ge.KeySet, old_opens: bool, new_opens: bool) -> None:
        for envelope, expected, kid in ((to_old, old_opens, old.kid), (to_new, new_opens, new.kid)):
            if expected:
                res = ge.open_detailed(envelope, identities=ks, senders=peer_public)
                assert res.plaintext == PAYLOAD and res.decrypted_with == kid, stage
            else:
                with pytest.raises(ge.InvalidEnvelope):
                    ge.open(envelope, identities=ks, senders=peer_public)
        # Whatever the stage, what the peer seals now to our published keys opens, with the
        # primary (JWE: the one recipient; PGP: the primary is tried first).
        fresh = ge.seal(PAYLOAD, recipients=ks.public(), signer=world.peer_signer, codec=codec)
        res = ge.open_detailed(fresh, identities=ks, senders=peer_public)
        seen.append((stage, res.decrypted_with))

    _walk(world, stage_checks, senders=False)
    assert seen == [
        ("initial", old.kid),
        ("add", old.kid),
        ("promote", new.kid),
        ("disable", new.kid),
        ("remove", new.kid),
    ]


def test_sender_rotation_matrix(world: World) -> None:
    old_sig, new_sig, codec = world.old_sender, world.new_sender, world.codec
    ours = world.our_identities.public()
    signed_old = ge.seal(PAYLOAD, recipients=ours, signer=_one(old_sig), codec=codec)
    signed_new = ge.seal(PAYLOAD, recipients=ours, signer=_one(new_sig), codec=codec)

    def stage_checks(stage: str, senders: ge.KeySet, old_ok: bool, new_ok: bool) -> None:
        for envelope, expected, kid in (
            (signed_old, old_ok, old_sig.kid),
            (signed_new, new_ok, new_sig.kid),
        ):
            if expected:
                res = ge.open_detailed(envelope, identities=world.our_identities, senders=senders)
                assert res.verified_by == (kid,), stage
            else:
                with pytest.raises(ge.InvalidSignature):
                    ge.open(envelope, identities=world.our_identities, senders=senders)

    _walk(world, stage_checks, senders=True)


def test_pgp_seals_with_every_enabled_key_during_a_rotation() -> None:
    """PGP fans out (Google's rule): while both keys are ENABLED, a message is encrypted to
    and signed by both, so either side of the rotation can open and verify it alone."""
    party = pgp_party()
    ours = party.secret("p1", "p2")
    theirs = party.secret("g1", "g2")
    env = ge.seal(PAYLOAD, recipients=theirs.public(), signer=ours, codec="pgp")
    for name in ("g1", "g2"):
        res = ge.open_detailed(env, identities=party.secret(name), senders=ours.public())
        assert res.decrypted_with == party.kid(name)
        assert set(res.verified_by) == {party.kid("p1"), party.kid("p2")}
    disabled = ours.with_status(party.kid("p2"), ge.KeyStatus.DISABLED)
    env = ge.seal(PAYLOAD, recipients=theirs.public(), signer=disabled, codec="pgp")
    res = ge.open_detailed(env, identities=party.secret("g1"), senders=ours.public())
    assert res.verified_by == (party.kid("p1"),)
