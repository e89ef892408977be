"""Loading, exporting and generating pgp keys: several keys in any format, export round trips,
passphrase-protected keys, and generate_pgp_key following Google's rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pgp_fixtures import (
    DAY,
    Party,
)

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import PGPMaterial, generate_pgp_key, key_to_pgp, keys_from_pgp
from gpay_envelope.codecs.pgp import wire as op


def test_loading_several_keys_in_any_format(pgp_keys: Party) -> None:
    a, b = (pgp_keys.keys[n] for n in ("g1", "g2"))
    armored = key_to_pgp(a) + b"\n" + key_to_pgp(b)
    for data in (
        armored,
        armored.decode(),
        [key_to_pgp(a), key_to_pgp(b).decode()],
        a.material.export(include_private=False) + b.material.export(include_private=False),  # type: ignore[attr-defined]
        b"Some text gpg users paste\n" + armored,
    ):
        ks = ge.KeySet.from_pgp(data)
        assert ks.kids == (a.kid, b.kid) and not ks.has_secret
    ks = ge.KeySet.from_pgp(key_to_pgp(a, include_private=True), primary=a.kid)
    assert ks.has_secret and ks.primary.kid == a.kid


def test_export_round_trip(pgp_keys: Party) -> None:
    key = pgp_keys.keys["p1"]
    public = key_to_pgp(key)
    assert public.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    (again,) = keys_from_pgp(public)
    assert again.kid == key.kid and not again.has_secret
    (private,) = keys_from_pgp(key_to_pgp(key, include_private=True))
    assert private.has_secret
    with pytest.raises(ge.KeySetError):
        key_to_pgp(again, include_private=True)
    with pytest.raises(ge.KeySetError):
        key_to_pgp(ge.generate_key(kid="jwe", size=2048))


def test_passphrase_protected_keys() -> None:
    key = generate_pgp_key(uid="Prot <prot@example.com>", size=2048, passphrase="s3cret")
    assert key.has_secret
    exported = key_to_pgp(key, include_private=True)
    (again,) = keys_from_pgp(exported, passphrase="s3cret")
    assert again.has_secret and again.kid == key.kid
    (again,) = keys_from_pgp(exported, passphrase={key.kid.lower(): "s3cret"})
    assert again.has_secret
    for wrong in ("wrong", None, {"0" * 40: "s3cret"}):
        with pytest.raises(ge.KeySetError, match=key.kid) as info:
            keys_from_pgp(exported, passphrase=wrong)
        assert "s3cret" not in str(info.value) and info.value.__cause__ is None


def test_generate_pgp_key_follows_googles_rules() -> None:
    key = generate_pgp_key(uid="Gen <gen@example.com>", size=2048, expires=timedelta(days=30))
    material = key.material
    assert isinstance(material, PGPMaterial)
    primary, sub = material.parts
    assert primary.flags == op.FLAG_CERTIFY | op.FLAG_SIGN and sub.flags == op.FLAG_ENCRYPT
    assert primary.expires == sub.expires == primary.created + 30 * DAY
    packets = op.read_packets(material.export(include_private=False), max_packets=10)
    cert = op.parse_signature(packets[2][1])
    assert cert is not None and cert.hashalg == op.HASH_SHA384
    prefs = dict((k, v) for k, _c, v in op.signatures._subpackets(cert.hashed))
    assert prefs[op.SUB_PREFERRED_SYMMETRIC][0] == op.SYM_AES256
    assert prefs[op.SUB_PREFERRED_HASH][0] == op.HASH_SHA384
    for bad in (
        dict(size=1024),
        dict(expires=timedelta(days=800)),
        dict(expires=timedelta(0)),
        dict(uid=""),
    ):
        args = {"uid": "x <x@example.com>", **bad}
        with pytest.raises(ge.KeySetError):
            generate_pgp_key(**args)  # type: ignore[arg-type]
