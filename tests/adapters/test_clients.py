"""The client adapters in-process: httpx transports over MockTransport, the requests adapter
with HTTPAdapter.send stubbed. No network here (the HTTPS runs are in test_e2e_https.py)."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import pickle
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
from adapter_harness import JOSE, PAYLOAD, URL, CountingProvider
from conftest import JWEParty

import gpay_envelope as ge
from gpay_envelope.adapters import Keys
from gpay_envelope.adapters.httpx import AsyncEnvelopeTransport, EnvelopeTransport
from gpay_envelope.adapters.httpx import open_result as httpx_result
from gpay_envelope.adapters.requests import EnvelopeAdapter, open_result


class FakePartner:
    """A MockTransport handler playing the partner's server, with knobs for misbehaviour."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.requests: list[httpx.Request] = []
        self.reply: Callable[[bytes], httpx.Response] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.reply is not None:
            return self.reply(request.content)
        keys = self.keys
        plaintext = ge.open(request.content, identities=keys.identities, senders=keys.senders)
        sealed = ge.seal(
            b"re:" + plaintext, recipients=keys.recipients, signer=keys.signer, codec="jwe"
        )
        return httpx.Response(200, headers={"content-type": JOSE}, content=sealed)


def test_httpx_seals_requests_and_opens_responses(server_keys: Keys, client_keys: Keys) -> None:
    partner_side = FakePartner(server_keys)
    provider = CountingProvider(client_keys)
    transport = EnvelopeTransport(provider, transport=httpx.MockTransport(partner_side))
    with httpx.Client(transport=transport) as client:
        response = client.post(URL, content=PAYLOAD, headers={"content-type": "text/plain"})
    assert provider.calls == 1
    (sent,) = partner_side.requests
    assert sent.headers["content-type"] == JOSE
    assert sent.headers["accept-encoding"] == "identity"
    assert sent.headers["content-length"] == str(len(sent.content))
    assert response.content == b"re:" + PAYLOAD
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))
    result = httpx_result(response)
    assert result is not None and result.verified_by == ("partner-sig-1",)


def test_httpx_response_rules(server_keys: Keys, client_keys: Keys, partner: JWEParty) -> None:
    partner_side = FakePartner(server_keys)
    transport = EnvelopeTransport(
        client_keys,
        transport=httpx.MockTransport(partner_side),
        limits=ge.Limits(max_envelope=4096),
    )
    to_google = client_keys.identities.public()
    good = ge.seal(b"ok", recipients=to_google, signer=partner.signer, codec="jwe")
    not_by_partner = ge.seal(b"ok", recipients=to_google, signer=client_keys.signer, codec="jwe")
    with httpx.Client(transport=transport) as client:
        partner_side.reply = lambda _: httpx.Response(200, content=b"garbage")
        with pytest.raises(ge.InvalidEnvelope):
            client.post(URL, content=PAYLOAD)
        partner_side.reply = lambda _: httpx.Response(200, content=not_by_partner)
        with pytest.raises(ge.InvalidSignature):
            client.post(URL, content=PAYLOAD)
        partner_side.reply = lambda _: httpx.Response(200, content=b"A" * 5000)
        with pytest.raises(ge.InvalidEnvelope):
            client.post(URL, content=PAYLOAD)
        # A plain error from the middleware: handed on as it came, not authenticated.
        partner_side.reply = lambda _: httpx.Response(
            401, headers={"content-type": "text/plain"}, content=b"invalid signature\n"
        )
        r = client.post(URL, content=PAYLOAD)
        assert (r.status_code, r.content, httpx_result(r)) == (401, b"invalid signature\n", None)
        # A sealed error response is opened...
        partner_side.reply = lambda _: httpx.Response(
            404, headers={"content-type": JOSE}, content=good
        )
        r = client.post(URL, content=PAYLOAD)
        assert (r.status_code, r.content) == (404, b"ok") and httpx_result(r) is not None
        # ... and one that does not open is handed on untouched, flagged by open_result.
        partner_side.reply = lambda _: httpx.Response(
            500, headers={"content-type": JOSE}, content=b"broken"
        )
        r = client.post(URL, content=PAYLOAD)
        assert (r.status_code, r.content, httpx_result(r)) == (500, b"broken", None)
        # A server that compresses anyway: the cap applies to the decoded body.
        partner_side.reply = lambda _: httpx.Response(
            200, headers={"content-encoding": "gzip"}, content=gzip.compress(good)
        )
        r = client.post(URL, content=PAYLOAD)
        assert r.content == b"ok" and "content-encoding" not in r.headers
        with pytest.raises(ValueError, match="https"):
            client.post("http://partner.test/api", content=PAYLOAD)


def test_httpx_transport_arguments(client_keys: Keys) -> None:
    import ssl

    mock = httpx.MockTransport(lambda request: httpx.Response(200))
    with pytest.raises(ValueError, match="not both"):
        EnvelopeTransport(client_keys, tls=ssl.create_default_context(), transport=mock)
    with pytest.raises(ValueError, match="not both"):
        AsyncEnvelopeTransport(client_keys, tls=ssl.create_default_context(), transport=mock)
    with pytest.raises(TypeError, match="key provider returned"):
        t = EnvelopeTransport(lambda: "keys", transport=mock)  # type: ignore[arg-type,return-value]
        t.handle_request(httpx.Request("POST", URL, content=b"x"))
    with pytest.raises(TypeError):
        EnvelopeTransport("keys")  # type: ignore[arg-type]
    # The default inner transport is built on client_tls_context().
    with EnvelopeTransport(client_keys) as t:
        pool = t._inner._pool  # type: ignore[attr-defined]
        ctx = pool._ssl_context
        assert ctx.minimum_version.name == "TLSv1_2" and ctx.check_hostname


