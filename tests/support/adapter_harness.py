"""What the adapter tests share: key views, sealed payloads, and hand-driven ASGI and WSGI calls.

The partner runs the server (it opens with its identities, trusts Google's signing keys); the
simulated Google runs the clients. Real JWE keys come from conftest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from conftest import JWEParty

import gpay_envelope as ge
from gpay_envelope.adapters import Keys
from gpay_envelope.adapters import asgi as gasgi

JOSE = "application/jose; charset=utf-8"
URL = "https://partner.test/api/echo"
PAYLOAD = b'{"requestHeader":{"requestId":"r-1"},"amount":"10.00"}'


def server_view(partner: JWEParty, google: JWEParty) -> Keys:
    """The partner's view: open requests from Google, seal responses to Google."""
    return Keys(
        identities=partner.identities,
        senders=google.public_sig,
        signer=partner.signer,
        recipients=google.public_enc,
    )


def client_view(partner: JWEParty, google: JWEParty) -> Keys:
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


def expired_recipients(keys: Keys) -> Keys:
    """``keys`` with its recipients' primary key expired yesterday: sealing fails."""
    old = keys.recipients.primary
    past = old.with_validity(not_after=datetime.now(timezone.utc) - timedelta(days=1))
    return dataclasses.replace(keys, recipients=keys.recipients.replace(past))


# --------------------------------------------------------------------------- WSGI harness


def echo_wsgi(status: str = "200 OK", **kw: Any) -> Callable[..., Iterable[bytes]]:
    """A WSGI app answering ``{"echo":<body>}``; ``app.seen`` records what it was given."""
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
    """One request through a WSGI app: (status, headers, body)."""
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
