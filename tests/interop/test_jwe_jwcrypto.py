"""JWE interop with Python `jwcrypto`, both directions, in process.

jwcrypto (LGPL-3.0-or-later) is a test peer only: it is imported here, never by the package,
and comes from the dev extra. Without it these tests skip, or fail when GPAY_REQUIRE_PEERS=1.

The peer plays Google (`google` fixture keys), we play the partner (`partner` fixture keys):

- peer produces -> we open: jwcrypto signs (RS256 / PS256) and encrypts to the partner's keys;
  we open with `ge.open_detailed` and check the exact bytes, which identity key decrypted and
  which sender key verified.
- we produce -> peer opens: we seal to Google's keys; jwcrypto picks its key from a JWK Set
  by ``kid``, decrypts with only the expected algorithms allowed, verifies the nested JWS, and
  we compare headers and bytes.

jwcrypto leaves RSA1_5 out of ``jwe.default_allowed_algs``. It is enabled per object here
(``algs=`` / ``allowed_algs``), never by changing that module-wide default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import JWEParty, require_peer
from jwe_interop import PAYLOADS, PROFILES, Profile, check_we_open, jwe_header

import gpay_envelope as ge

pytestmark = pytest.mark.interop


# -- the peer ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jwc() -> SimpleNamespace:
    """jwcrypto's modules (imported only here: LGPL, test peer only)."""
    try:
        from jwcrypto import common, jwe, jwk, jws
    except ImportError:
        require_peer(False, "jwcrypto (pip install -e '.[dev]')")
        raise
    return SimpleNamespace(common=common, jwe=jwe, jwk=jwk, jws=jws)


def peer_encrypt(
    jwc: SimpleNamespace,
    payload: bytes,
    prof: Profile,
    *,
    to: dict[str, Any],
    kid: str | None,
    cty: str | None,
    sign: tuple[dict[str, Any], str, str | None] | None,
) -> str:
    """jwcrypto: optionally sign (private JWK, alg, kid), then encrypt to the public JWK ``to``."""
    if sign is not None:
        jwk_, alg, sig_kid = sign
        s = jwc.jws.JWS(payload)
        head = {"alg": alg, **({"kid": sig_kid} if sig_kid is not None else {})}
        s.add_signature(jwc.jwk.JWK(**jwk_), alg=None, protected=json.dumps(head))
        payload = s.serialize(compact=True).encode("ascii")
    header: dict[str, Any] = {"alg": prof.alg, "enc": prof.enc}
    if kid is not None:
        header["kid"] = kid
    if cty is not None:
        header["cty"] = cty
    if prof.zip:
        header["zip"] = "DEF"
    # RSA1_5 is not in jwcrypto's defaults: allow exactly this profile on this object.
    e = jwc.jwe.JWE(payload, protected=json.dumps(header), algs=[prof.alg, prof.enc])
    e.add_recipient(jwc.jwk.JWK(**to))
    token: str = e.serialize(compact=True)
    return token


def peer_decrypt(
    jwc: SimpleNamespace,
    token: str,
    prof: Profile,
    *,
    keys: list[dict[str, Any]],
    verify: tuple[list[dict[str, Any]], str] | None,
) -> dict[str, Any]:
    """jwcrypto: decrypt with a JWK Set (its own kid routing), then verify the nested JWS."""
    e = jwc.jwe.JWE()
    e.allowed_algs = [prof.alg, prof.enc]
    e.deserialize(token, key=jwc.jwk.JWKSet.from_json(json.dumps({"keys": keys})))
    out: dict[str, Any] = {"jwe_header": jwe_header(token), "plaintext": e.payload}
    if verify is not None:
        sender_keys, alg = verify
        s = jwc.jws.JWS()
        s.deserialize(e.payload.decode("ascii"))
        s.allowed_algs = [alg]
        s.verify(jwc.jwk.JWKSet.from_json(json.dumps({"keys": sender_keys})))
        out["jws_header"] = s.jose_header
        out["plaintext"] = s.payload
    return out


# -- peer produces, we open ----------------------------------------------------------------
@dataclass(frozen=True)
class Produce:
    profile: str
    payload: str = "small"
    sig_alg: str = "RS256"
    #: kid on both the JWE and the JWS; without it, we must find the keys by bounded trial.
    kids: bool = True
    #: Encrypt to our second (non-primary) identity key, and sign with the peer's second key.
    second: bool = False
    cty: bool = True

    @property
    def id(self) -> str:
        parts = [self.profile, self.payload]
        if PROFILES[self.profile].signed:
            parts.append(self.sig_alg)
        if not self.kids:
            parts.append("no-kid")
        if self.second:
            parts.append("second-key")
        if not self.cty:
            parts.append("no-cty")
        return "-".join(parts)