def test_async_httpx_response_rules(server_keys: Keys, client_keys: Keys) -> None:
    partner_side = FakePartner(server_keys)

    async def main() -> None:
        transport = AsyncEnvelopeTransport(client_keys, transport=httpx.MockTransport(partner_side))
        async with httpx.AsyncClient(transport=transport) as client:
            r = await client.post(URL, content=PAYLOAD)
            assert r.content == b"re:" + PAYLOAD
            partner_side.reply = lambda _: httpx.Response(200, content=b"garbage")
            with pytest.raises(ge.InvalidEnvelope):
                await client.post(URL, content=PAYLOAD)
            with pytest.raises(ValueError, match="https"):
                await client.post("http://partner.test/api", content=PAYLOAD)

    asyncio.run(main())


# --------------------------------------------------------------------------- requests adapter


def test_requests_adapter_pins_its_tls_context(client_keys: Keys) -> None:
    import ssl

    ctx = ssl.create_default_context()
    adapter = EnvelopeAdapter(client_keys, tls=ctx, max_retries=0)
    assert adapter.poolmanager.connection_pool_kw["ssl_context"] is ctx
    prepared = requests.Request("POST", URL, data=b"x").prepare()
    _, pool_kwargs = adapter.build_connection_pool_key_attributes(prepared, "/etc/ssl/other.pem")
    assert pool_kwargs["ssl_context"] is ctx
    assert "ca_certs" not in pool_kwargs and pool_kwargs["cert_reqs"] == "CERT_REQUIRED"
    conn: Any = adapter.get_connection_with_tls_context(prepared, True)
    adapter.cert_verify(conn, URL, True, None)
    assert (conn.ca_certs, conn.ca_cert_dir, conn.cert_reqs) == (None, None, "CERT_REQUIRED")
    manager = adapter.proxy_manager_for("http://proxy.test:3128")
    assert manager.connection_pool_kw["ssl_context"] is ctx
    adapter.close()


def test_requests_adapter_refuses_what_would_weaken_it(client_keys: Keys) -> None:
    with requests.Session() as session:
        session.mount("https://", EnvelopeAdapter(client_keys))
        session.mount("http://", EnvelopeAdapter(client_keys))
        with pytest.raises(ValueError, match="always verifies"):
            session.post(URL, data=PAYLOAD, verify=False)
        with pytest.raises(ValueError, match="certfile"):
            session.post(URL, data=PAYLOAD, cert="client.pem")
        with pytest.raises(ValueError, match="https only"):
            session.post("http://partner.test/api", data=PAYLOAD)
        with pytest.raises(TypeError, match="bytes or str"):
            session.post(URL, data=iter([b"a", b"b"]))
        with pytest.raises(TypeError, match="not pickled"):
            pickle.dumps(session.get_adapter(URL))


def test_requests_adapter_rewrites_both_bodies(
    server_keys: Keys, client_keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """send() with HTTPAdapter.send stubbed: the sealed request out, the opened response in."""
    sent: list[requests.PreparedRequest] = []
    canned: list[tuple[int, str, bytes]] = []

    def fake_send(self: Any, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        sent.append(request)
        assert kwargs["stream"] is True
        if canned:
            response = requests.Response()
            response.status_code, response.headers["Content-Type"], body = canned.pop()
            response.raw = io.BytesIO(body)
            return response
        assert isinstance(request.body, bytes)
        keys = server_keys
        plaintext = ge.open(request.body, identities=keys.identities, senders=keys.senders)
        reply = ge.seal(
            b"re:" + plaintext, recipients=keys.recipients, signer=keys.signer, codec="jwe"
        )
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = JOSE
        response.raw = io.BytesIO(reply)
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake_send)
    with requests.Session() as session:
        session.mount("https://", EnvelopeAdapter(client_keys, limits=ge.Limits(max_envelope=4096)))
        r = session.post(URL, json=json.loads(PAYLOAD))
        canned.append((401, "text/plain", b"invalid signature\n"))
        plain = session.post(URL, data=PAYLOAD)
        assert (plain.status_code, plain.content) == (401, b"invalid signature\n")
        assert open_result(plain) is None
        canned.append((200, JOSE, b"garbage"))
        with pytest.raises(ge.InvalidEnvelope):
            session.post(URL, data=PAYLOAD)
        canned.append((200, JOSE, b"A" * 5000))
        with pytest.raises(ge.InvalidEnvelope):
            session.post(URL, data=PAYLOAD)
    out = sent[0]
    assert out.headers["Content-Type"] == JOSE
    assert out.headers["Accept-Encoding"] == "identity"
    assert isinstance(out.body, bytes)
    assert out.headers["Content-Length"] == str(len(out.body))
    assert r.status_code == 200
    assert json.loads(r.content[3:]) == json.loads(PAYLOAD)
    assert r.headers["Content-Type"] == "application/json"
    result = open_result(r)
    assert result is not None and result.verified_by == ("partner-sig-1",)


# --------------------------------------------------------------------------- the example
