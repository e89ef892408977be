"""httpx transports that seal request bodies and open response bodies (sync and async).

    import httpx
    from gpay_envelope.adapters.httpx import EnvelopeTransport
    from gpay_envelope.tls import client_tls_context

    transport = EnvelopeTransport(keys=holder, tls=client_tls_context(cafile="google-ca.pem"))
    with httpx.Client(transport=transport) as client:
        r = client.post(url, content=json_bytes)   # r.content is the opened plaintext

A transport wrapper, not an ``httpx.Auth``: the body changes both ways, and a transport sees
the response before the client decodes it. By default it wraps ``httpx.HTTPTransport`` with
`client_tls_context()` (TLS 1.2+, Google's suites, certificate and host name always checked).

Per request the key provider is read once. The request body is sealed (content type per
codec, ``Accept-Encoding: identity``); only ``https`` URLs are sent. The response body is
read up to ``limits.max_envelope`` bytes; a 2xx response must open, or `InvalidEnvelope` /
`InvalidSignature` is raised from ``client.send``. A non-2xx response whose content type is
the envelope's is opened when it can be; otherwise its body is handed on untouched (empty if
over the cap) and is NOT authenticated. `open_result` tells which.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from functools import partial

import httpx

from ..codecs import DEFAULT_LIMITS, CodecRegistry, Limits, OpenResult
from ..tls import client_tls_context
from ._common import (
    PLAINTEXT_CONTENT_TYPE,
    Engine,
    KeyProvider,
    Keys,
    aread_capped,
    read_capped,
    run_blocking,
)

__all__ = ["EXTENSION_KEY", "AsyncEnvelopeTransport", "EnvelopeTransport", "open_result"]

#: ``response.extensions`` key holding the `OpenResult` of an opened response.
EXTENSION_KEY = "gpay_envelope"

_DROPPED = ("content-length", "content-type", "content-encoding", "transfer-encoding")


def open_result(response: httpx.Response) -> OpenResult | None:
    """The `OpenResult` of ``response``: who decrypted and who signed it; None when its body
    was not an envelope (a non-2xx response handed on as it came, unauthenticated)."""
    result = response.extensions.get(EXTENSION_KEY)
    return result if isinstance(result, OpenResult) else None


class _Envelopes:
    """The request and response rewriting both transports share."""

    def __init__(
        self,
        keys: KeyProvider,
        limits: Limits,
        profile: str | None,
        registry: CodecRegistry | None,
        content_type: str,
    ) -> None:
        self.engine = Engine(
            keys, limits=limits, profile=profile, registry=registry, content_type=content_type
        )

    def sealed_request(self, request: httpx.Request, keys: Keys, envelope: bytes) -> httpx.Request:
        headers = request.headers.copy()
        for name in _DROPPED:
            headers.pop(name, None)
        headers["Content-Type"] = self.engine.envelope_type(keys)
        headers["Accept-Encoding"] = "identity"
        return httpx.Request(
            request.method,
            request.url,
            headers=headers,
            content=envelope,
            extensions=request.extensions,
        )

    def opened_response(
        self, response: httpx.Response, body: bytes, result: OpenResult | None
    ) -> httpx.Response:
        headers = response.headers.copy()
        extensions = dict(response.extensions)
        if result is not None:
            for name in _DROPPED:
                headers.pop(name, None)
            headers["Content-Type"] = self.engine.content_type
            body = result.plaintext
            extensions[EXTENSION_KEY] = result
        else:
            for name in ("content-length", "content-encoding", "transfer-encoding"):
                headers.pop(name, None)
        return httpx.Response(
            response.status_code, headers=headers, content=body, extensions=extensions
        )

    def open(self, keys: Keys, response: httpx.Response, body: bytes | None) -> OpenResult | None:
        return self.engine.open_response(
            keys,
            status=response.status_code,
            content_type=response.headers.get("content-type"),
            body=body,
        )


def _check_url(request: httpx.Request) -> None:
    if request.url.scheme != "https":
        raise ValueError("gpay_envelope sends envelopes over https only (Google's rule T1)")


class EnvelopeTransport(httpx.BaseTransport):
    """A sync transport that seals requests and opens responses.

    Args:
        keys: a `Keys` bundle or a zero-argument callable returning the current one (a
            `KeyHolder`); called once per request.
        tls: the client TLS context for the default inner transport (default:
            `client_tls_context()`, the system trust store).
        transport: the transport to send through instead of ``httpx.HTTPTransport(verify=tls)``;
            then ``tls`` must be None.
        limits: size bounds; ``max_envelope`` caps the response body read.
        profile: seal profile (None: the codec's default).
        registry: codec registry (None: the default one).
        content_type: content type given to opened response bodies.
    """

    def __init__(
        self,
        keys: KeyProvider,
        *,
        tls: ssl.SSLContext | None = None,
        transport: httpx.BaseTransport | None = None,
        limits: Limits = DEFAULT_LIMITS,
        profile: str | None = None,
        registry: CodecRegistry | None = None,
        content_type: str = PLAINTEXT_CONTENT_TYPE,
    ) -> None:
        if transport is not None and tls is not None:
            raise ValueError("pass tls or transport, not both")
        self._env = _Envelopes(keys, limits, profile, registry, content_type)
        self._inner = transport or httpx.HTTPTransport(verify=tls or client_tls_context())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _check_url(request)
        env = self._env
        keys = env.engine.current()
        envelope = env.engine.seal(keys, request.read())
        response = self._inner.handle_request(env.sealed_request(request, keys, envelope))
        try:
            body = read_capped(_iter_bytes(response), env.engine.max_body)
        finally:
            response.close()
        result = env.open(keys, response, body)
        return env.opened_response(response, body or b"", result)

    def close(self) -> None:
        self._inner.close()


class AsyncEnvelopeTransport(httpx.AsyncBaseTransport):
    """The async twin of `EnvelopeTransport` (same arguments; ``transport`` is an
    ``httpx.AsyncBaseTransport``). Sealing and opening run in a worker thread."""

    def __init__(
        self,
        keys: KeyProvider,
        *,
        tls: ssl.SSLContext | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limits: Limits = DEFAULT_LIMITS,
        profile: str | None = None,
        registry: CodecRegistry | None = None,
        content_type: str = PLAINTEXT_CONTENT_TYPE,
    ) -> None:
        if transport is not None and tls is not None:
            raise ValueError("pass tls or transport, not both")
        self._env = _Envelopes(keys, limits, profile, registry, content_type)
        self._inner = transport or httpx.AsyncHTTPTransport(verify=tls or client_tls_context())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _check_url(request)
        env = self._env
        keys = env.engine.current()
        plaintext = await request.aread()
        envelope = await run_blocking(partial(env.engine.seal, keys, plaintext))
        response = await self._inner.handle_async_request(
            env.sealed_request(request, keys, envelope)
        )
        try:
            body = await aread_capped(_aiter_bytes(response), env.engine.max_body)
        finally:
            await response.aclose()
        result = await run_blocking(partial(env.open, keys, response, body))
        return env.opened_response(response, body or b"", result)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _iter_bytes(response: httpx.Response) -> Iterator[bytes]:
    # iter_bytes() undoes a Content-Encoding the server applied despite Accept-Encoding:
    # identity; the cap is counted on the decoded bytes.
    yield from response.iter_bytes()


async def _aiter_bytes(response: httpx.Response) -> AsyncIterator[bytes]:
    async for chunk in response.aiter_bytes():
        yield chunk