def _produce_cases() -> list[Produce]:
    cases = []
    for name, prof in PROFILES.items():
        cases += [Produce(name, "small"), Produce(name, "big")]
        if prof.signed:
            cases.append(Produce(name, sig_alg="PS256"))
        # Rotation: the peer already encrypts to our second, non-primary key, by kid.
        cases.append(Produce(name, second=True))
        # No kid on the JWE nor the JWS, to our second keys: the bounded trial must find both.
        cases.append(Produce(name, kids=False, second=True))
    # Legacy nested JWS without cty (only the JWS shape says it is signed).
    cases.append(Produce("legacy", cty=False))
    return cases


PRODUCE = _produce_cases()


@pytest.mark.parametrize("case", PRODUCE, ids=lambda c: c.id)
def test_peer_produces_we_open(
    case: Produce, jwc: SimpleNamespace, partner: JWEParty, google: JWEParty
) -> None:
    prof = PROFILES[case.profile]
    idx = 1 if case.second else 0
    to = list(partner.identities)[idx]
    by = list(google.signer)[idx]
    payload = PAYLOADS[case.payload]
    token = peer_encrypt(
        jwc,
        payload,
        prof,
        to=to.public().to_jwk(),
        kid=to.kid if case.kids else None,
        cty="JWT" if prof.signed and case.cty else None,
        sign=(
            (by.to_jwk(include_private=True), case.sig_alg, by.kid if case.kids else None)
            if prof.signed
            else None
        ),
    )
    check_we_open(
        token,
        profile=case.profile,
        payload=case.payload,
        sig_alg=case.sig_alg,
        kids=case.kids,
        second=case.second,
        partner=partner,
        google=google,
    )


# -- we produce, peer opens ----------------------------------------------------------------
@dataclass(frozen=True)
class Consume:
    profile: str
    payload: str = "small"
    sig_alg: str = "RS256"
    #: Seal to the peer's second key and sign with our second key (both promoted to primary).
    rotated: bool = False

    @property
    def id(self) -> str:
        parts = [self.profile, self.payload]
        if PROFILES[self.profile].signed:
            parts.append(self.sig_alg)
        if self.rotated:
            parts.append("rotated")
        return "-".join(parts)


def _consume_cases() -> list[Consume]:
    cases = []
    for name, prof in PROFILES.items():
        if prof.seal_as is None:
            continue  # seal has no OAEP + zip profile
        cases += [Consume(name, "small"), Consume(name, "big")]
        if prof.signed:
            cases.append(Consume(name, sig_alg="PS256"))
        cases.append(Consume(name, rotated=True))
    # We always write a kid (JWE and JWS), so there is no "we produce without kid" case.
    return cases


CONSUME = _consume_cases()


@pytest.mark.parametrize("case", CONSUME, ids=lambda c: c.id)
def test_we_produce_peer_opens(
    case: Consume, jwc: SimpleNamespace, partner: JWEParty, google: JWEParty
) -> None:
    prof = PROFILES[case.profile]
    recipients = google.public_enc
    if case.rotated:
        recipients = recipients.with_primary(list(recipients)[1].kid)
    signer: ge.KeySet | None = None
    if prof.signed:
        signer = partner.signer
        if case.rotated:
            signer = signer.with_primary(list(signer)[1].kid)
        if case.sig_alg != "RS256":
            # A signing key bound to PS256 alone makes seal sign with PS256.
            key = signer.primary.with_algorithms([case.sig_alg])
            signer = ge.KeySet([key], primary=key.kid)
    payload = PAYLOADS[case.payload]
    token = ge.seal(
        payload,
        recipients=recipients,
        signer=signer,
        codec="jwe",
        profile=prof.seal_as,
        allow_unsigned=not prof.signed,
    ).decode("ascii")

    out = peer_decrypt(
        jwc,
        token,
        prof,
        keys=[k.to_jwk(include_private=True) for k in google.identities],
        verify=(([k.to_jwk() for k in partner.public_sig], case.sig_alg) if prof.signed else None),
    )
    header = {"alg": prof.alg, "enc": prof.enc, "kid": recipients.primary.kid}
    if prof.signed:
        header["cty"] = "JWT"
    if prof.zip:
        header["zip"] = "DEF"
    assert out["jwe_header"] == header
    assert out["plaintext"] == payload
    if signer is not None:
        assert out["jws_header"] == {"alg": case.sig_alg, "kid": signer.primary.kid}
    else:
        assert "jws_header" not in out


def test_peer_harness_can_fail(jwc: SimpleNamespace, partner: JWEParty, google: JWEParty) -> None:
    """jwcrypto really routes by kid and really decrypts: wrong keys are refused."""
    token = ge.seal(
        PAYLOADS["small"], recipients=google.public_enc, signer=partner.signer, codec="jwe"
    ).decode("ascii")
    second = list(google.identities)[1].to_jwk(include_private=True)
    with pytest.raises(jwc.common.JWKeyNotFound):
        peer_decrypt(jwc, token, PROFILES["signed"], keys=[second], verify=None)
    # The named kid, but another key's material (jwcrypto reports that as "not found" too).
    impostor = {**second, "kid": google.identities.primary.kid}
    with pytest.raises(jwc.common.JWKeyNotFound):
        peer_decrypt(jwc, token, PROFILES["signed"], keys=[impostor], verify=None)
