"""A partner endpoint that Google calls (JWE), whose keys rotate without a restart.

    pip install "gpay-envelope[asgi]" starlette uvicorn
    python examples/partner_service.py keys/ --cert server.crt --key server.key --port 8443

``keys/`` holds four keyset manifests (docs/rotation.md) and the key files they name:
``our-enc.keyset.json`` and ``our-sig.keyset.json`` (your private decryption and signing
keys), ``google-enc.keyset.json`` and ``google-sig.keyset.json`` (Google's public keys). A
`KeySetWatcher` per manifest checks it and its key files every 10 seconds and swaps a changed
set into the `KeyHolder` the middleware reads; a bad edit is logged and the old set stays. So
each rotation step is one ``gpay-envelope keys rotate`` command (add, promote, disable,
remove; see docs/rotation.md and docs/adapters.md for the order).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gpay_envelope.adapters import KeyHolder
from gpay_envelope.adapters.asgi import EnvelopeMiddleware, open_result
from gpay_envelope.keystore import KeySetWatcher, watched_keys
from gpay_envelope.tls import server_tls_context

log = logging.getLogger("partner")
MANIFESTS = {
    "identities": "our-enc.keyset.json",
    "senders": "google-sig.keyset.json",
    "signer": "our-sig.keyset.json",
    "recipients": "google-enc.keyset.json",
}


def watch_keys(folder: Path, every: float = 10.0) -> tuple[KeyHolder, list[KeySetWatcher]]:
    """The holder of the four sets and the started watchers that keep it current.

    The first load of each manifest happens here and raises when it fails: the service does
    not start without keys.
    """
    watchers = {
        role: KeySetWatcher(folder / name, poll_interval=every) for role, name in MANIFESTS.items()
    }
    holder = watched_keys(**watchers)
    for watcher in watchers.values():
        watcher.start()
    return holder, list(watchers.values())


async def echo(request: Request) -> JSONResponse:
    body = await request.json()  # already opened and verified: 400/401 never get here
    opened = open_result(request.scope)
    kid = opened.decrypted_with if opened else "-"
    log.info("echo %s (decrypted with %s)", body["requestHeader"]["requestId"], kid)
    stamp = str(int(time.time() * 1000))
    return JSONResponse({"responseHeader": {"responseTimestamp": stamp}, "echo": body})


def build_app(holder: KeyHolder) -> Starlette:
    app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    app.add_middleware(EnvelopeMiddleware, keys=holder, paths=["/echo"])
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("keys", type=Path)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, default=8443)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)

    holder, _watchers = watch_keys(args.keys)
    tls = server_tls_context(certfile=args.cert, keyfile=args.key)  # TLS 1.2+, Google's suites
    uvicorn.run(
        build_app(holder),
        host="0.0.0.0",  # noqa: S104 - Google calls in from outside
        port=args.port,
        ssl_context_factory=lambda config, default: tls,
    )


if __name__ == "__main__":
    main()
