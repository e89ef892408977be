"""The web adapters in-process: ASGI and WSGI middleware, httpx transports, requests adapter.

The partner runs the server (it opens with its identities, trusts Google's signing keys);
the simulated Google runs the clients. Real JWE keys from conftest; no network here (the
HTTPS runs are in test_adapters_e2e.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import importlib.util
import io
import json
import logging
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from conftest import JWEParty
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import gpay_envelope as ge
from gpay_envelope.adapters import CONTENT_TYPES, KeyHolder, Keys, envelope_content_type
from gpay_envelope.adapters import asgi as gasgi
from gpay_envelope.adapters import wsgi as gwsgi
from gpay_envelope.adapters._common import parse_content_length
from gpay_envelope.adapters.httpx import AsyncEnvelopeTransport, EnvelopeTransport
from gpay_envelope.adapters.httpx import open_result as httpx_result
from gpay_envelope.adapters.requests import EnvelopeAdapter, open_result
from gpay_envelope.testing import fake_registry

JOSE = "application/jose; charset=utf-8"
URL = "https://partner.test/api/echo"
PAYLOAD = b'{"requestHeader":{"requestId":"r-1"},"amount":"10.00"}'


# --------------------------------------------------------------------------- key bundles


@pytest.fixture(scope="module")
def server_keys(partner: JWEParty, google: JWEParty) -> Keys:
    """The partner's view: open requests from Google, seal responses to Google."""
    return Keys(
        identities=partner.identities,
        senders=google.public_sig,
        signer=partner.signer,
        recipients=google.public_enc,
    )


@pytest.fixture(scope="module")
def client_keys(partner: JWEParty, google: JWEParty) -> Keys:
    """Google's view: seal requests to the partner, open the partner's responses."""
    return Keys(
        identities=google.identities,
        senders=partner.public_sig,
        signer=google.signer,
        recipients=partner.public_enc,
    )


def seal_for_server(keys: Keys, payload: bytes = PAYLOAD) -> bytes:
    return ge.seal(payload, recipients=keys.recipients, signer=keys.signer, codec="jwe")


def open_from_server(keys: Keys, envelope: bytes) -> ge.OpenResult:
    return ge.open_detailed(envelope, identities=keys.identities, senders=keys.senders)


