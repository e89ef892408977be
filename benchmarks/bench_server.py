"""The server path under load: the ASGI and WSGI middleware next to the same open + seal done
with the primitives, and next to no crypto at all, each behind a real server on 127.0.0.1.

    python benchmarks/bench_server.py            # table
    python benchmarks/bench_server.py --json     # one JSON object per row
    python benchmarks/bench_server.py --quick    # CI smoke: a few hundred requests
    python benchmarks/bench_server.py --profile  # cProfile of the ASGI middleware under load
    python benchmarks/bench_server.py --workers 2 --apps middleware-inline,middleware-thread

Servers: uvicorn (ASGI, h11; one process, or ``--workers N`` processes, each accepting on its
own SO_REUSEPORT socket of the same port) and the standard library's wsgiref (WSGI, one
thread), each started as a subprocess on a port of 127.0.0.1 it picks itself. Apps, behind each:

- ``middleware``: `gpay_envelope.adapters` (``asgi.EnvelopeMiddleware`` /
  ``wsgi.EnvelopeMiddleware``) around an app that answers a 1 KiB JSON body;
- ``middleware-thread`` and ``middleware-inline`` (ASGI only): the same, with open and seal
  always handed to a worker thread (``inline_max=0``), or always run on the event loop
  (``inline_max=sys.maxsize``), to decide with numbers when the hand-off pays (run it with
  ``--workers 1`` and with as many workers as cores);
- ``direct``: a bare app calling `gpay_envelope.open` and `gpay_envelope.seal` itself, inline,
  so ``middleware`` / ``direct`` is what the middleware adds and ``direct`` / ``primitives``
  what the codec adds;
- ``primitives``: the same open (RSA-OAEP-256, A256GCM, RS256) and seal, written with
  `cryptography`, the standard library's base64 and json, inline;
- ``plain``: the body read and the 1 KiB answer sent, no crypto.

The load generator (this process, asyncio, raw HTTP/1.1 on loopback, keep-alive where the
server allows it) sends a fixed number of the same sealed 1 KiB request at a fixed
concurrency, round-robin over the servers, several rounds; medians over rounds are shown.
Server CPU per request is read from /proc/<pid>/stat of the server processes (all their
threads) before and after each burst, so the load generator's own CPU is not counted.

Targets: middleware CPU per request within 1.10x of the primitives, throughput within 0.9x.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import json
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench_jwe import OAEP256, PKCS1, payload, stdlib_open_envelope
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import gpay_envelope as ge
from gpay_envelope.adapters import Keys

RESPONSE = payload(1024)
REQUEST = payload(1024)
APPS = {
    "asgi": ("middleware", "middleware-thread", "middleware-inline", "direct", "primitives",
             "plain"),
    "wsgi": ("middleware", "direct", "primitives", "plain"),
}
#: The middleware options of the two hand-off variants: always a thread, always the loop.
HANDOFF_OPTIONS: dict[str, dict[str, int]] = {
    "middleware-thread": {"inline_max": 0},
    "middleware-inline": {"inline_max": sys.maxsize},
}
#: Left out of --quick: the two hand-off variants only matter when deciding that policy.
QUICK_SKIPS = ("middleware-thread", "middleware-inline")
JOSE = "application/jose; charset=utf-8"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------- keys


def make_keys(directory: Path) -> Path:
    """Both sides' keys (RSA-2048), private halves included, in one JSON file for the servers."""
    keys = {
        name: ge.generate_key(kid=f"bench-{name}", use=use, size=2048).to_jwk(include_private=True)
        for name, use in (
            ("server-enc", "enc"),
            ("server-sig", "sig"),
            ("client-enc", "enc"),
            ("client-sig", "sig"),
        )
    }
    path = directory / "keys.json"
    path.write_text(json.dumps(keys))
    path.chmod(0o600)
    return path


def load_keys(path: Path) -> dict[str, ge.Key]:
    return {name: ge.Key.from_jwk(jwk) for name, jwk in json.loads(path.read_text()).items()}


