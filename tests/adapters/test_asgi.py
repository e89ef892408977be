"""The ASGI middleware in-process: hand-driven receive/send, and under Starlette."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterator

import httpx
import pytest
from adapter_harness import (
    JOSE,
    PAYLOAD,
    URL,
    ASGICall,
    CountingProvider,
    EchoASGI,
    expired_recipients,
    middleware,
    open_from_server,
    seal_for_server,
)
from conftest import JWEParty
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import gpay_envelope as ge
from gpay_envelope.adapters import KeyHolder, Keys
from gpay_envelope.adapters import asgi as gasgi
from gpay_envelope.adapters.httpx import AsyncEnvelopeTransport
from gpay_envelope.adapters.httpx import open_result as httpx_result
from gpay_envelope.testing import fake_registry


def test_asgi_opens_the_request_and_seals_the_response(
    server_keys: Keys, client_keys: Keys
) -> None:
    envelope = seal_for_server(client_keys)
    chunks = [envelope[i : i + 100] for i in range(0, len(envelope), 100)]  # more_body
    provider = CountingProvider(server_keys)
    app = EchoASGI()
    call = ASGICall(chunks, headers=[(b"content-type", JOSE.encode())]).run(
        middleware(app, provider)
    )
    assert provider.calls == 1  # read once for the whole exchange
    (seen,) = app.calls
    assert (seen["body"], seen["more"]) == (PAYLOAD, False)
    inner = dict(seen["scope"]["headers"])
    assert inner[b"content-type"] == b"application/json"
    assert inner[b"content-length"] == str(len(PAYLOAD)).encode()
    result = gasgi.open_result(seen["scope"])
    assert result is not None
    assert (result.decrypted_with, result.verified_by) == ("partner-enc-1", ("google-sig-1",))
    assert call.status == 200
    assert call.headers[b"content-type"] == JOSE.encode()
    assert call.headers[b"content-length"] == str(len(call.body)).encode()
    opened = open_from_server(client_keys, call.body)
    assert opened.plaintext == b'{"echo":' + PAYLOAD + b"}"
    assert opened.verified_by == ("partner-sig-1",)
    assert len(call.sent) == 2  # one start, one body


def test_asgi_maps_errors_to_400_and_401(
    server_keys: Keys, client_keys: Keys, partner: JWEParty
) -> None:
    app = EchoASGI()
    mw = middleware(app, server_keys)
    envelope = seal_for_server(client_keys)
    tampered = envelope[:-8] + (b"A" if envelope[-8:-7] != b"A" else b"B") + envelope[-7:]
    for body in (tampered, b"", b"not an envelope", b"\xff\xfe"):
        call = ASGICall([body]).run(mw)
        assert (call.status, call.body) == (400, b"invalid envelope\n")
        assert call.headers[b"content-type"] == b"text/plain; charset=utf-8"
    # Sealed to the partner, but signed by a key the partner does not trust: 401 (R2).
    stranger = ge.seal(PAYLOAD, recipients=partner.public_enc, signer=partner.signer, codec="jwe")
    call = ASGICall([stranger]).run(mw)
    assert (call.status, call.body) == (401, b"invalid signature\n")
    assert app.calls == []


def test_asgi_refuses_a_declared_oversize_body_without_reading(server_keys: Keys) -> None:
    app = EchoASGI()
    mw = middleware(app, server_keys, limits=ge.Limits(max_envelope=4096))
    call = ASGICall([b"x" * 10], headers=[(b"content-length", b"4097")]).run(mw)
    assert (call.status, call.received) == (413, 0)
    assert call.headers[b"connection"] == b"close"
    call = ASGICall([b"x"], headers=[(b"content-length", b"12abc")]).run(mw)
    assert (call.status, call.received) == (400, 0)
    assert app.calls == []


def test_asgi_stops_reading_a_streamed_body_at_the_cap(server_keys: Keys) -> None:
    def endless() -> Iterator[bytes]:
        for _ in range(10_000):
            yield b"A" * 1024

    app = EchoASGI()
    call = ASGICall(endless()).run(
        middleware(app, server_keys, limits=ge.Limits(max_envelope=4096))
    )
    assert call.status == 413
    assert call.received == 5  # 5 KiB read: one chunk past the 4 KiB cap, then no more
    assert app.calls == []


def test_asgi_client_gone_while_reading(server_keys: Keys) -> None:
    app = EchoASGI()
    call = ASGICall([b"A"] * 5, disconnect_after=2).run(middleware(app, server_keys))
    assert call.sent == [] and app.calls == []


def test_asgi_passes_through_what_it_does_not_protect(server_keys: Keys) -> None:
    app = EchoASGI()
    mw = middleware(app, server_keys, paths=["/api/", "/exact"])
    call = ASGICall([b"plain"], path="/healthz").run(mw)
    assert (call.status, call.body) == (200, b'{"echo":plain}')
    call = ASGICall([b"plain"], path="/exact/more").run(mw)
    assert call.status == 200
    assert ASGICall([b"x"], path="/exact").run(mw).status == 400
    assert ASGICall([b"x"], path="/api/v1/x").run(mw).status == 400
    for kind in ("lifespan", "websocket"):
        ASGICall([], scope_type=kind).run(mw)
        assert app.calls[-1]["scope"]["type"] == kind
        assert gasgi.SCOPE_KEY not in app.calls[-1]["scope"]


def test_asgi_seals_error_responses_and_skips_bodiless_ones(
    server_keys: Keys, client_keys: Keys
) -> None:
    envelope = seal_for_server(client_keys)
    call = ASGICall([envelope]).run(middleware(EchoASGI(422), server_keys))
    assert call.status == 422
    assert call.headers[b"content-type"] == JOSE.encode()
    assert open_from_server(client_keys, call.body).plaintext.startswith(b'{"echo":')
    call = ASGICall([envelope]).run(middleware(EchoASGI(204, body=b""), server_keys))
    assert (call.status, call.body) == (204, b"")
    assert call.headers[b"content-type"] == b"application/json"  # untouched


def test_asgi_answers_500_when_it_cannot_seal(
    server_keys: Keys, client_keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    envelope = seal_for_server(client_keys)
    gz = [(b"content-encoding", b"gzip")]
    call = ASGICall([envelope]).run(middleware(EchoASGI(extra_headers=gz), server_keys))
    assert (call.status, call.body) == (500, b"internal server error\n")
    big = middleware(EchoASGI(body=b"x" * 5000), server_keys, limits=ge.Limits(max_plaintext=4096))
    assert ASGICall([envelope]).run(big).status == 500
    expired = expired_recipients(server_keys)
    with caplog.at_level(logging.ERROR, logger="gpay_envelope.adapters"):
        call = ASGICall([envelope]).run(middleware(EchoASGI(), expired))
    assert call.status == 500
    assert "cannot seal the response" in caplog.text


def test_asgi_hides_body_send_extensions(server_keys: Keys, client_keys: Keys) -> None:
    app = EchoASGI()
    ext = {"http.response.pathsend": {}, "http.response.zerocopysend": {}, "tls": {"x": 1}}
    ASGICall([seal_for_server(client_keys)], extensions=ext).run(middleware(app, server_keys))
    assert app.calls[0]["scope"]["extensions"] == {"tls": {"x": 1}}


def test_asgi_logs_kids_at_debug_and_never_bodies(
    server_keys: Keys, client_keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    envelope = seal_for_server(client_keys)
    with caplog.at_level(logging.DEBUG, logger="gpay_envelope.adapters"):
        ASGICall([envelope]).run(middleware(EchoASGI(), server_keys))
        ASGICall([envelope[:-3]]).run(middleware(EchoASGI(), server_keys))
    assert "decrypted_with=partner-enc-1" in caplog.text
    assert "request rejected: InvalidEnvelope" in caplog.text
    for record in caplog.records:
        assert record.levelno == logging.DEBUG
        text = record.getMessage()
        assert "requestId" not in text and envelope[:40].decode() not in text


def test_asgi_under_starlette_with_the_async_transport(
    server_keys: Keys, client_keys: Keys
) -> None:
    seen: list[ge.OpenResult | None] = []

    async def pay(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(gasgi.open_result(request.scope))
        return JSONResponse({"status": "OK", "requestId": body["requestHeader"]["requestId"]})

    app = Starlette(routes=[Route("/api/echo", pay, methods=["POST"])])
    app.add_middleware(gasgi.EnvelopeMiddleware, keys=KeyHolder(server_keys))

    async def main() -> httpx.Response:
        transport = AsyncEnvelopeTransport(client_keys, transport=httpx.ASGITransport(app=app))
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.post(URL, content=PAYLOAD)

    response = asyncio.run(main())
    assert response.status_code == 200
    assert response.json() == {"status": "OK", "requestId": "r-1"}
    assert response.headers["content-type"] == "application/json"
    result = httpx_result(response)
    assert result is not None and result.verified_by == ("partner-sig-1",)
    assert seen[0] is not None and seen[0].decrypted_with == "partner-enc-1"


def test_asgi_with_a_custom_codec_uses_the_fallback_content_type(
    server_keys: Keys, client_keys: Keys
) -> None:
    reg = fake_registry("fake")

    def to_fake(ks: ge.KeySet) -> ge.KeySet:
        keys = [
            ge.Key(kid=k.kid, codec="fake", material=k.material, algorithms=k.algorithms)
            for k in ks
        ]
        return ge.KeySet(keys, primary=ks.primary.kid)

    def fake(keys: Keys) -> Keys:
        return Keys(**{f.name: to_fake(getattr(keys, f.name)) for f in dataclasses.fields(keys)})

    skeys, ckeys = fake(server_keys), fake(client_keys)
    env = ge.seal(
        PAYLOAD, recipients=ckeys.recipients, signer=ckeys.signer, codec="fake", registry=reg
    )
    call = ASGICall([env]).run(middleware(EchoASGI(), skeys, registry=reg))
    assert call.status == 200
    assert call.headers[b"content-type"] == b"application/octet-stream"
    assert call.body.startswith(b"FAKE.")


# --------------------------------------------------------------------------- WSGI
