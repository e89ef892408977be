"""A partner endpoint that Google calls, on FastAPI under uvicorn, whose keys rotate without a
restart.

    pip install "gpay-envelope[fastapi]" uvicorn
    python examples/partner_asgi.py keys --cert tls/server.crt --key tls/server.key --port 8443

``keys`` is the folder of keyset manifests (``partner_keys.py``, examples/README.md). A started
`KeySetWatcher` per manifest checks it and its key files every ``--poll-interval`` seconds, in a
thread, and swaps a changed set into the `KeyHolder` the route class reads once per request.
The route class (``gpay_envelope.adapters.fastapi.envelope_route``) opens each request before
FastAPI parses it (400, 401, 413 otherwise) and seals every response.
"""

from __future__ import annotations

import logging
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI
from partner_keys import echo_answer, parse_args, watch_keys
from pydantic import BaseModel

from gpay_envelope.adapters import KeyProvider
from gpay_envelope.adapters.fastapi import OpenedEnvelope, envelope_route
from gpay_envelope.tls import server_tls_context

log = logging.getLogger("partner")


class RequestHeader(BaseModel):
    requestId: str  # noqa: N815 - the partner API's field names
    requestTimestamp: str  # noqa: N815


class EchoRequest(BaseModel):
    requestHeader: RequestHeader  # noqa: N815
    clientMessage: str  # noqa: N815


def build_app(keys: KeyProvider) -> FastAPI:
    """The service: ``POST /echo`` behind the envelope route class, ``GET /health`` open."""
    router = APIRouter(route_class=envelope_route(keys=keys))

    @router.post("/echo")
    async def echo(body: EchoRequest, opened: OpenedEnvelope) -> dict[str, Any]:
        # Already opened and verified: a request that is not never gets here.
        log.info("echo %s (decrypted with %s)", body.requestHeader.requestId,
                 opened.decrypted_with)
        return echo_answer(body.model_dump())

    app = FastAPI()
    app.include_router(router)

    @app.get("/health")
    async def health() -> str:
        return "ok"

    return app


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    logging.basicConfig(level=logging.INFO)
    holder, watchers = watch_keys(args.keys, args.poll_interval)
    tls = server_tls_context(certfile=args.cert, keyfile=args.key)  # TLS 1.2+, Google's suites
    try:
        uvicorn.run(
            build_app(holder),
            host=args.host,
            port=args.port,
            ssl_context_factory=lambda config, default: tls,
        )
    finally:
        for watcher in watchers:
            watcher.stop()


if __name__ == "__main__":
    main()