def one(key: ge.Key) -> ge.KeySet:
    return ge.KeySet([key], primary=key.kid)


def side_keys(keys: dict[str, ge.Key], me: str, peer: str) -> Keys:
    """The bundle of one side (``"server"`` or ``"client"``) of the exchange."""
    return Keys(
        identities=one(keys[f"{me}-enc"]),
        senders=one(keys[f"{peer}-sig"].public()),
        signer=one(keys[f"{me}-sig"]),
        recipients=one(keys[f"{peer}-enc"].public()),
    )


def _b64e(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class Direct:
    """The server's open and seal through the library's front door, no middleware."""

    def __init__(self, keys: dict[str, ge.Key]) -> None:
        self.keys = side_keys(keys, "server", "client")

    def open(self, envelope: bytes) -> bytes:
        k = self.keys
        return ge.open(envelope, identities=k.identities, senders=k.senders, codec="jwe")

    def seal(self, plaintext: bytes) -> bytes:
        k = self.keys
        return ge.seal(plaintext, recipients=k.recipients, signer=k.signer, codec="jwe")


def crypto_for(kind: str, keys: dict[str, ge.Key]) -> Primitives | Direct | None:
    """What the non-middleware app ``kind`` opens and seals with (None: no crypto)."""
    return Primitives(keys) if kind == "primitives" else Direct(keys) if kind == "direct" else None


class Primitives:
    """The server's open and seal written with `cryptography` directly (the floor)."""

    def __init__(self, keys: dict[str, ge.Key]) -> None:
        native = {name: k.material.native for name, k in keys.items()}  # type: ignore[attr-defined]
        self.enc, self.sig = native["server-enc"], native["server-sig"]
        self.peer_sig = native["client-sig"].public_key()
        self.peer_enc = native["client-enc"].public_key()
        self.sig_kid, self.peer_kid = keys["server-sig"].kid, keys["client-enc"].kid

    def open(self, envelope: bytes) -> bytes:
        return stdlib_open_envelope(envelope, self.enc, self.peer_sig)

    def seal(self, plaintext: bytes) -> bytes:
        head = _b64e(json.dumps({"alg": "RS256", "kid": self.sig_kid}).encode())
        signing_input = head + b"." + _b64e(plaintext)
        jws = signing_input + b"." + _b64e(self.sig.sign(signing_input, PKCS1, hashes.SHA256()))
        protected = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": self.peer_kid, "cty": "JWT"}
        jhead = _b64e(json.dumps(protected).encode())
        cek, iv = os.urandom(32), os.urandom(12)
        ct = AESGCM(cek).encrypt(iv, jws, jhead)
        parts = (jhead, self.peer_enc.encrypt(cek, OAEP256), iv, ct[:-16], ct[-16:])
        return b".".join([parts[0], *(_b64e(p) for p in parts[1:])])


# ------------------------------------------------------------------------------- servers


def asgi_app(kind: str, keys: dict[str, ge.Key]) -> Any:
    """The ASGI application ``kind`` (see the module docstring)."""

    async def answer(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"application/json"), (b"content-length", b"1024")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": RESPONSE})

    if kind.startswith("middleware"):
        from gpay_envelope.adapters import asgi

        options = HANDOFF_OPTIONS.get(kind, {})
        return asgi.EnvelopeMiddleware(answer, keys=side_keys(keys, "server", "client"), **options)
    prim = crypto_for(kind, keys)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        out, ctype = RESPONSE, b"application/json"
        if prim is not None:
            prim.open(body)
            out, ctype = prim.seal(RESPONSE), JOSE.encode()
        headers = [(b"content-type", ctype), (b"content-length", str(len(out)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    return app


def wsgi_app(kind: str, keys: dict[str, ge.Key]) -> Any:
    """The WSGI application ``kind`` (see the module docstring)."""

    def answer(environ: Any, start_response: Any) -> Iterable[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "1024")])
        return [RESPONSE]

    if kind == "middleware":
        from gpay_envelope.adapters import wsgi

        return wsgi.EnvelopeMiddleware(answer, keys=side_keys(keys, "server", "client"))
    prim = crypto_for(kind, keys)

    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        out, ctype = RESPONSE, "application/json"
        if prim is not None:
            prim.open(body)
            out, ctype = prim.seal(RESPONSE), JOSE
        start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(out)))])
        return [out]

    return app


