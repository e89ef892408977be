"""End to end over real HTTPS on loopback: the adapters against real servers, keys rotating.

Servers: uvicorn (ASGI) and the standard library's wsgiref (WSGI), made threaded and given a
TLS socket per connection. wsgiref needs no extra dependency, and wrapping its sockets with
`server_tls_context()` tests exactly the context we ship (cheroot and gunicorn build their own
from file names; waitress has no TLS). Both use `server_tls_context()`; every client uses
`client_tls_context(cafile=<test CA>)`; the certificate names 127.0.0.1.

The rotation test walks the partner (server) and the simulated Google (clients) through add,
promote, disable and remove while four client threads (httpx sync, httpx async, two requests
sessions) keep sending. Each step only relies on what the previous steps made every party
accept, and before the next step the test waits for every request begun before the change to
finish (the "verified to be working before the old key is removed" of spec row K1). Counts
and waits are bounded; nothing asserts on wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import httpx
import pytest
import requests
import uvicorn
from conftest import JWEParty
from tls_certs import make_ca, make_leaf

import gpay_envelope as ge
from gpay_envelope.adapters import KeyHolder, Keys
from gpay_envelope.adapters import asgi as gasgi
from gpay_envelope.adapters import httpx as ghttpx
from gpay_envelope.adapters import requests as grequests
from gpay_envelope.adapters import wsgi as gwsgi
from gpay_envelope.adapters.httpx import AsyncEnvelopeTransport, EnvelopeTransport
from gpay_envelope.adapters.requests import EnvelopeAdapter
from gpay_envelope.tls import client_tls_context, server_tls_context

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"
WAIT = 20.0  # seconds any single wait may take before the test gives up
PER_STEP = 10  # requests that must complete after each rotation step
MAX_PER_WORKER = 200
DISABLED = ge.KeyStatus.DISABLED


# --------------------------------------------------------------------------- TLS material


@dataclasses.dataclass(frozen=True)
class PKI:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server(self) -> ssl.SSLContext:
        return server_tls_context(certfile=self.cert_file, keyfile=self.key_file)

    def client(self) -> ssl.SSLContext:
        return client_tls_context(cafile=self.ca_file)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    folder = tmp_path_factory.mktemp("adapters-pki")
    ca = make_ca(folder)
    leaf = make_leaf(folder, "server", issuer=ca, cn="partner.test", ips=[HOST])
    return PKI(ca.certfile, leaf.certfile, leaf.keyfile)


# --------------------------------------------------------------------------- servers


class Seen:
    """Thread-safe record of kids seen in OpenResults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.decrypted: Counter[str] = Counter()
        self.verified: Counter[str] = Counter()

    def add(self, result: ge.OpenResult | None) -> None:
        assert result is not None
        with self._lock:
            self.decrypted[result.decrypted_with] += 1
            self.verified.update(result.verified_by)


def reply_to(body: bytes) -> bytes:
    return b'{"reply":' + body + b"}"


def asgi_app(seen: Seen) -> gasgi.ASGIApp:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        message = await receive()
        seen.add(gasgi.open_result(scope))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": reply_to(message["body"])})

    return app


def wsgi_app(seen: Seen) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        seen.add(gwsgi.open_result(environ))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [reply_to(body)]

    return app


