"""The order of a key rotation matters: each wrong order fails at once (docs/adapters.md)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from adapter_harness import PAYLOAD, URL, echo_wsgi
from conftest import JWEParty

import gpay_envelope as ge
from gpay_envelope.adapters import KeyHolder, Keys
from gpay_envelope.adapters import wsgi as gwsgi
from gpay_envelope.adapters.httpx import EnvelopeTransport


def test_rotation_order_matters(partner: JWEParty, google: JWEParty) -> None:
    """The negative control of the e2e rotation walk: each wrong order fails at once."""
    enc1, enc2 = partner.identities.get("partner-enc-1"), partner.identities.get("partner-enc-2")
    sig1, sig2 = partner.public_sig.get("partner-sig-1"), partner.public_sig.get("partner-sig-2")
    server = KeyHolder(
        Keys(
            identities=ge.KeySet([enc1], primary=enc1.kid),
            senders=google.public_sig,
            signer=partner.signer,  # signs with partner-sig-1, its primary
            recipients=google.public_enc,
        )
    )
    client = KeyHolder(
        Keys(
            identities=google.identities,
            senders=partner.public_sig,
            signer=google.signer,
            recipients=ge.KeySet([enc2.public()], primary=enc2.kid),  # sealing to the new key
        )
    )
    app = gwsgi.EnvelopeMiddleware(echo_wsgi(), keys=server)
    transport = EnvelopeTransport(client, transport=httpx.WSGITransport(app=app))
    with httpx.Client(transport=transport) as http:
        # The client seals to a key the server has not added yet: 400.
        assert http.post(URL, content=PAYLOAD).status_code == 400
        server.update(lambda k: dataclasses.replace(k, identities=k.identities.with_key(enc2)))
        assert http.post(URL, content=PAYLOAD).status_code == 200
        # The client stops trusting the server's signing key while the server still uses it.
        client.update(lambda k: dataclasses.replace(k, senders=ge.KeySet([sig2], primary=sig2.kid)))
        with pytest.raises(ge.InvalidSignature):
            http.post(URL, content=PAYLOAD)
        client.update(lambda k: dataclasses.replace(k, senders=ge.KeySet([sig1], primary=sig1.kid)))
        assert http.post(URL, content=PAYLOAD).status_code == 200