class CountingProvider:
    """A key provider that counts how often it is asked."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.calls = 0

    def __call__(self) -> Keys:
        self.calls += 1
        return self.keys


# --------------------------------------------------------------------------- Keys, KeyHolder


def test_keys_are_checked(server_keys: Keys, partner: JWEParty) -> None:
    with pytest.raises(TypeError, match="senders"):
        Keys(
            identities=partner.identities,
            senders="google",  # type: ignore[arg-type]
            signer=partner.signer,
            recipients=partner.public_enc,
        )
    with pytest.raises(ge.KeySetError, match="identities holds no private key"):
        dataclasses.replace(server_keys, identities=partner.public_enc)
    with pytest.raises(ge.KeySetError, match="signer holds no private key"):
        dataclasses.replace(server_keys, signer=partner.public_sig)
    k = partner.public_enc.primary
    other = ge.Key(kid="x", codec="other", material=k.material, algorithms=k.algorithms)
    with pytest.raises(ge.KeySetError, match="one codec"):
        dataclasses.replace(server_keys, recipients=ge.KeySet([other], primary="x"))
    assert server_keys.codec == "jwe"
    with pytest.raises(dataclasses.FrozenInstanceError):
        server_keys.signer = partner.signer  # type: ignore[misc]


def test_key_holder_swaps_whole_bundles(server_keys: Keys, client_keys: Keys) -> None:
    holder = KeyHolder(server_keys)
    assert holder() is holder.get() is server_keys
    holder.set(client_keys)
    assert holder() is client_keys
    new = holder.update(lambda k: dataclasses.replace(k, signer=server_keys.signer))
    assert holder() is new and new.signer is server_keys.signer
    with pytest.raises(ge.KeySetError):
        holder.update(lambda k: dataclasses.replace(k, signer=k.senders))
    assert holder() is new  # a failed change changes nothing
    with pytest.raises(TypeError):
        holder.set("keys")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        holder.update(lambda k: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError):
        KeyHolder(None)  # type: ignore[arg-type]
    assert "PRIVATE" not in repr(holder) and "KeyHolder(Keys(" in repr(holder)


def test_content_types_follow_the_spec() -> None:
    assert envelope_content_type("pgp") == "application/octet-stream; charset=utf-8"  # H1
    assert envelope_content_type("jwe") == "application/jose; charset=utf-8"  # H2
    assert envelope_content_type("custom") == "application/octet-stream"
    assert dict(CONTENT_TYPES) == {
        "pgp": "application/octet-stream; charset=utf-8",
        "jwe": "application/jose; charset=utf-8",
    }


def test_content_length_parsing() -> None:
    assert parse_content_length(None) is None
    assert parse_content_length(b" 12 ") == 12
    for bad in ("", "-1", "1e3", "0x10", "\uff11\uff12", "12, 12"):
        with pytest.raises(ValueError):
            parse_content_length(bad)


def test_importing_the_package_needs_no_framework() -> None:
    code = (
        "import sys, gpay_envelope, gpay_envelope.adapters, gpay_envelope.adapters.asgi, "
        "gpay_envelope.adapters.wsgi\n"
        "bad = {'httpx', 'requests', 'starlette', 'uvicorn', 'anyio'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- ASGI harness


class ASGICall:
    """One request through an ASGI app, with hand-made receive/send."""

    def __init__(
        self,
        chunks: Iterable[bytes] = (),
        *,
        path: str = "/api/echo",
        headers: Iterable[tuple[bytes, bytes]] = (),
        scope_type: str = "http",
        extensions: dict[str, Any] | None = None,
        disconnect_after: int | None = None,
    ) -> None:
        self.scope: dict[str, Any] = {
            "type": scope_type,
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "https",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": list(headers),
        }
        if extensions is not None:
            self.scope["extensions"] = extensions
        self._chunks = iter(chunks)
        self._pending = next(self._chunks, None)
        self.received = 0
        self._disconnect_after = disconnect_after
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        if self._disconnect_after is not None and self.received > self._disconnect_after:
            return {"type": "http.disconnect"}
        if self._pending is None:
            return {"type": "http.disconnect"}
        chunk, self._pending = self._pending, next(self._chunks, None)
        return {"type": "http.request", "body": chunk, "more_body": self._pending is not None}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def run(self, app: Any) -> ASGICall:
        asyncio.run(app(self.scope, self.receive, self.send))
        return self

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return {k: v for k, v in self.sent[0]["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


class EchoASGI:
    """Answers with what it was given (and a status of choice); records what it saw."""

    def __init__(
        self,
        status: int = 200,
        *,
        extra_headers: Iterable[tuple[bytes, bytes]] = (),
        body: bytes | None = None,
    ) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = status
        self.extra_headers = list(extra_headers)
        self.body = body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            self.calls.append({"scope": scope})
            return
        message = await receive()
        self.calls.append({"scope": scope, "body": message["body"], "more": message["more_body"]})
        out = self.body if self.body is not None else b'{"echo":' + message["body"] + b"}"
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", b"application/json"), *self.extra_headers],
            }
        )
        half = len(out) // 2
        await send({"type": "http.response.body", "body": out[:half], "more_body": True})
        await send({"type": "http.response.body", "body": out[half:], "more_body": False})


def middleware(app: Any, keys: Any, **kwargs: Any) -> gasgi.EnvelopeMiddleware:
    return gasgi.EnvelopeMiddleware(app, keys=keys, **kwargs)


# --------------------------------------------------------------------------- ASGI


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
    expired = _expired_recipients(server_keys)
    with caplog.at_level(logging.ERROR, logger="gpay_envelope.adapters"):
        call = ASGICall([envelope]).run(middleware(EchoASGI(), expired))
    assert call.status == 500
    assert "cannot seal the response" in caplog.text


def _expired_recipients(keys: Keys) -> Keys:
    old = keys.recipients.primary
    past = old.with_validity(not_after=ge_now() - timedelta(days=1))
    return dataclasses.replace(keys, recipients=keys.recipients.replace(past))


def ge_now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


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


def echo_wsgi(status: str = "200 OK", **kw: Any) -> Callable[..., Iterable[bytes]]:
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read()
        seen.append({"environ": environ, "body": body})
        headers = [("Content-Type", "application/json"), *kw.get("headers", [])]
        start_response(status, headers)
        out: Iterable[bytes] = kw.get("body", [b'{"echo":', body, b"}"])
        return out

    app.seen = seen  # type: ignore[attr-defined]
    return app


def wsgi_call(
    app: Any, body: bytes | None, *, length: str | None = "auto", **environ: Any
) -> tuple[str, dict[str, str], bytes]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/api/echo",
        "wsgi.input": io.BytesIO(body or b""),
        "wsgi.url_scheme": "https",
    }
    if length == "auto":
        env["CONTENT_LENGTH"] = str(len(body or b""))
    elif length is not None:
        env["CONTENT_LENGTH"] = length
    env.update(environ)
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        got["status"], got["headers"] = status, dict(headers)
        return lambda data: None

    chunks = app(env, start_response)
    out = b"".join(chunks)
    return got["status"], got["headers"], out


def test_wsgi_opens_the_request_and_seals_the_response(
    server_keys: Keys, client_keys: Keys
) -> None:
    app = echo_wsgi()
    provider = CountingProvider(server_keys)
    status, headers, body = wsgi_call(
        gwsgi.EnvelopeMiddleware(app, keys=provider), seal_for_server(client_keys)
    )
    assert provider.calls == 1
    assert status == "200 OK"
    assert headers["Content-Type"] == JOSE
    assert headers["Content-Length"] == str(len(body))
    assert open_from_server(client_keys, body).plaintext == b'{"echo":' + PAYLOAD + b"}"
    (seen,) = app.seen  # type: ignore[attr-defined]
    env = seen["environ"]
    assert seen["body"] == PAYLOAD
    assert (env["CONTENT_TYPE"], env["CONTENT_LENGTH"]) == ("application/json", str(len(PAYLOAD)))
    result = gwsgi.open_result(env)
    assert result is not None and result.verified_by == ("google-sig-1",)


def test_wsgi_maps_errors_and_sizes(
    server_keys: Keys, client_keys: Keys, partner: JWEParty
) -> None:
    app = echo_wsgi()
    mw = gwsgi.EnvelopeMiddleware(app, keys=server_keys, limits=ge.Limits(max_envelope=4096))
    assert wsgi_call(mw, b"garbage")[:1] == ("400 Bad Request",)
    stranger = ge.seal(PAYLOAD, recipients=partner.public_enc, signer=partner.signer, codec="jwe")
    status, headers, body = wsgi_call(mw, stranger)
    assert (status, body) == ("401 Unauthorized", b"invalid signature\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"

    class Unreadable(io.RawIOBase):
        def read(self, n: int = -1) -> bytes:
            raise AssertionError("the body must not be read")

    status = wsgi_call(mw, None, length="5000", **{"wsgi.input": Unreadable()})[0]
    assert status.startswith("413 ")
    assert wsgi_call(mw, b"x", length="x1")[0] == "400 Bad Request"
    # No CONTENT_LENGTH: PEP 3333 says the body is empty, unless the input is terminated.
    assert wsgi_call(mw, seal_for_server(client_keys), length=None)[0] == "400 Bad Request"
    ok = wsgi_call(mw, seal_for_server(client_keys), length=None, **{"wsgi.input_terminated": True})
    assert ok[0] == "200 OK"

    class Counting(io.RawIOBase):
        reads = 0

        def read(self, n: int = -1) -> bytes:
            self.reads += 1
            return b"A" * 1024

    stream = Counting()
    status = wsgi_call(
        mw, None, length=None, **{"wsgi.input": stream, "wsgi.input_terminated": True}
    )[0]
    assert status.startswith("413 ") and stream.reads == 5
    assert len(app.seen) == 1  # type: ignore[attr-defined]


def test_wsgi_response_paths(server_keys: Keys, client_keys: Keys) -> None:
    envelope = seal_for_server(client_keys)
    status, headers, body = wsgi_call(
        gwsgi.EnvelopeMiddleware(echo_wsgi("404 Not Found"), keys=server_keys), envelope
    )
    assert (status, headers["Content-Type"]) == ("404 Not Found", JOSE)
    assert open_from_server(client_keys, body).plaintext.startswith(b'{"echo":')
    status, headers, body = wsgi_call(
        gwsgi.EnvelopeMiddleware(echo_wsgi("204 No Content", body=[]), keys=server_keys),
        envelope,
    )
    assert (status, headers["Content-Type"], body) == ("204 No Content", "application/json", b"")
    gz = echo_wsgi(headers=[("Content-Encoding", "gzip")])
    assert wsgi_call(gwsgi.EnvelopeMiddleware(gz, keys=server_keys), envelope)[0].startswith("500 ")
    expired = gwsgi.EnvelopeMiddleware(echo_wsgi(), keys=_expired_recipients(server_keys))
    assert wsgi_call(expired, envelope)[0].startswith("500 ")
    big = gwsgi.EnvelopeMiddleware(
        echo_wsgi(body=[b"x" * 5000]), keys=server_keys, limits=ge.Limits(max_plaintext=4096)
    )
    assert wsgi_call(big, envelope)[0].startswith("500 ")
    passthrough = gwsgi.EnvelopeMiddleware(echo_wsgi(), keys=server_keys, paths=["/api/"])
    assert wsgi_call(passthrough, b"hi", PATH_INFO="/healthz") == (
        "200 OK",
        {"Content-Type": "application/json"},
        b'{"echo":hi}',
    )


def test_wsgi_follows_pep_3333(server_keys: Keys, client_keys: Keys) -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b'{"a":'
            yield b"1}"

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [("Content-Type", "application/json")])
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            write = start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        write(b"legacy ")  # the write() callable
        return Body()

    status, _, body = wsgi_call(
        gwsgi.EnvelopeMiddleware(app, keys=server_keys), seal_for_server(client_keys)
    )
    assert status == "503 Service Unavailable"
    assert open_from_server(client_keys, body).plaintext == b'legacy {"a":1}'
    assert closed == [True]

    def twice(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return []

    def never(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return []

    for bad in (twice, never):
        with pytest.raises(RuntimeError):
            wsgi_call(gwsgi.EnvelopeMiddleware(bad, keys=server_keys), seal_for_server(client_keys))


def test_wsgi_with_the_sync_transport(server_keys: Keys, client_keys: Keys) -> None:
    app = gwsgi.EnvelopeMiddleware(echo_wsgi(), keys=server_keys)
    transport = EnvelopeTransport(client_keys, transport=httpx.WSGITransport(app=app))
    with httpx.Client(transport=transport) as client:
        response = client.post(URL, content=PAYLOAD)
    assert response.status_code == 200
    assert response.content == b'{"echo":' + PAYLOAD + b"}"
    result = httpx_result(response)
    assert result is not None
    assert (result.decrypted_with, result.verified_by) == ("google-enc-1", ("partner-sig-1",))


# --------------------------------------------------------------------------- httpx transports


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


def test_the_example_service_serves_and_reloads(
    tmp_path: Path, partner: JWEParty, google: JWEParty
) -> None:
    spec = importlib.util.spec_from_file_location(
        "partner_service", Path(__file__).parent.parent / "examples" / "partner_service.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    def write(name: str, ks: ge.KeySet, **extra: Any) -> None:
        data = ks.to_jwks(include_private=ks.has_secret) | extra
        (tmp_path / f"{name}.jwks").write_text(json.dumps(data))

    write("our-enc", partner.identities, primary="partner-enc-2", disabled=["partner-enc-1"])
    write("our-sig", partner.signer)
    write("google-enc", google.public_enc)
    write("google-sig", google.public_sig)
    keys = example.load_keys(tmp_path)
    assert keys.identities.primary.kid == "partner-enc-2"
    assert keys.identities.get("partner-enc-1").status is ge.KeyStatus.DISABLED
    holder = KeyHolder(keys)
    google_side = Keys(
        identities=google.identities,
        senders=partner.public_sig,
        signer=google.signer,
        recipients=ge.KeySet([partner.public_enc.get("partner-enc-2")], primary="partner-enc-2"),
    )

    async def call() -> httpx.Response:
        transport = AsyncEnvelopeTransport(
            google_side, transport=httpx.ASGITransport(app=example.build_app(holder))
        )
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.post("https://partner.test/echo", content=PAYLOAD)

    response = asyncio.run(call())
    assert response.status_code == 200
    assert response.json()["echo"] == json.loads(PAYLOAD)


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