@contextlib.contextmanager
def uvicorn_server(app: Any, ctx: ssl.SSLContext) -> Iterator[str]:
    sock = socket.create_server((HOST, 0))
    config = uvicorn.Config(
        app,
        lifespan="off",
        http="h11",
        ws="none",
        loop="asyncio",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        ssl_context_factory=lambda config, default: ctx,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(int(WAIT / 0.01)):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield f"https://{HOST}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(WAIT)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class TLSWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per connection, TLS handshake in that thread."""

    daemon_threads = False
    block_on_close = True  # server_close() joins the connection threads

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._tls = ctx
        super().__init__((HOST, 0), _QuietHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(WAIT)
        try:
            tls = self._tls.wrap_socket(request, server_side=True)
        except OSError:  # a failed handshake is the client's problem (see the trust tests)
            return
        with tls:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]


@contextlib.contextmanager
def wsgi_server(app: Any, ctx: ssl.SSLContext) -> Iterator[str]:
    server = TLSWSGIServer(ctx)
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"https://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)
        assert not thread.is_alive(), "the WSGI server did not stop"


@contextlib.contextmanager
def serve(kind: str, holder: KeyHolder, seen: Seen, pki: PKI) -> Iterator[str]:
    if kind == "asgi":
        with uvicorn_server(
            gasgi.EnvelopeMiddleware(asgi_app(seen), keys=holder), pki.server()
        ) as u:
            yield u
    else:
        with wsgi_server(gwsgi.EnvelopeMiddleware(wsgi_app(seen), keys=holder), pki.server()) as u:
            yield u


# --------------------------------------------------------------------------- parties


@dataclasses.dataclass(frozen=True)
class Party:
    """One side's private keys, generation 1 and 2: encryption and signing."""

    enc: tuple[ge.Key, ge.Key]
    sig: tuple[ge.Key, ge.Key]


def jwe_party(p: JWEParty) -> Party:
    enc = tuple(p.identities)
    sig = tuple(p.signer)
    assert len(enc) == len(sig) == 2
    return Party((enc[0], enc[1]), (sig[0], sig[1]))


def pgp_party(name: str) -> Party:
    """OpenPGP keys sign with the primary and encrypt to the subkey: one key, both roles."""
    try:
        from gpay_envelope.codecs.pgp import generate_pgp_key
    except ImportError:  # the only skip: the PGP codec is not in this tree yet
        pytest.skip("the PGP codec (gpay_envelope.codecs.pgp) is not available")
    k1, k2 = (
        generate_pgp_key(uid=f"{name} {i} <{name}{i}@example.test>", size=2048) for i in (1, 2)
    )
    return Party((k1, k2), (k1, k2))


def one(key: ge.Key) -> ge.KeySet:
    return ge.KeySet([key], primary=key.kid)


def first_keys(me: Party, peer: Party) -> Keys:
    return Keys(
        identities=one(me.enc[0]),
        senders=one(peer.sig[0].public()),
        signer=one(me.sig[0]),
        recipients=one(peer.enc[0].public()),
    )


Change = Callable[[Keys], Keys]


def rotation(me: Party, peer: Party) -> list[Change]:
    """One side's changes, step by step, when both sides rotate every key (1 -> 2)."""
    new_enc, new_sig = me.enc[1], me.sig[1]
    old_enc, old_sig = me.enc[0].kid, me.sig[0].kid
    peer_enc, peer_sig = peer.enc[1].public(), peer.sig[1].public()
    old_peer_enc, old_peer_sig = peer.enc[0].kid, peer.sig[0].kid
    r = dataclasses.replace
    return [
        # 1. accept: my new identity opens, the peer's new signing key verifies; nobody
        #    uses a new key yet.
        lambda k: r(
            k, identities=k.identities.with_key(new_enc), senders=k.senders.with_key(peer_sig)
        ),
        # 2. use: seal to the peer's new key, sign with my new key. Safe: the peer accepts
        #    both since step 1. (The new accepting keys become primaries too, which only
        #    orders trial decryption and lets step 4 disable the old ones.)
        lambda k: r(
            k,
            recipients=k.recipients.with_key(peer_enc, primary=True),
            signer=k.signer.with_key(new_sig, primary=True),
            identities=k.identities.with_primary(new_enc.kid),
            senders=k.senders.with_primary(peer_sig.kid),
        ),
        # 3. stop using the old keys (PGP seals to / signs with every ENABLED key).
        lambda k: r(
            k,
            recipients=k.recipients.with_status(old_peer_enc, DISABLED),
            signer=k.signer.with_status(old_sig, DISABLED),
        ),
        # 4. stop accepting the old keys: nothing in flight uses them any more.
        lambda k: r(
            k,
            identities=k.identities.with_status(old_enc, DISABLED),
            senders=k.senders.with_status(old_peer_sig, DISABLED),
        ),
        # 5. remove them.
        lambda k: r(
            k,
            identities=k.identities.without(old_enc),
            senders=k.senders.without(old_peer_sig),
            recipients=k.recipients.without(old_peer_enc),
            signer=k.signer.without(old_sig),
        ),
    ]


# --------------------------------------------------------------------------- traffic


class Flight:
    """Requests in flight per epoch; a rotation step starts a new epoch."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.epoch = 0
        self._active: Counter[int] = Counter()
        self._completed: Counter[int] = Counter()

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        with self._cond:
            epoch = self.epoch
            self._active[epoch] += 1
        try:
            yield
        finally:
            with self._cond:
                self._active[epoch] -= 1
                self._completed[epoch] += 1
                self._cond.notify_all()

    def step(self, change: Callable[[], None]) -> None:
        """Apply ``change`` and open a new epoch, atomically for the workers: a request that
        records the new epoch reads the new keys."""
        with self._cond:
            change()
            self.epoch += 1

    def settle(self, completed: int) -> bool:
        """Wait until every request of an earlier epoch has finished and ``completed``
        requests of this epoch have."""
        with self._cond:
            return self._cond.wait_for(
                lambda: (
                    all(n == 0 for e, n in self._active.items() if e < self.epoch)
                    and self._completed[self.epoch] >= completed
                ),
                timeout=WAIT,
            )


class Traffic:
    """Four client threads sending until told to stop (at most MAX_PER_WORKER each)."""

    def __init__(self, base: str, holder: KeyHolder, tls: ssl.SSLContext, flight: Flight) -> None:
        self.url = base + "/api/echo"
        self.holder = holder
        self.tls = tls
        self.flight = flight
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.sent = Counter[str]()
        self.seen = Seen()
        self.threads = [
            threading.Thread(target=self._httpx_sync, name="httpx"),
            threading.Thread(target=lambda: asyncio.run(self._httpx_async()), name="httpx-async"),
            threading.Thread(target=self._requests, args=("requests-1",), name="requests-1"),
            threading.Thread(target=self._requests, args=("requests-2",), name="requests-2"),
        ]

    def _check(self, who: str, i: int, status: int, body: bytes, result: Any, sent: bytes) -> None:
        self.sent[who] += 1
        if status != 200 or body != reply_to(sent):
            self.failures.append(f"{who} #{i}: HTTP {status} {body[:60]!r}")
            return
        self.seen.add(result)

    def _payload(self, who: str, i: int) -> bytes:
        return json.dumps({"requestHeader": {"requestId": f"{who}-{i}"}}).encode()

    def _httpx_sync(self) -> None:
        transport = EnvelopeTransport(self.holder, tls=self.tls)
        with httpx.Client(transport=transport, timeout=WAIT) as client:
            for i in range(MAX_PER_WORKER):
                if self.stop.is_set():
                    return
                payload = self._payload("httpx", i)
                with self.flight.request():
                    try:
                        r = client.post(self.url, content=payload)
                    except Exception as exc:
                        self.failures.append(f"httpx #{i}: {exc!r}")
                        continue
                    self._check(
                        "httpx", i, r.status_code, r.content, ghttpx.open_result(r), payload
                    )

    async def _httpx_async(self) -> None:
        transport = AsyncEnvelopeTransport(self.holder, tls=self.tls)
        async with httpx.AsyncClient(transport=transport, timeout=WAIT) as client:
            for i in range(MAX_PER_WORKER):
                if self.stop.is_set():
                    return
                payload = self._payload("async", i)
                with self.flight.request():
                    try:
                        r = await client.post(self.url, content=payload)
                    except Exception as exc:
                        self.failures.append(f"async #{i}: {exc!r}")
                        continue
                    self._check(
                        "async", i, r.status_code, r.content, ghttpx.open_result(r), payload
                    )

    def _requests(self, who: str) -> None:
        with requests.Session() as session:
            session.mount(self.url, EnvelopeAdapter(self.holder, tls=self.tls))
            for i in range(MAX_PER_WORKER):
                if self.stop.is_set():
                    return
                payload = self._payload(who, i)
                with self.flight.request():
                    try:
                        r = session.post(self.url, data=payload, timeout=WAIT)
                    except Exception as exc:
                        self.failures.append(f"{who} #{i}: {exc!r}")
                        continue
                    self._check(who, i, r.status_code, r.content, grequests.open_result(r), payload)

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(WAIT * 2)
        assert not any(t.is_alive() for t in self.threads), "a client thread did not stop"


# --------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def pgp_parties() -> tuple[Party, Party]:
    return pgp_party("partner"), pgp_party("google")


@pytest.mark.parametrize("server", ["asgi", "wsgi"])
@pytest.mark.parametrize("codec", ["jwe", "pgp"])
def test_rotation_under_load_never_fails_a_request(
    server: str,
    codec: str,
    pki: PKI,
    partner: JWEParty,
    google: JWEParty,
    request: pytest.FixtureRequest,
) -> None:
    if codec == "jwe":
        p, g = jwe_party(partner), jwe_party(google)
    else:
        p, g = request.getfixturevalue("pgp_parties")
    server_holder = KeyHolder(first_keys(p, g))  # the partner's service
    client_holder = KeyHolder(first_keys(g, p))  # the simulated Google
    server_seen = Seen()
    flight = Flight()
    tls = pki.client()
    with serve(server, server_holder, server_seen, pki) as base:
        with Traffic(base, client_holder, tls, flight) as traffic:
            assert flight.settle(PER_STEP), "no traffic before the rotation"
            for n, (s_change, c_change) in enumerate(
                zip(rotation(p, g), rotation(g, p), strict=True), start=1
            ):

                def apply(s: Change = s_change, c: Change = c_change) -> None:
                    server_holder.update(s)
                    client_holder.update(c)

                flight.step(apply)
                assert flight.settle(PER_STEP), f"step {n}: requests did not settle"
        assert traffic.failures == []
        assert all(traffic.sent[w] > 0 for w in ("httpx", "async", "requests-1", "requests-2"))

        # Every old and every new key did real work during the run.
        for seen, ours, theirs in ((server_seen, p, g), (traffic.seen, g, p)):
            assert {k.kid for k in ours.enc} <= set(seen.decrypted), seen.decrypted
            assert {k.kid for k in theirs.sig} <= set(seen.verified), seen.verified

        # After the rotation the old keys are gone: 400 for an envelope to the old identity,
        # 401 for one signed by the old signing key.
        with httpx.Client(verify=tls) as plain:
            old_enc, new_enc = one(p.enc[0].public()), one(p.enc[1].public())
            to_old = ge.seal(b"{}", recipients=old_enc, signer=one(g.sig[1]), codec=codec)
            by_old = ge.seal(b"{}", recipients=new_enc, signer=one(g.sig[0]), codec=codec)
            assert plain.post(base + "/api/echo", content=to_old).status_code == 400
            assert plain.post(base + "/api/echo", content=by_old).status_code == 401


@pytest.mark.parametrize("server", ["asgi", "wsgi"])
def test_clients_trust_only_their_tls_context(
    server: str,
    pki: PKI,
    partner: JWEParty,
    google: JWEParty,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p, g = jwe_party(partner), jwe_party(google)
    holder = KeyHolder(first_keys(p, g))
    with serve(server, holder, Seen(), pki) as base:
        url = base + "/api/echo"
        keys = first_keys(g, p)
        # The test CA is not in the system store that client_tls_context() uses by default.
        with httpx.Client(transport=EnvelopeTransport(keys)) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                client.post(url, content=b"{}")
        # requests' own trust settings are not added to the adapter's context.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_file))
        with requests.Session() as session:
            session.mount(url, EnvelopeAdapter(keys))
            with pytest.raises(requests.exceptions.SSLError):
                session.post(url, data=b"{}", verify=str(pki.ca_file))
            session.mount(url, EnvelopeAdapter(keys, tls=pki.client()))
            assert status_and_body(session.post(url, data=b"{}")) == (200, reply_to(b"{}"))


def status_and_body(r: requests.Response) -> tuple[int, bytes]:
    # Keep no Response alive past the session: with urllib3 2 a pool (and its idle
    # connection) closes when the last reference to it goes, and r.raw refers to it.
    return r.status_code, r.content
