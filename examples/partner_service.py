"""A partner endpoint that Google calls (JWE), whose keys rotate without a restart.

    pip install "gpay-envelope[asgi]" starlette uvicorn
    python examples/partner_service.py keys/ --cert server.crt --key server.key --port 8443

``keys/`` holds four JWK Sets: ``our-enc.jwks`` and ``our-sig.jwks`` (private), ``google-enc.jwks``
and ``google-sig.jwks`` (public). Besides ``keys`` a file may name its ``"primary"`` kid
(default: the first key) and list ``"disabled"`` kids. The service checks the files every
10 seconds and swaps in the new bundle atomically; a bad edit is logged and ignored, so each
rotation step (add, promote, disable, remove; see docs/adapters.md) is a file edit.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import gpay_envelope as ge
from gpay_envelope.adapters import KeyHolder, Keys
from gpay_envelope.adapters.asgi import EnvelopeMiddleware, open_result
from gpay_envelope.tls import server_tls_context

log = logging.getLogger("partner")
FILES = {
    "identities": "our-enc",
    "senders": "google-sig",
    "signer": "our-sig",
    "recipients": "google-enc",
}


def load_keys(folder: Path) -> Keys:
    sets = {}
    for role, name in FILES.items():
        data = json.loads((folder / f"{name}.jwks").read_text())
        ks = ge.KeySet.from_jwks(data, primary=data.get("primary"))
        for kid in data.get("disabled", []):
            ks = ks.with_status(kid, ge.KeyStatus.DISABLED)
        sets[role] = ks
    return Keys(**sets)


def watch(folder: Path, holder: KeyHolder, every: float = 10.0) -> None:
    def stamp() -> tuple[float, ...]:
        return tuple((folder / f"{n}.jwks").stat().st_mtime for n in FILES.values())

    seen = stamp()
    while True:
        time.sleep(every)
        try:
            if (now := stamp()) != seen:
                holder.set(load_keys(folder))  # all four sets at once, or nothing
                seen = now
                log.info("keys reloaded")
        except (OSError, ValueError) as exc:  # KeySetError is a ValueError
            log.error("keys not reloaded, keeping the current ones: %s", exc)


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

    holder = KeyHolder(load_keys(args.keys))
    threading.Thread(target=watch, args=(args.keys, holder), daemon=True).start()
    tls = server_tls_context(certfile=args.cert, keyfile=args.key)  # TLS 1.2+, Google's suites
    uvicorn.run(
        build_app(holder),
        host="0.0.0.0",  # noqa: S104 - Google calls in from outside
        port=args.port,
        ssl_context_factory=lambda config, default: tls,
    )


if __name__ == "__main__":
    main()
