"""The middleware path filters under a mount point: ASGI ``root_path``, WSGI ``SCRIPT_NAME``.

``paths`` entries are written as the wrapped application routes them. A listed path must be
protected however the application is mounted (a Starlette ``Mount``, a FastAPI sub-application,
a WSGI dispatcher, a server started with a root path): a plaintext POST to it gets 400 and never
reaches the handler. An entry that overlaps the mount point (written with the mount's prefix,
or a prefix above the mount) is ambiguous and is refused on every request, and entries that
can never match (not starting with ``/``) are refused at construction. docs/adapters.md
states the rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import shift_path_info

import httpx
import pytest
from adapter_harness import (
    PAYLOAD,
    ASGICall,
    EchoASGI,
    echo_wsgi,
    open_from_server,
    seal_for_server,
    wsgi_call,
)
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from gpay_envelope.adapters import Keys, PathConfigError
from gpay_envelope.adapters import asgi as gasgi
from gpay_envelope.adapters import wsgi as gwsgi
from gpay_envelope.adapters._server import PathFilter, route_below
from gpay_envelope.adapters.httpx import AsyncEnvelopeTransport
from gpay_envelope.adapters.httpx import open_result as httpx_result

PLAIN = b'{"requestHeader":{"requestId":"forged"},"amount":"999.00"}'
BASE = "https://partner.test"


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("path", "mount", "route"),
    [
        ("/partner/echo", "/partner", "/echo"),  # the mount point kept in the path: cut
        ("/partner/echo", "/partner/", "/echo"),
        ("/partner", "/partner", ""),
        ("/partnerx/echo", "/partner", "/partnerx/echo"),  # not at a "/" boundary
        ("/echo", "/partner", "/echo"),  # already below the mount point (older Starlette)
        ("/echo", "", "/echo"),
    ],
)
def test_the_route_below_a_mount_point(path: str, mount: str, route: str) -> None:
    assert route_below(path, mount) == route


@pytest.mark.parametrize(
    ("entries", "route", "mount", "protected"),
    [
        (["/echo"], "/echo", "", True),
        (["/echo"], "/echo", "/partner", True),
        (["/echo"], "/echo/more", "/partner", False),
        (["/api/"], "/api/v1/x", "/partner/", True),
        (["/api/"], "/apis", "/partner", False),
        (["/"], "/anything", "/gw/partner", True),  # "/" covers all either way: not refused
        (["/"], "", "/partner", True),  # the mount point's own URL routes as "/"
        (["/gw"], "/x", "/gw/partner", False),  # an exact path above the mount: outside it
        (["/part/"], "/x", "/partner", False),  # not a prefix at a "/" boundary
        (["/partner/echo"], "/echo", "/partner", None),  # None: refused
        (["/echo", "/partner/"], "/echo", "/partner", None),
        (["/partner"], "/echo", "/partner", None),
        (["/gw/"], "/x", "/gw/partner", None),  # a prefix containing the mount point
    ],
)
def test_which_requests_a_path_filter_protects(
    entries: list[str], route: str, mount: str, protected: bool | None
) -> None:
    protects = PathFilter(entries)
    if protected is None:
        with pytest.raises(PathConfigError, match="overlaps the mount point"):
            protects(route, mount)
    else:
        assert protects(route, mount) is protected
    assert PathFilter(None)(route, mount) is True


# --------------------------------------------------------------------------- ASGI apps


class Handler:
    """A Starlette endpoint that records every request that reaches it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.results: list[Any] = []

    async def endpoint(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.bodies.append(body)
        self.results.append(gasgi.open_result(request.scope))
        return JSONResponse({"echo": json.loads(body)})


def starlette_mounted(handler: Handler, keys: Keys, paths: list[str]) -> Starlette:
    """The protected app (middleware on it, route ``/echo``) under ``Mount("/partner")``."""
    inner = Starlette(routes=[Route("/echo", handler.endpoint, methods=["POST"])])
    inner.add_middleware(gasgi.EnvelopeMiddleware, keys=keys, paths=paths)
    return Starlette(routes=[Mount("/partner", app=inner)])


def fastapi_mounted(handler: Handler, keys: Keys, paths: list[str]) -> FastAPI:
    """A FastAPI sub-application with the middleware, ``app.mount("/partner", api)``."""
    api = FastAPI()
    api.add_api_route("/echo", handler.endpoint, methods=["POST"])
    api.add_middleware(gasgi.EnvelopeMiddleware, keys=keys, paths=paths)
    app = FastAPI()
    app.mount("/partner", api)
    return app


def post_plain(app: Any, path: str, body: bytes = PLAIN) -> httpx.Response:
    async def main() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            return await client.post(BASE + path, content=body)

    return asyncio.run(main())


def post_sealed(app: Any, path: str, keys: Keys) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = AsyncEnvelopeTransport(keys, transport=httpx.ASGITransport(app=app))
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.post(BASE + path, content=PAYLOAD)

    return asyncio.run(main())


MOUNTED_ASGI = {"starlette-Mount": starlette_mounted, "fastapi-mount": fastapi_mounted}


# --------------------------------------------------------------------------- ASGI


@pytest.mark.parametrize("build", MOUNTED_ASGI.values(), ids=MOUNTED_ASGI.keys())
def test_a_mounted_asgi_app_refuses_plaintext_on_its_listed_path(
    build: Callable[..., Any], server_keys: Keys
) -> None:
    handler = Handler()
    app = build(handler, server_keys, ["/echo"])
    response = post_plain(app, "/partner/echo")
    assert (response.status_code, response.content) == (400, b"invalid envelope\n")
    assert handler.bodies == []  # the forged request never reached the handler


@pytest.mark.parametrize("build", MOUNTED_ASGI.values(), ids=MOUNTED_ASGI.keys())
def test_a_mounted_asgi_app_opens_and_seals_on_its_listed_path(
    build: Callable[..., Any], server_keys: Keys, client_keys: Keys
) -> None:
    handler = Handler()
    app = build(handler, server_keys, ["/echo"])
    response = post_sealed(app, "/partner/echo", client_keys)
    assert response.status_code == 200
    assert response.json() == {"echo": json.loads(PAYLOAD)}
    result = httpx_result(response)  # the response came back sealed
    assert result is not None and result.verified_by == ("partner-sig-1",)
    assert handler.bodies == [PAYLOAD]
    assert handler.results[0] is not None
    assert handler.results[0].decrypted_with == "partner-enc-1"


def test_a_prefix_entry_is_relative_to_the_mount_too(server_keys: Keys) -> None:
    handler = Handler()
    app = starlette_mounted(handler, server_keys, ["/"])
    assert post_plain(app, "/partner/echo").status_code == 400
    v1 = Mount("/v1", routes=[Route("/echo", handler.endpoint, methods=["POST"])])
    inner = Starlette(routes=[v1])
    inner.add_middleware(gasgi.EnvelopeMiddleware, keys=server_keys, paths=["/v1/"])
    outer = Starlette(routes=[Mount("/partner", app=inner)])
    assert post_plain(outer, "/partner/v1/echo").status_code == 400
    assert handler.bodies == []


def test_paths_outside_the_list_still_pass_through_under_a_mount(server_keys: Keys) -> None:
    handler = Handler()
    inner = Starlette(
        routes=[
            Route("/echo", handler.endpoint, methods=["POST"]),
            Route("/health", handler.endpoint, methods=["POST"]),
        ]
    )
    inner.add_middleware(gasgi.EnvelopeMiddleware, keys=server_keys, paths=["/echo"])
    app = Starlette(routes=[Mount("/partner", app=inner)])
    response = post_plain(app, "/partner/health", b'{"ok":1}')
    assert (response.status_code, response.json()) == (200, {"echo": {"ok": 1}})
    assert handler.results == [None]


@pytest.mark.parametrize(
    ("path", "root_path"),
    [
        ("/gw/api/echo", "/gw"),  # a server's root path (uvicorn --root-path): path includes it
        ("/gw/api/echo", "/gw/"),  # ... given with a trailing slash
        ("/api/echo", "/partner"),  # an older Starlette Mount: the child's path is stripped
    ],
)
def test_hand_built_scopes_of_both_mount_styles_are_protected(
    path: str, root_path: str, server_keys: Keys
) -> None:
    app = EchoASGI()
    mw = gasgi.EnvelopeMiddleware(app, keys=server_keys, paths=["/api/echo"])
    call = ASGICall([PLAIN], path=path)
    call.scope["root_path"] = root_path
    assert call.run(mw).status == 400
    assert app.calls == []


@pytest.mark.parametrize(
    "entry",
    [
        "/partner/echo",  # written with the mount point: the app routes on "/echo"
        "/partner/",  # a prefix naming the mount point
        "/partner",  # the mount point itself
    ],
)
def test_an_entry_overlapping_the_mount_point_is_refused_on_every_request(
    entry: str, server_keys: Keys
) -> None:
    handler = Handler()
    app = starlette_mounted(handler, server_keys, [entry])
    for path in ("/partner/echo", "/partner/elsewhere"):
        with pytest.raises(ValueError, match="mount point '/partner'") as refused:
            post_plain(app, path)
        assert entry in str(refused.value)
    assert handler.bodies == []


def test_a_prefix_above_the_mount_point_is_refused(server_keys: Keys) -> None:
    """``/gw/`` would have covered the whole app as a full path; as an app-relative path it
    covers only ``/gw/...`` inside it. Ambiguous, so refused."""
    app = EchoASGI()
    mw = gasgi.EnvelopeMiddleware(app, keys=server_keys, paths=["/gw/"])
    call = ASGICall([PLAIN], path="/gw/partner/api/echo")
    call.scope["root_path"] = "/gw/partner"
    with pytest.raises(ValueError, match="mount point '/gw/partner'"):
        call.run(mw)
    assert app.calls == []


@pytest.mark.parametrize("middleware", [gasgi.EnvelopeMiddleware, gwsgi.EnvelopeMiddleware])
def test_entries_that_can_never_match_are_refused_at_construction(
    middleware: Any, server_keys: Keys
) -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        middleware(EchoASGI(), keys=server_keys, paths=["/api/", "echo"])
    with pytest.raises(ValueError, match="must start with '/'"):
        middleware(EchoASGI(), keys=server_keys, paths=[""])
    with pytest.raises(TypeError, match="list of paths"):
        middleware(EchoASGI(), keys=server_keys, paths="/echo")


# --------------------------------------------------------------------------- WSGI


def dispatcher(apps: dict[str, Any]) -> Callable[..., Iterable[bytes]]:
    """Mount each app under ``/<name>``, moving that segment into SCRIPT_NAME, as werkzeug's
    DispatcherMiddleware and mod_wsgi's mount points do."""

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        app = apps.get(shift_path_info(environ) or "")
        if app is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        return app(environ, start_response)  # type: ignore[no-any-return]

    return dispatch


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def wsgiref_server(app: Any) -> Iterator[http.client.HTTPConnection]:
    """The standard library's WSGI server on loopback, plain HTTP (the path filter does not
    depend on TLS; the HTTPS runs are in test_e2e_https.py)."""
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=20)
    try:
        yield conn
    finally:
        conn.close()
        server.shutdown()
        server.server_close()
        thread.join(20)


