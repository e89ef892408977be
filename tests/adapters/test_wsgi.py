"""The WSGI middleware in-process: hand-built environs, PEP 3333 corner cases, and behind the
httpx sync transport."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from adapter_harness import (
    JOSE,
    PAYLOAD,
    URL,
    CountingProvider,
    echo_wsgi,
    expired_recipients,
    open_from_server,
    seal_for_server,
    wsgi_call,
)
from conftest import JWEParty

import gpay_envelope as ge
from gpay_envelope.adapters import Keys
from gpay_envelope.adapters import wsgi as gwsgi
from gpay_envelope.adapters.httpx import EnvelopeTransport
from gpay_envelope.adapters.httpx import open_result as httpx_result


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
    expired = gwsgi.EnvelopeMiddleware(echo_wsgi(), keys=expired_recipients(server_keys))
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
