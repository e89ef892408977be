"""OpenPGP interop with Sequoia (PyPI ``pysequoia``, sequoia-openpgp 2), both directions, with
keys Sequoia made.

Sequoia generates a certification-only primary key with a signing and an encryption subkey.
Its v4 keys (``Profile.RFC4880``) advertise SEIPD v2 in their features, so Sequoia encrypts to
them with v6 PKESKs and SEIPD v2 (AEAD): the RFC 9580 messages a partner gets from any
Sequoia-based peer. Its v6 keys (``Profile.RFC9580``) are refused: this version holds v4 keys
only (docs/pgp.md).

- keys: the secret and the public key of every RSA size load; a v6 key is refused clearly; a
  key with an X25519 encryption subkey beside its RSA ones loads and signs.
- peer seals, we open: Sequoia encrypts to its key and signs with it; we open and verify.
- we seal, peer opens: ``ge.seal`` to the Sequoia key, signed by our key; Sequoia decrypts and
  its verification callback sees our signature.

pysequoia is in the ``dev`` extra; without it these tests skip, or fail when
GPAY_REQUIRE_PEERS=1.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from conftest import require_peer
from pgp_fixtures import packets_of

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode
from gpay_envelope.codecs.pgp import generate_pgp_key, key_to_pgp
from gpay_envelope.codecs.pgp import wire as op

pytestmark = pytest.mark.interop

MSG = b'{"requestHeader": {"requestId": "sequoia"}, "amount": "1.00"}'
SUITES = ("RSA2k", "RSA3k", "RSA4k")


def _sq() -> Any:
    try:
        import pysequoia
    except ImportError:
        pysequoia = None
    require_peer(pysequoia is not None, "pysequoia (pip install pysequoia)")
    return pysequoia


@functools.cache
def _tsk(suite: str) -> Any:
    sq = _sq()
    return sq.Tsk.generate(
        "Sequoia peer <peer@example.com>",
        cipher_suite=getattr(sq.CipherSuite, suite),
        profile=sq.Profile.RFC4880,
    )


@functools.cache
def our_key() -> ge.Key:
    return generate_pgp_key(uid="Partner <partner@example.com>", size=2048)


@pytest.mark.parametrize("suite", SUITES)
def test_sequoia_keys_load(suite) -> None:
    tsk = _tsk(suite)
    [secret] = list(ge.KeySet.from_pgp([bytes(tsk)]))
    [public] = list(ge.KeySet.from_pgp([bytes(tsk.extract_certificate())]))
    assert secret.has_secret and not public.has_secret
    assert secret.kid == public.kid == tsk.extract_certificate().fingerprint.upper()
    assert secret.size == {"RSA2k": 2048, "RSA3k": 3072, "RSA4k": 4096}[suite]


def test_sequoia_v6_keys_are_refused() -> None:
    sq = _sq()
    tsk = sq.Tsk.generate(
        "v6 <v6@example.com>", cipher_suite=sq.CipherSuite.RSA2k, profile=sq.Profile.RFC9580
    )
    with pytest.raises(ge.KeySetError, match="version 4"):
        ge.KeySet.from_pgp([bytes(tsk.extract_certificate())])


@pytest.mark.parametrize("suite", SUITES)
def test_we_open_what_sequoia_seals(suite) -> None:
    sq = _sq()
    tsk = _tsk(suite)
    ours = ge.KeySet.from_pgp([bytes(tsk)])
    message = sq.encrypt(MSG, recipients=[tsk.extract_certificate()], signer=tsk.signer(),
                         armor=False)  # fmt: skip
    assert [(tag, body[0]) for tag, body in packets_of(message)] == [
        (op.TAG_PKESK, 6), (op.TAG_SEIPD, 2)]  # fmt: skip
    result = ge.open_detailed(message, identities=ours, senders=ours.public())
    assert result.plaintext == MSG
    assert result.verified_by == (ours.primary.kid,)
    assert result.algorithms[:3] == ("RSA", "AES256", "OCB")
    armored = sq.encrypt(MSG, recipients=[tsk.extract_certificate()], signer=tsk.signer())
    assert ge.open(armored.encode() if isinstance(armored, str) else armored,
                   identities=ours, senders=ours.public()) == MSG  # fmt: skip


@pytest.mark.parametrize("suite", SUITES)
def test_sequoia_opens_and_verifies_what_we_seal(suite) -> None:
    sq = _sq()
    tsk = _tsk(suite)
    signer = ge.KeySet([our_key()], primary=our_key().kid)
    env = ge.seal(MSG, recipients=ge.KeySet.from_pgp([bytes(tsk.extract_certificate())]),
                  signer=signer, codec="pgp")  # fmt: skip
    ours_public = sq.Cert.from_bytes(key_to_pgp(our_key()))
    asked: list[object] = []

    def store(key_ids: list[object]) -> list[object]:
        asked.extend(key_ids)
        return [ours_public]

    decrypted = sq.decrypt(b64url_decode(env), decryptor=tsk.decryptor(), store=store)
    assert decrypted.bytes == MSG
    assert asked and decrypted.valid_sigs
    assert {str(s.signing_key).upper() for s in decrypted.valid_sigs} <= {
        p.hex for p in our_key().material.parts  # type: ignore[attr-defined]
    }


def test_sequoia_key_with_an_x25519_encryption_subkey() -> None:
    """An RSA primary and signing subkey with an RFC 9580 X25519 (25) encryption subkey: the
    secret key loads (the X25519 subkey is left out, pgpy never sees it) and signs what
    Sequoia verifies; as a recipient it has no usable encryption subkey."""
    sq = _sq()
    mixed = sq.Tsk.generate(
        "Mixed <mixed@example.com>",
        cipher_suite=sq.CipherSuite.RSA2k,
        profile=sq.Profile.RFC4880,
        encryption_algorithm=sq.EncryptionAlgorithm.X25519,
    )
    ours = ge.KeySet.from_pgp([bytes(mixed)])
    assert ours.primary.has_secret
    with pytest.raises(ge.SealError, match="no usable encryption subkey"):
        ge.seal(MSG, recipients=ours.public(), signer=ours, codec="pgp")
    tsk = _tsk("RSA2k")
    env = ge.seal(MSG, recipients=ge.KeySet.from_pgp([bytes(tsk.extract_certificate())]),
                  signer=ours, codec="pgp")  # fmt: skip
    cert = mixed.extract_certificate()
    decrypted = sq.decrypt(b64url_decode(env), decryptor=tsk.decryptor(), store=lambda ids: [cert])
    assert decrypted.bytes == MSG and decrypted.valid_sigs


def test_sequoia_refuses_a_signature_it_cannot_check() -> None:
    """The harness can fail: given no certificate for our key, Sequoia refuses the message."""
    sq = _sq()
    tsk = _tsk("RSA2k")
    signer = ge.KeySet([our_key()], primary=our_key().kid)
    env = ge.seal(MSG, recipients=ge.KeySet.from_pgp([bytes(tsk.extract_certificate())]),
                  signer=signer, codec="pgp")  # fmt: skip
    with pytest.raises(Exception):  # noqa: B017 - pysequoia raises a bare exception type
        sq.decrypt(b64url_decode(env), decryptor=tsk.decryptor(), store=lambda ids: [])