def served_echo() -> Any:
    """`echo_wsgi` reading CONTENT_LENGTH bytes: a socket's input has no end to read to."""
    app = echo_wsgi()

    def read_declared(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(length))
        return app(environ, start_response)

    read_declared.seen = app.seen  # type: ignore[attr-defined]
    return read_declared


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def test_a_wsgi_app_under_a_script_name_refuses_plaintext_on_its_listed_path(
    server_keys: Keys, client_keys: Keys
) -> None:
    app = served_echo()
    mw = gwsgi.EnvelopeMiddleware(app, keys=server_keys, paths=["/echo"])
    with wsgiref_server(dispatcher({"partner": mw})) as conn:
        assert post(conn, "/partner/echo", PLAIN) == (400, b"invalid envelope\n")
        assert app.seen == []  # type: ignore[attr-defined]
        status, body = post(conn, "/partner/echo", seal_for_server(client_keys))
        assert status == 200
        assert open_from_server(client_keys, body).plaintext == b'{"echo":' + PAYLOAD + b"}"
    (seen,) = app.seen  # type: ignore[attr-defined]
    assert (seen["environ"]["SCRIPT_NAME"], seen["environ"]["PATH_INFO"]) == ("/partner", "/echo")


def test_a_wsgi_entry_overlapping_the_script_name_is_refused(server_keys: Keys) -> None:
    app = served_echo()
    mw = gwsgi.EnvelopeMiddleware(app, keys=server_keys, paths=["/partner/echo"])
    with pytest.raises(ValueError, match="mount point '/partner'"):
        wsgi_call(mw, PLAIN, SCRIPT_NAME="/partner", PATH_INFO="/echo")
    with wsgiref_server(dispatcher({"partner": mw})) as conn:
        status, _ = post(conn, "/partner/echo", PLAIN)  # the server answers the error
        assert status == 500
    assert app.seen == []  # type: ignore[attr-defined]


def test_a_wsgi_script_name_set_by_the_server_is_not_part_of_the_match(
    server_keys: Keys,
) -> None:
    app = echo_wsgi()
    mw = gwsgi.EnvelopeMiddleware(app, keys=server_keys, paths=["/api/"])
    assert wsgi_call(mw, PLAIN, SCRIPT_NAME="/gw", PATH_INFO="/api/echo")[0] == "400 Bad Request"
    assert wsgi_call(mw, b"hi", SCRIPT_NAME="/gw", PATH_INFO="/healthz")[0] == "200 OK"
    assert len(app.seen) == 1  # type: ignore[attr-defined]
