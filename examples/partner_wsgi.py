"""A partner endpoint that Google calls, on Flask under a WSGI server, whose keys rotate
without a restart.

    pip install "gpay-envelope[flask]"
    python examples/partner_wsgi.py keys --cert tls/server.crt --key tls/server.key --port 8443

``keys`` is the folder of keyset manifests (``partner_keys.py``, examples/README.md). The Flask
extension (``gpay_envelope.adapters.flask.GpayEnvelope``) reads them from ``app.config`` and
follows each with a `KeySetWatcher`, checked in the first request after ``--poll-interval``
seconds. The server is the standard library's wsgiref, one thread per connection, TLS with
`server_tls_context`; in production run the same ``app`` under gunicorn or uWSGI, or behind
a TLS-terminating proxy.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from flask import Flask, request
from partner_keys import echo_answer, manifests, parse_args

from gpay_envelope.adapters.flask import GpayEnvelope, open_result
from gpay_envelope.tls import server_tls_context

log = logging.getLogger("partner")


def build_app(keys: Path, poll_interval: float) -> Flask:
    """The service: ``POST /echo`` behind the extension, ``GET /health`` open."""
    app = Flask("partner")
    app.config.update(
        {f"GPAY_ENVELOPE_{role.upper()}": str(path) for role, path in manifests(keys).items()}
    )
    app.config["GPAY_ENVELOPE_PATHS"] = ["/echo"]
    app.config["GPAY_ENVELOPE_POLL_INTERVAL"] = poll_interval
    GpayEnvelope(app)

    @app.post("/echo")
    def echo() -> dict[str, Any]:
        body = request.get_json()  # already opened and verified
        opened = open_result()
        log.info("echo %s (decrypted with %s)", body["requestHeader"]["requestId"],
                 opened.decrypted_with if opened else "-")
        return echo_answer(body)

    @app.get("/health")
    def health() -> str:
        return "ok"

    return app


class TLSServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server with a thread per connection, which does the TLS handshake."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext) -> None:
        self._tls = tls
        super().__init__(address, WSGIRequestHandler)
        self.base_environ["HTTPS"] = "on"  # wsgi.url_scheme https

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            conn = self._tls.wrap_socket(request, server_side=True)
        except OSError as exc:  # a failed handshake ends that connection only
            log.warning("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        with conn:
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    logging.basicConfig(level=logging.INFO)
    app = build_app(args.keys, args.poll_interval)
    tls = server_tls_context(certfile=args.cert, keyfile=args.key)  # TLS 1.2+, Google's suites
    with TLSServer((args.host, args.port), tls) as server:
        server.set_app(app)
        log.info("serving on https://%s:%d", args.host, args.port)
        server.serve_forever()


if __name__ == "__main__":
    main()