class _ThreadProfiles:
    """cProfile for every thread of the server (asyncio's worker threads included)."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        # Per-thread CPU time, not wall time: a thread waiting for the GIL or a queue is idle.
        main = cProfile.Profile(time.thread_time)
        self.profiles.append(main)
        threading.setprofile(self._start)
        main.enable()

    def _start(self, *_: object) -> None:
        sys.setprofile(None)
        prof = cProfile.Profile(time.thread_time)
        self.profiles.append(prof)
        prof.enable()

    def dump(self, path: str) -> None:
        for prof in self.profiles:
            prof.disable()
        stats = pstats.Stats(self.profiles[0])
        for prof in self.profiles[1:]:
            if prof.getstats():
                stats.add(prof)
        stats.dump_stats(path)


class _Stop(Exception):
    """SIGTERM in a server child."""


def _raise_stop(*_: object) -> None:
    raise _Stop


def serve(
    server: str, kind: str, keys_path: Path, profile_out: str | None, workers: int = 1
) -> None:
    """Child process: bind a free port of 127.0.0.1, print it (and the pids of any further
    workers), serve until SIGTERM."""
    keys = load_keys(keys_path)
    profiles = _ThreadProfiles() if profile_out else None
    try:
        if server == "asgi":
            _serve_asgi(asgi_app(kind, keys), workers)
        else:
            _serve_wsgi(wsgi_app(kind, keys))
    finally:
        if profiles is not None and profile_out:
            profiles.dump(profile_out)


def _serve_asgi(app: Any, workers: int = 1) -> None:
    import uvicorn

    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY only on sockets that say so,
    # and without it every keep-alive response waits out a delayed ACK (about 40 ms).
    # One listening socket per worker, all on one port (SO_REUSEPORT), so the kernel spreads
    # connections over the workers; on one shared socket the first worker to wake takes
    # every connection of a burst. All listen before the port is printed.
    socks: list[socket.socket] = []
    port = 0
    for _ in range(workers):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)  # connections queue from here on, before uvicorn runs
        port = sock.getsockname()[1]
        socks.append(sock)
    print(f"PORT {port}", flush=True)
    # Further workers are forked here, before any event loop exists; only the first prints.
    forked: list[int] = []
    sock = socks[0]
    for i in range(1, workers):
        pid = os.fork()
        if pid == 0:
            forked, sock = [], socks[i]
            break
        forked.append(pid)
    else:
        print("WORKERS " + " ".join(map(str, forked)), flush=True)
    for other in socks:
        if other is not sock:
            other.close()
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", http="h11", loop="asyncio"
    )
    userver = uvicorn.Server(config)
    # SIGTERM ends the serving loop and returns here (uvicorn would re-raise the signal).
    userver.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    signal.signal(signal.SIGTERM, lambda *_: setattr(userver, "should_exit", True))
    try:
        userver.run(sockets=[sock])
    finally:
        for pid in forked:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)


def _serve_wsgi(app: Any) -> None:
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    class Server(WSGIServer):
        # socketserver listens with a backlog of 5: more connections at once than that lose
        # their SYN and wait a second for the retry, which would be measured as throughput.
        request_queue_size = 128

    httpd = Server(("127.0.0.1", 0), QuietHandler)
    httpd.set_app(app)
    print(f"PORT {httpd.server_port}", flush=True)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        httpd.serve_forever()
    except _Stop:
        pass
    finally:
        httpd.server_close()


class Server:
    """A server child process and the port it listens on."""

    def __init__(
        self,
        server: str,
        kind: str,
        keys_path: Path,
        profile_out: str | None = None,
        workers: int = 1,
    ):
        self.name = f"{server}/{kind}"
        cmd = [sys.executable, __file__, "--serve", server, "--app", kind, "--keys", str(keys_path)]
        if profile_out:
            cmd += ["--profile-out", profile_out]
        if server == "asgi":
            cmd += ["--workers", str(workers)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.port = 0
        self.pids = [self.proc.pid]

    def wait_port(self) -> None:
        """Read the port the child printed (children start in parallel, then each is asked)."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"{self.name} did not start")
        self.port = int(line.split()[1])
        if self.name.startswith("asgi/"):
            self.pids += [int(pid) for pid in self.proc.stdout.readline().split()[1:]]

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's processes, all threads."""
        ticks = 0
        for pid in self.pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        return ticks / CLK_TCK

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------------------- load


