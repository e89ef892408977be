"""The tls-check probe and the client context against nginx from Debian, on loopback.

One nginx process (``daemon off``, ``master_process off``, its own prefix, config, pid file and
logs in a temp folder, killed at teardown) serves one server block per case, each on its own
127.0.0.1 port:

=============  ===============================================  =====================
case           nginx setting                                    the probe must say
=============  ===============================================  =====================
compliant      TLS 1.2/1.3, the six suites, CA-signed cert      all of T1-T4 pass
legacy         TLS 1.0/1.1/1.2 at @SECLEVEL=0 (needs a CBC      T1 fails (and T4: the
               suite, which TLS 1.2 then offers too)            CBC suite)
cbc            TLS 1.2/1.3 plus ECDHE-RSA-AES128-SHA            only T4 fails
wrong_host     cert for wrong.example.net                       only T2 fails
expired        cert expired yesterday                           only T3 fails
self_signed    self-signed cert, not the CA's                   only T3 fails
cn_only        cert with CN=localhost and no subjectAltName     all pass
=============  ===============================================  =====================

Certificates are made here with `cryptography`. Without nginx these tests skip, or fail when
GPAY_REQUIRE_PEERS=1. Install: ``apt-get install nginx`` (the system service is not used).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import require_peer
from processes import stop
from tls_certs import NOW, Issued, make_ca, make_leaf, new_key

from gpay_envelope.cli.tls import tls_check_main
from gpay_envelope.tls import ALLOWED_TLS12_CIPHERS, client_tls_context
from gpay_envelope.tls.probe import TLSReport, check_endpoint

pytestmark = pytest.mark.interop

RSA_ALLOWED = {c for c in ALLOWED_TLS12_CIPHERS if "-RSA-" in c}
COMPLIANT = {"protocols": "TLSv1.2 TLSv1.3", "ciphers": ":".join(ALLOWED_TLS12_CIPHERS)}
CASES: dict[str, dict[str, str]] = {
    "compliant": {**COMPLIANT, "cert": "good"},
    "legacy": {
        "protocols": "TLSv1 TLSv1.1 TLSv1.2",
        # OpenSSL 3 refuses TLS 1.0/1.1 above security level 0; GCM suites are TLS 1.2-only.
        "ciphers": "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:@SECLEVEL=0",
        "cert": "good",
    },
    "cbc": {
        "protocols": "TLSv1.2 TLSv1.3",
        "ciphers": "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA",
        "cert": "good",
    },
    "wrong_host": {**COMPLIANT, "cert": "wrong_host"},
    "expired": {**COMPLIANT, "cert": "expired"},
    "self_signed": {**COMPLIANT, "cert": "self_signed"},
    "cn_only": {**COMPLIANT, "cert": "cn_only"},
}
START_ATTEMPTS = 3
READY_SECONDS = 10.0


def _nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


@dataclass(frozen=True)
class Nginx:
    ports: dict[str, int]
    ca: Issued
    certs: dict[str, Issued]

    def url(self, case: str, host: str = "localhost") -> str:
        return f"https://{host}:{self.ports[case]}/"


def _make_certs(folder: Path) -> tuple[Issued, dict[str, Issued]]:
    ca = make_ca(folder)
    key = new_key("rsa")  # one RSA key for every leaf: RSA suites, and key generation is slow
    localhost = {"dns": ["localhost"], "ips": ["127.0.0.1"]}
    certs = {
        "good": make_leaf(folder, "good", issuer=ca, cn="localhost", key=key, **localhost),
        "wrong_host": make_leaf(
            folder, "wrong", issuer=ca, cn="wrong.example.net", dns=["wrong.example.net"], key=key
        ),
        "expired": make_leaf(
            folder,
            "expired",
            issuer=ca,
            cn="localhost",
            key=key,
            not_before=NOW - timedelta(days=30),
            not_after=NOW - timedelta(days=1),
            **localhost,
        ),
        "self_signed": make_leaf(folder, "self", issuer=None, cn="localhost", key=key, **localhost),
        "cn_only": make_leaf(folder, "cn_only", issuer=ca, cn="localhost", key=key),
    }
    return ca, certs


def _free_ports(count: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    try:
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _config(folder: Path, ports: dict[str, int], certs: dict[str, Issued]) -> str:
    servers = []
    for case, port in ports.items():
        setting = CASES[case]
        cert = certs[setting["cert"]]
        servers.append(
            f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert.certfile};
        ssl_certificate_key {cert.keyfile};
        ssl_protocols {setting["protocols"]};
        ssl_ciphers "{setting["ciphers"]}";
        ssl_prefer_server_ciphers on;
        location / {{ return 200 "ok\\n"; }}
    }}"""
        )
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
master_process off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} notice;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp}
{"".join(servers)}
}}
"""


def _serves_tls(port: int) -> bool:
    # A full handshake, not just a TCP connect: a bound socket accepts connections before
    # nginx's event loop runs (or before it gives up on another port and exits).
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as raw:
            ctx.wrap_socket(raw, server_hostname="localhost").close()
    except OSError:
        return False
    return True


def _wait_ready(proc: subprocess.Popen[bytes], ports: list[int]) -> bool:
    deadline = time.monotonic() + READY_SECONDS
    pending = list(ports)
    while pending and time.monotonic() < deadline and proc.poll() is None:
        if _serves_tls(pending[0]):
            pending.pop(0)
        else:
            time.sleep(0.05)
    return not pending and proc.poll() is None


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    binary = _nginx_binary()
    require_peer(binary is not None, "nginx")
    assert binary is not None
    folder = tmp_path_factory.mktemp("nginx")
    ca, certs = _make_certs(folder)
    log = folder / "stderr.log"
    for _ in range(START_ATTEMPTS):  # a free port can be taken before nginx binds it
        ports = dict(zip(CASES, _free_ports(len(CASES)), strict=True))
        conf = folder / "nginx.conf"
        conf.write_text(_config(folder, ports, certs))
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [
                    binary,
                    "-p",
                    str(folder),
                    "-c",
                    str(conf),
                    "-e",
                    str(folder / "error.log"),
                    "-g",
                    "daemon off;",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            if _wait_ready(proc, list(ports.values())):
                yield Nginx(ports=ports, ca=ca, certs=certs)
                return
        finally:
            stop(proc)
    errors = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
    pytest.fail(f"nginx did not start:\n{log.read_text()}\n{errors}")


def _probe(nginx: Nginx, case: str, **kwargs: object) -> TLSReport:
    kwargs.setdefault("cafile", nginx.ca.certfile)
    return check_endpoint(nginx.url(case), timeout=5.0, **kwargs)  # type: ignore[arg-type]


def _failing(report: TLSReport) -> set[str]:
    return {r.id for r in report.requirements if not r.passed}


def _protocols(report: TLSReport) -> dict[str, bool | None]:
    return {p.name: p.accepted for p in report.protocols}


def test_compliant_server_passes_everything(nginx: Nginx) -> None:
    report = _probe(nginx, "compliant")
    assert report.reachable
    assert _failing(report) == set(), report.requirements
    assert report.compliant
    assert _protocols(report) == {
        "TLSv1": False,
        "TLSv1.1": False,
        "TLSv1.2": True,
        "TLSv1.3": True,
    }
    # An RSA certificate: exactly the three RSA suites of the list, nothing else.
    assert set(report.tls12_ciphers) == RSA_ALLOWED
    assert report.cipher_scan_complete
    assert report.chain_trusted and report.hostname_match
    assert report.days_to_expiry is not None and 85 <= report.days_to_expiry <= 90


def test_legacy_protocols_fail_t1(nginx: Nginx) -> None:
    report = _probe(nginx, "legacy")
    protocols = _protocols(report)
    # The probe must really see TLS 1.0 and 1.1 accepted, not merely fail to test them.
    assert protocols["TLSv1"] is True
    assert protocols["TLSv1.1"] is True
    assert protocols["TLSv1.2"] is True
    assert protocols["TLSv1.3"] is False
    t1 = report.requirement("T1")
    assert not t1.passed
    assert "TLSv1, TLSv1.1" in t1.detail
    # TLS 1.0 needs a non-GCM suite, and nginx cannot keep it out of TLS 1.2: T4 fails too.
    assert _failing(report) == {"T1", "T4"}
    assert report.disallowed_ciphers_accepted == ("ECDHE-RSA-AES128-SHA",)
    assert not report.compliant


def test_cbc_suite_fails_t4_only(nginx: Nginx) -> None:
    report = _probe(nginx, "cbc")
    assert _failing(report) == {"T4"}
    assert report.allowed_ciphers_accepted == ("ECDHE-RSA-AES128-GCM-SHA256",)
    assert report.disallowed_ciphers_accepted == ("ECDHE-RSA-AES128-SHA",)
    assert "ECDHE-RSA-AES128-SHA" in report.requirement("T4").detail
    assert not report.compliant


def test_wrong_hostname_fails_t2_only(nginx: Nginx) -> None:
    report = _probe(nginx, "wrong_host")
    assert _failing(report) == {"T2"}
    assert report.hostname_match is False
    assert report.chain_trusted is True
    assert "wrong.example.net" in report.requirement("T2").detail


def test_expired_certificate_fails_t3_only(nginx: Nginx) -> None:
    report = _probe(nginx, "expired")
    assert _failing(report) == {"T3"}
    assert report.chain_trusted is False
    assert report.chain_error is not None and "expired" in report.chain_error
    assert report.days_to_expiry is not None and report.days_to_expiry < 0


def test_self_signed_untrusted_fails_t3_only(nginx: Nginx) -> None:
    report = _probe(nginx, "self_signed")
    assert _failing(report) == {"T3"}
    assert report.chain_error is not None and "self-signed" in report.chain_error
    assert report.certificate is not None and report.certificate.self_issued


def test_self_signed_passes_when_agreed(nginx: Nginx) -> None:
    report = _probe(nginx, "self_signed", cafile=nginx.certs["self_signed"].certfile)
    assert report.compliant, report.requirements


def test_cn_only_certificate(nginx: Nginx) -> None:
    report = _probe(nginx, "cn_only")
    assert report.compliant, report.requirements
    assert report.certificate is not None
    assert report.certificate.dns_names == () and report.certificate.common_names == ("localhost",)
    assert "no subjectAltName" in report.requirement("T2").detail

    other = _probe(nginx, "cn_only", servername="other.localhost")
    assert _failing(other) == {"T2"}


def test_client_context_speaks_https_to_cn_only_nginx(nginx: Nginx) -> None:
    ctx = client_tls_context(cafile=nginx.ca.certfile)
    conn = http.client.HTTPSConnection("localhost", nginx.ports["cn_only"], context=ctx, timeout=5)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"ok\n")
        assert conn.sock is not None
        assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        conn.close()

    # The same server under a name the CN does not carry: refused inside the handshake.
    with socket.create_connection(("127.0.0.1", nginx.ports["cn_only"]), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            ctx.wrap_socket(raw, server_hostname="other.localhost")


def test_client_context_refuses_legacy_only_suites(nginx: Nginx) -> None:
    ctx = client_tls_context(cafile=nginx.ca.certfile, allow_tls13=False)
    with socket.create_connection(("127.0.0.1", nginx.ports["cbc"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.cipher() is not None
            assert tls.cipher()[0] == "ECDHE-RSA-AES128-GCM-SHA256"  # type: ignore[index]
    with socket.create_connection(("127.0.0.1", nginx.ports["expired"]), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
            ctx.wrap_socket(raw, server_hostname="localhost")


@pytest.mark.parametrize(("case", "code"), [("compliant", 0), ("cbc", 1), ("expired", 1)])
def test_cli_exit_codes_and_json(
    nginx: Nginx, case: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [nginx.url(case), "--cafile", str(nginx.ca.certfile), "--json"]
    assert tls_check_main(argv) == code
    data = json.loads(capsys.readouterr().out)
    assert data["compliant"] is (code == 0)
    assert data["port"] == nginx.ports[case]
