"""No pgp key secret where it can leak: not in a repr or a pickle, not in the frames of a
failed load (passphrases), not in the printout of the internal key objects."""

from __future__ import annotations

import os
import pickle

import pytest
from passphrase_checks import library_frames, printed
from pgp_fixtures import (
    Party,
)
from pgp_messages import (
    T0,
    rsa2048,
)

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import keys_from_pgp
from gpay_envelope.codecs.pgp import wire as op
from gpay_envelope.codecs.pgp._keys import public_key_body


def test_no_secret_in_repr_or_pickle(pgp_keys: Party) -> None:
    key = pgp_keys.keys["p1"]
    private = key.material._secrets  # type: ignore[attr-defined]
    d = str(next(iter(private.values())).private_numbers().d)
    for text in (
        repr(key),
        repr(key.material),
        repr(pgp_keys.secret("p1")),
        repr(key.material.parts),
    ):
        assert d[:20] not in text and "PRIVATE" not in text
    for obj in (key, key.material, pgp_keys.secret("p1")):
        with pytest.raises(TypeError):
            pickle.dumps(obj)


def test_a_failed_key_load_leaves_no_passphrase_reachable(pgp_keys: Party) -> None:
    from gpay_envelope.codecs.pgp._pgpy import protect

    secret = "right " + os.urandom(8).hex()
    protected = protect(pgp_keys.keys["g1"].material.export(include_private=True), secret)  # type: ignore[attr-defined]
    for wrong in (
        "wrong " + os.urandom(8).hex(),
        {pgp_keys.kid("g1"): "wrong " + os.urandom(8).hex()},
    ):
        with pytest.raises(ge.KeySetError, match="wrong passphrase") as info:
            keys_from_pgp(protected, passphrase=wrong)
        exc = info.value
        assert exc.__context__ is None and exc.__cause__ is None
        frames = library_frames(exc)
        assert frames  # the raise site is in the library
        text = wrong if isinstance(wrong, str) else next(iter(wrong.values()))
        for frame in frames:
            for name, value in frame.f_locals.items():
                assert text not in printed(value), (frame.f_code.co_name, name)
    with pytest.raises(ge.KeySetError, match="passphrase-protected") as info:
        keys_from_pgp(protected)
    assert info.value.__context__ is None
    (key,) = keys_from_pgp(protected, passphrase=secret)
    assert key.has_secret


def test_internal_key_objects_do_not_print_secret_material() -> None:
    from gpay_envelope.codecs.pgp._keys import _read_public, secret_key_body, split_keys

    pub = public_key_body(rsa2048(2).public_key(), T0)
    sub = public_key_body(rsa2048(3).public_key(), T0)
    marker = b"SECRET-MATERIAL-" * 4
    raw = _read_public(pub + marker, "test")
    (group,) = split_keys(
        [
            (op.TAG_SECRET_KEY, pub + marker),
            (op.TAG_USER_ID, b"u"),
            (op.TAG_SECRET_SUBKEY, sub + marker),
        ]
    )
    for obj in (raw, group):
        assert "SECRET-MATERIAL" not in repr(obj)
    # And with real secret key packets: no more than the public numbers are printed.
    real = secret_key_body(rsa2048(2), T0)
    assert len(repr(_read_public(real, "test"))) < len(repr(real[: len(pub)])) + 1000


def test_a_passphrase_for_an_unprotected_secret_key_is_refused(pgp_keys: Party) -> None:
    from gpay_envelope.codecs.pgp._pgpy import protect

    fpr = pgp_keys.kid("g1")
    plain = pgp_keys.keys["g1"].material.export(include_private=True)  # type: ignore[attr-defined]
    given = "unused " + os.urandom(8).hex()
    for passphrase in (given, {fpr: given}):
        with pytest.raises(ge.KeySetError, match="not passphrase-protected") as info:
            keys_from_pgp(plain, passphrase=passphrase)
        assert fpr in str(info.value) and given not in str(info.value)
        assert info.value.__context__ is None
    # A passphrase meant for another key does not touch this one; no passphrase loads it.
    (key,) = keys_from_pgp(plain, passphrase={"0" * 40: given})
    assert key.has_secret and keys_from_pgp(plain)[0].has_secret
    # The public half needs no passphrase, and one given for it is not a mistake to refuse.
    public = pgp_keys.keys["g1"].material.export(include_private=False)  # type: ignore[attr-defined]
    assert not keys_from_pgp(public, passphrase=given)[0].has_secret
    # A protected key still loads with its passphrase.
    (key,) = keys_from_pgp(protect(plain, given), passphrase=given)
    assert key.has_secret