def _request(port: int, body: bytes) -> bytes:
    return (
        f"POST /pay HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {JOSE}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body, and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    fields = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if x)}
    body = await reader.readexactly(int(fields.get("content-length", "0")))
    keep = version == "HTTP/1.1" and fields.get("connection", "").lower() != "close"
    return int(status), body, keep


async def _worker(port: int, request: bytes, jobs: list[int], lat: list[float], bad: list[bytes]):
    reader = writer = None
    while jobs:
        jobs.pop()
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert reader is not None
        start = time.perf_counter()
        writer.write(request)
        status, body, keep = await _response(reader)
        lat.append(time.perf_counter() - start)
        if status != 200:
            bad.append(body)
        if not keep:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def burst(server: Server, envelope: bytes, requests: int, concurrency: int) -> dict[str, float]:
    """``requests`` POSTs of ``envelope`` at ``concurrency``; throughput, latency, CPU."""
    request = _request(server.port, envelope)
    jobs = list(range(requests))
    lat: list[float] = []
    bad: list[bytes] = []

    async def run() -> None:
        await asyncio.gather(
            *(_worker(server.port, request, jobs, lat, bad) for _ in range(concurrency))
        )

    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    asyncio.run(run())
    elapsed, cpu = time.perf_counter() - t0, server.cpu_seconds() - cpu0
    if bad:
        raise RuntimeError(f"{server.name}: {len(bad)} responses were not 200: {bad[0][:80]!r}")
    lat.sort()
    return {
        "rps": requests / elapsed,
        "p50_ms": lat[len(lat) // 2] * 1e3,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3,
        "cpu_ms_per_req": cpu / requests * 1e3,
    }


def check_answer(server: Server, envelope: bytes, client: Keys) -> None:
    """One request, answered as the app should: a sealed 1 KiB body that opens, or the body."""

    async def run() -> tuple[int, bytes, bool]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_request(server.port, envelope))
        try:
            return await _response(reader)
        finally:
            writer.close()

    status, body, _ = asyncio.run(run())
    if server.name.endswith("plain"):
        opened = body
    else:
        opened = ge.open(body, identities=client.identities, senders=client.senders)
    if status != 200 or opened != RESPONSE:
        raise RuntimeError(f"{server.name} answered {status} with an unexpected body")


def measure(
    servers: list[Server], envelope: bytes, requests: int, concurrency: int, rounds: int
) -> list[dict[str, Any]]:
    samples: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
    for s in servers:
        burst(s, envelope, max(20, requests // 10), concurrency)  # warm-up
    for _ in range(rounds):
        for s in servers:
            samples[s.name].append(burst(s, envelope, requests, concurrency))
    rows = []
    for s in servers:
        row: dict[str, Any] = {"server": s.name.split("/")[0], "app": s.name.split("/")[1]}
        for k in samples[s.name][0]:
            row[k] = round(statistics.median(x[k] for x in samples[s.name]), 3)
        rows.append(row)
    for row in rows:
        floor = next(r for r in rows if r["server"] == row["server"] and r["app"] == "primitives")
        row["cpu_x"] = round(row["cpu_ms_per_req"] / floor["cpu_ms_per_req"], 2)
        row["rps_x"] = round(row["rps"] / floor["rps"], 2)
    return rows


def profile(tmp: Path, keys_path: Path, envelope: bytes, requests: int, concurrency: int) -> None:
    out = str(tmp / "middleware.prof")
    server = Server("asgi", "middleware", keys_path, profile_out=out)
    server.wait_port()
    try:
        burst(server, envelope, requests, concurrency)
    finally:
        server.stop()
    stats = pstats.Stats(out)
    stats.sort_stats("tottime").print_stats(30)
    # What the middleware itself spends, beside the codec's open and seal.
    stats.sort_stats("cumulative").print_stats(r"adapters|keystore|_observe", 25)
    # Who pays for the ABC isinstance checks (a cost that grows with every layer).
    stats.print_callers("builtins.isinstance")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    ap.add_argument("--quick", action="store_true", help="CI smoke: 150 requests, one round, "
                    "no hand-off variants")  # fmt: skip
    ap.add_argument("--requests", type=int, default=800, help="requests per burst")
    ap.add_argument("--concurrency", type=int, default=8, help="connections at once")
    ap.add_argument("--rounds", type=int, default=6, help="bursts per server, round-robin")
    ap.add_argument("--servers", default="asgi,wsgi", help="asgi, wsgi or both")
    ap.add_argument("--apps", help="only these apps, comma-separated (primitives is always run)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--profile", action="store_true", help="profile the ASGI middleware")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--app", help=argparse.SUPPRESS)
    ap.add_argument("--keys", help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve, args.app, Path(args.keys), args.profile_out, args.workers)
        return 0
    if args.workers < 1 or (args.profile and args.workers != 1):
        ap.error("--workers must be at least 1 (and 1 with --profile)")
    requests, rounds = (150, 1) if args.quick else (args.requests, args.rounds)

    with tempfile.TemporaryDirectory() as tmp:
        keys_path = make_keys(Path(tmp))
        client = side_keys(load_keys(keys_path), "client", "server")
        envelope = ge.seal(REQUEST, recipients=client.recipients, signer=client.signer,
                           codec="jwe")  # fmt: skip
        if args.profile:
            profile(Path(tmp), keys_path, envelope, requests, args.concurrency)
            return 0
        servers: list[Server] = []
        wanted = None if args.apps is None else {*args.apps.split(","), "primitives"}
        try:
            for server in args.servers.split(","):
                for kind in APPS[server]:
                    skipped = args.quick and kind in QUICK_SKIPS
                    if not skipped and (wanted is None or kind in wanted):
                        servers.append(Server(server, kind, keys_path, workers=args.workers))
            for s in servers:
                s.wait_port()
                check_answer(s, envelope, client)
            rows = measure(servers, envelope, requests, args.concurrency, rounds)
        finally:
            for s in servers:
                s.stop()

    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    print(
        f"server path, 1 KiB signed JWE request and response, RSA-2048, {requests} requests x "
        f"{rounds} rounds at concurrency {args.concurrency}, {args.workers} uvicorn worker(s), "
        "medians (x = ours / primitives)"
    )
    print(f"{'server':<7}{'app':<19}{'req/s':>8}{'x':>6}{'p50 ms':>8}{'p99 ms':>8}"
          f"{'CPU ms/req':>11}{'x':>6}")  # fmt: skip
    for r in rows:
        target = "  target >=0.90 / <=1.10" if r["app"] == "middleware" else ""
        print(
            f"{r['server']:<7}{r['app']:<19}{r['rps']:>8.0f}{r['rps_x']:>6.2f}{r['p50_ms']:>8.2f}"
            f"{r['p99_ms']:>8.2f}{r['cpu_ms_per_req']:>11.3f}{r['cpu_x']:>6.2f}{target}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
