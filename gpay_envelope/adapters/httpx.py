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
over the cap) and is NOT authenticated. `open_result` tells which. The rules themselves are in
``_exchange.py``; this module moves httpx requests and responses.
"""

from __future__ import annotations

import ssl
from functools import partial
from typing import Generic, TypeVar

import httpx

from ..codecs import DEFAULT_LIMITS, CodecRegistry, Limits, OpenResult
from ..tls import client_tls_context
from ._common import KeyProvider, run_blocking
from ._exchange import (
    PLAINTEXT_CONTENT_TYPE,
    ClientExchange,
    Engine,
    HeaderEdit,
    OpenedResponse,
    read_capped,
    read_capped_async,
    require_https,
)

__all__ = ["EXTENSION_KEY", "AsyncEnvelopeTransport", "EnvelopeTransport", "open_result"]

#: ``response.extensions`` key holding the `OpenResult` of an opened response.
EXTENSION_KEY = "gpay_envelope"

_Inner = TypeVar("_Inner", httpx.BaseTransport, httpx.AsyncBaseTransport)


def open_result(response: httpx.Response) -> OpenResult | None:
    """The `OpenResult` of ``response``: who decrypted and who signed it; None when its body
    was not an envelope (a non-2xx response handed on as it came, unauthenticated)."""
    result = response.extensions.get(EXTENSION_KEY)
    return result if isinstance(result, OpenResult) else None


class _Envelopes(Generic[_Inner]):
    """What both transports share: their arguments (see `EnvelopeTransport`), the inner
    transport and the start of each exchange."""

    def __init__(
        self,
        keys: KeyProvider,
        *,
        tls: ssl.SSLContext | None = None,
        transport: _Inner | None = None,
        limits: Limits = DEFAULT_LIMITS,
        profile: str | None = None,
        registry: CodecRegistry | None = None,
        content_type: str = PLAINTEXT_CONTENT_TYPE,
    ) -> None:
        if transport is not None and tls is not None:
            raise ValueError("pass tls or transport, not both")
        self._engine = Engine(
            keys, limits=limits, profile=profile, registry=registry, content_type=content_type
        )
        self._inner: _Inner = transport or self._default_transport(tls or client_tls_context())

    def _default_transport(self, tls: ssl.SSLContext) -> _Inner:
        raise NotImplementedError

    def _start(self, request: httpx.Request) -> ClientExchange:
        require_https(str(request.url))
        return ClientExchange(self._engine)


def _sealed_request(request: httpx.Request, envelope: bytes, edit: HeaderEdit) -> httpx.Request:
    headers = request.headers.copy()
    edit.apply_to(headers)
    extensions = request.extensions
    return httpx.Request(
        request.method, request.url, headers=headers, content=envelope, extensions=extensions
    )


def _opened_response(response: httpx.Response, opened: OpenedResponse) -> httpx.Response:
    headers = response.headers.copy()
    opened.headers.apply_to(headers)
    extensions = dict(response.extensions)
    if opened.result is not None:
        extensions[EXTENSION_KEY] = opened.result
    return httpx.Response(
        response.status_code, headers=headers, content=opened.body, extensions=extensions
    )


class EnvelopeTransport(_Envelopes[httpx.BaseTransport], httpx.BaseTransport):
    """A sync transport that seals requests and opens responses.

    Args:
        keys: a `Keys` bundle or a zero-argument callable returning the current one (a
            `KeyHolder`); called once per request.
        tls: the client TLS context for the default inner transport (default:
            `client_tls_context()`, the system trust store).
        transport: the transport to send through instead of ``httpx.HTTPTransport(verify=tls)``
            (``httpx.AsyncHTTPTransport`` for the async one); then ``tls`` must be None.
        limits: size bounds; ``max_envelope`` caps the response body read.
        profile: seal profile (None: the codec's default).
        registry: codec registry (None: the default one).
        content_type: content type given to opened response bodies.
    """

    def _default_transport(self, tls: ssl.SSLContext) -> httpx.BaseTransport:
        return httpx.HTTPTransport(verify=tls)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exchange = self._start(request)
        envelope, edit = exchange.seal_request(request.read())
        response = self._inner.handle_request(_sealed_request(request, envelope, edit))
        try:
            # iter_bytes() undoes a Content-Encoding the server applied despite
            # Accept-Encoding: identity; the cap is counted on the decoded bytes.
            body = read_capped(response.iter_bytes(), exchange.max_body)
        finally:
            response.close()
        content_type = response.headers.get("content-type")
        opened = exchange.open_response(
            status=response.status_code, content_type=content_type, body=body
        )
        return _opened_response(response, opened)

    def close(self) -> None:
        self._inner.close()


class AsyncEnvelopeTransport(_Envelopes[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport):
    """The async twin of `EnvelopeTransport` (same arguments; ``transport`` is an
    ``httpx.AsyncBaseTransport``). Sealing and opening run in a worker thread."""

    def _default_transport(self, tls: ssl.SSLContext) -> httpx.AsyncBaseTransport:
        return httpx.AsyncHTTPTransport(verify=tls)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = self._start(request)
        plaintext = await request.aread()
        envelope, edit = await run_blocking(partial(exchange.seal_request, plaintext))
        response = await self._inner.handle_async_request(_sealed_request(request, envelope, edit))
        try:
            body = await read_capped_async(response.aiter_bytes(), exchange.max_body)
        finally:
            await response.aclose()
        opened = await run_blocking(
            partial(
                exchange.open_response,
                status=response.status_code,
                content_type=response.headers.get("content-type"),
                body=body,
            )
        )
        return _opened_response(response, opened)

    async def aclose(self) -> None:
        await self._inner.aclose()
