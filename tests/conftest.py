"""Shared fixtures: RSA-2048 JWE keys made once per session (key generation is the slow part),
the PGP test party, and a counter of JWE key-decryption attempts.

This is the only conftest.py outside tests/interop/: test modules and helpers import from it
with `from conftest import ...`, which a second conftest.py would shadow."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

import pytest

import gpay_envelope as ge


def require_peer(available: bool, what: str) -> None:
    """Skip when a peer is missing, unless CI demands every peer (GPAY_REQUIRE_PEERS=1)."""
    if available:
        return
    if os.environ.get("GPAY_REQUIRE_PEERS") == "1":
        pytest.fail(f"{what} is required (GPAY_REQUIRE_PEERS=1) but not available")
    pytest.skip(f"{what} not available")


def have(binary: str) -> bool:
    return shutil.which(binary) is not None


@dataclass(frozen=True)
class JWEParty:
    """One side of a JWE exchange: decryption keys (identities) and signing keys."""

    identities: ge.KeySet
    signer: ge.KeySet

    @property
    def public_enc(self) -> ge.KeySet:
        return self.identities.public()

    @property
    def public_sig(self) -> ge.KeySet:
        return self.signer.public()


# The fixture keys are bound to both RSA paddings on purpose, so that one party serves every
# profile; a production key made with legacy=True is bound to RSA1_5 only.
EVERY_JWE_KEY_ALG = ("RSA-OAEP-256", "RSA-OAEP", "RSA1_5")


def _party(prefix: str) -> JWEParty:
    enc = [
        ge.generate_key(kid=f"{prefix}-enc-{i}", use="enc", size=2048, algorithms=EVERY_JWE_KEY_ALG)
        for i in (1, 2)
    ]
    sig = [ge.generate_key(kid=f"{prefix}-sig-{i}", use="sig", size=2048) for i in (1, 2)]
    return JWEParty(
        identities=ge.KeySet(enc, primary=enc[0].kid),
        signer=ge.KeySet(sig, primary=sig[0].kid),
    )


@pytest.fixture(scope="session")
def partner() -> JWEParty:
    """The partner: two encryption keys (OAEP and RSA1_5 allowed), two signing keys."""
    return _party("partner")


@pytest.fixture(scope="session")
def google() -> JWEParty:
    """The simulated Google side, shaped like the partner."""
    return _party("google")


@pytest.fixture(scope="session")
def spare_keys() -> tuple[ge.Key, ...]:
    """Extra RSA-2048 keys for rotation and trial-bound tests."""
    return tuple(
        ge.generate_key(kid=f"spare-{i}", use="enc", size=2048, algorithms=EVERY_JWE_KEY_ALG)
        for i in range(4)
    )


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch, partner, google, spare_keys) -> list[str]:
    """Record the kid of every JWE key-decryption attempt (one private-key operation each)."""
    from gpay_envelope.codecs.jwe import _direct
    from gpay_envelope.codecs.jwe import _joserfc as jx

    seen: list[str] = []
    real = jx.perform_decrypt
    real_gcm = _direct.decrypt_gcm
    known = [*partner.identities, *google.identities, *spare_keys]
    kid_of = {id(k.material.jose): k.kid for k in known}
    kid_of.update({id(k.material.rsa_private): k.kid for k in known})

    def counting(obj: Any, registry: Any) -> None:
        seen.append(kid_of.get(id(obj.recipient.recipient_key), "?"))
        real(obj, registry)

    def counting_gcm(ops: Any, *args: Any) -> bytes:
        seen.append(kid_of.get(id(ops), "?"))
        return real_gcm(ops, *args)

    # The joserfc path (RSA1_5, AES-CBC-HMAC) and the direct one (RSA-OAEP with AES-GCM).
    monkeypatch.setattr(jx, "perform_decrypt", counting)
    monkeypatch.setattr(_direct, "decrypt_gcm", counting_gcm)
    return seen


@pytest.fixture(scope="session")
def pgp_keys() -> Any:
    """The PGP test party (pgp_fixtures.Party): p1, p2, g1, g2, g3 and u1, made once."""
    from pgp_fixtures import pgp_party

    return pgp_party()


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A SoftHSM2 token (support/softhsm.py) in a temporary directory, for the whole session;
    its PIN in the environment variable ``softhsm.PIN_ENV``. Skipped without softhsm2,
    unless GPAY_REQUIRE_PEERS=1."""
    import softhsm

    module = softhsm.module_path()
    require_peer(module is not None, "SoftHSM2 (softhsm2)")
    assert module is not None
    token = softhsm.SoftHSM(tmp_path_factory.mktemp("softhsm"), module)
    token.init()
    os.environ[softhsm.PIN_ENV] = softhsm.PIN
    return token


@pytest.fixture(scope="session")
def server_keys(partner: JWEParty, google: JWEParty) -> Any:
    """The partner's bundle as a server holds it (adapter_harness.server_view)."""
    from adapter_harness import server_view

    return server_view(partner, google)


@pytest.fixture(scope="session")
def client_keys(partner: JWEParty, google: JWEParty) -> Any:
    """Google's bundle as its client holds it (adapter_harness.client_view)."""
    from adapter_harness import client_view

    return client_view(partner, google)
