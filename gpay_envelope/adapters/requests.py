"""A requests transport adapter that seals request bodies, opens response bodies and pins TLS.

    import requests
    from gpay_envelope.adapters.requests import EnvelopeAdapter
    from gpay_envelope.tls import client_tls_context

    session = requests.Session()
    session.mount(
        "https://vgw.googleapis.com/",
        EnvelopeAdapter(keys=holder, tls=client_tls_context()),
    )
    r = session.post(url, data=json_bytes)   # r.content is the opened plaintext

An ``HTTPAdapter`` subclass, mounted on a URL prefix, as requests-toolbelt's ``SSLAdapter`` is.
Trust comes only from the adapter's `ssl.SSLContext` (default: `client_tls_context()`):
requests' own CA bundle (``verify=True``, ``REQUESTS_CA_BUNDLE``) is not added to it, and
``verify=False`` or ``cert=`` on a request raise ValueError, because they would change what the
context enforces. A client certificate goes into ``client_tls_context(certfile=...)``.

Per request the key provider is read once. The body is sealed (content type per codec,
``Accept-Encoding: identity``) and the response is read up to ``limits.max_envelope`` bytes. A
2xx response must open, or `InvalidEnvelope` / `InvalidSignature` is raised from
``session.post``. A non-2xx response labelled as an envelope is opened when it can be;
otherwise its body is handed on untouched (empty if over the cap) and is NOT authenticated.
`open_result` tells which. The rules themselves are in ``_exchange.py``; this module moves
requests' prepared requests and responses.
"""

from __future__ import annotations

import ssl
from typing import Any, NoReturn

from requests import PreparedRequest, Response
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter

from ..codecs import DEFAULT_LIMITS, CodecRegistry, Limits, OpenResult
from ..tls import client_tls_context
from ._common import KeyProvider
from ._exchange import PLAINTEXT_CONTENT_TYPE, ClientExchange, Engine, read_capped, require_https

__all__ = ["EnvelopeAdapter", "open_result"]

_RESULT_ATTRIBUTE = "_gpay_envelope_open_result"
_CHUNK = 64 * 1024


def open_result(response: Response) -> OpenResult | None:
    """The `OpenResult` of ``response``: who decrypted and who signed it; None when its body
    was not an envelope (a non-2xx response handed on as it came, unauthenticated)."""
    result = vars(response).get(_RESULT_ATTRIBUTE)
    return result if isinstance(result, OpenResult) else None


class EnvelopeAdapter(HTTPAdapter):
    """Seals request bodies and opens response bodies, over a pinned TLS context.

    Takes the arguments of ``httpx.EnvelopeTransport`` in this package but ``transport``
    (``tls`` is the context every connection uses), and passes ``**kwargs`` to
    ``HTTPAdapter`` (``pool_maxsize``, ``max_retries``, ...).
    """

    def __init__(
        self,
        keys: KeyProvider,
        *,
        tls: ssl.SSLContext | None = None,
        limits: Limits = DEFAULT_LIMITS,
        profile: str | None = None,
        registry: CodecRegistry | None = None,
        content_type: str = PLAINTEXT_CONTENT_TYPE,
        **kwargs: Any,
    ) -> None:
        # Set before HTTPAdapter.__init__, which calls init_poolmanager.
        self._tls = tls or client_tls_context()
        self._engine = Engine(
            keys, limits=limits, profile=profile, registry=registry, content_type=content_type
        )
        super().__init__(**kwargs)

    # -- TLS: the adapter's context, nothing else --------------------------------------------
    def init_poolmanager(
        self,
        connections: int,
        maxsize: int,
        block: bool = DEFAULT_POOLBLOCK,
        **pool_kwargs: Any,
    ) -> None:
        pool_kwargs["ssl_context"] = self._tls
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs["ssl_context"] = self._tls
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        _check_tls_arguments(verify, cert)
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, True, None)
        for name in ("ca_certs", "ca_cert_dir", "cert_file", "key_file"):
            pool_kwargs.pop(name, None)
        pool_kwargs["ssl_context"] = self._tls
        pool_kwargs["cert_reqs"] = "CERT_REQUIRED"
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # HTTPAdapter would point the pool at requests' CA bundle, which urllib3 then loads
        # into our context; trust stays what the context was given.
        _check_tls_arguments(verify, cert)
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None

    # -- envelopes ---------------------------------------------------------------------------
    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> Response:
        """Seal ``request.body``, send it, and open the response body."""
        require_https(request.url or "")
        _check_tls_arguments(verify, cert)
        exchange = ClientExchange(self._engine)
        envelope, edit = exchange.seal_request(_body_bytes(request.body))
        sealed = request.copy()
        edit.apply_to(sealed.headers)
        sealed.body = envelope
        response = super().send(
            sealed, stream=True, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )
        try:
            body = read_capped(response.iter_content(_CHUNK), exchange.max_body)
        finally:
            response.close()
        opened = exchange.open_response(
            status=response.status_code,
            content_type=response.headers.get("Content-Type"),
            body=body,
        )
        opened.headers.apply_to(response.headers)
        if opened.result is not None:
            vars(response)[_RESULT_ATTRIBUTE] = opened.result
        response._content = opened.body
        response._content_consumed = True
        return response

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("EnvelopeAdapter holds keys and a TLS context; it is not pickled")


def _check_tls_arguments(verify: Any, cert: Any) -> None:
    if verify is False:
        raise ValueError(
            "EnvelopeAdapter always verifies the server; trust a private CA or a self-signed "
            "certificate with client_tls_context(cafile=...)"
        )
    if cert is not None:
        raise ValueError("pass a client certificate as client_tls_context(certfile=...)")


def _body_bytes(body: object) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    raise TypeError(
        f"EnvelopeAdapter seals bytes or str bodies, not {type(body).__name__} "
        "(read files and generators into bytes first)"
    )
