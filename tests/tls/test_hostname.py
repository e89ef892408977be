"""Host names: `hostname_matches` and the client context agree, on real handshakes.

Certificates with only a CN (no subjectAltName) are matched on the CN, in the handshake.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tls_certs import PKI, Issued, LoopbackTLSServer, connect, make_leaf, make_pki

from gpay_envelope.tls import client_tls_context, hostname_matches, server_tls_context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


# (subject CN, DNS SANs, IP SANs, host name, whether the name matches)
NAME_CASES = [
    ("partner.test", (), (), "partner.test", True),
    ("partner.test", (), (), "PARTNER.Test", True),
    ("partner.test", (), (), "other.test", False),
    ("partner.test", (), (), "api.partner.test", False),
    ("*.partner.test", (), (), "api.partner.test", True),
    ("*.partner.test", (), (), "partner.test", False),
    ("*.partner.test", (), (), "a.b.partner.test", False),
    ("*.test", (), (), "partner.test", False),  # a wildcard over a 2-label name
    ("api*.partner.test", (), (), "api1.partner.test", False),  # partial wildcard
    ("a.*.partner.test", (), (), "a.b.partner.test", False),  # not the left-most label
    ("*.*.partner.test", (), (), "a.b.partner.test", False),  # one wildcard label only
    ("cn.partner.test", ("san.partner.test",), (), "san.partner.test", True),
    ("cn.partner.test", ("san.partner.test",), (), "cn.partner.test", False),  # CN ignored
    ("partner.test", (), ("127.0.0.1",), "partner.test", True),  # no DNS SAN: CN is used
    ("127.0.0.1", (), (), "127.0.0.1", False),  # an IP address never matches a CN
    (None, (), ("127.0.0.1",), "127.0.0.1", True),
    (None, (), ("127.0.0.1",), "127.0.0.2", False),
]


@pytest.mark.parametrize(("cn", "dns", "ips", "host", "expected"), NAME_CASES)
def test_client_and_probe_agree_on_host_names(
    pki: PKI,
    tmp_path: Path,
    cn: str | None,
    dns: tuple[str, ...],
    ips: tuple[str, ...],
    host: str,
    expected: bool,
) -> None:
    leaf = make_leaf(tmp_path, "leaf", issuer=pki.ca, cn=cn, dns=dns, ips=ips)
    assert hostname_matches(leaf.cert, host) is expected
    client = client_tls_context(cafile=pki.ca.certfile)
    with LoopbackTLSServer(server_tls_context(certfile=leaf.certfile, keyfile=leaf.keyfile)) as s:
        if expected:
            assert connect(client, s.port, host)[2] == b"ok\n"
        else:
            with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
                connect(client, s.port, host)


@pytest.fixture(scope="module")
def cn_only_localhost(pki: PKI) -> Issued:
    return make_leaf(pki.folder, "cn-localhost", issuer=pki.ca, cn="localhost")


def test_http_clients_accept_a_cn_only_certificate(pki: PKI, cn_only_localhost: Issued) -> None:
    leaf = cn_only_localhost
    ctx = client_tls_context(cafile=pki.ca.certfile)
    server_ctx = server_tls_context(certfile=leaf.certfile, keyfile=leaf.keyfile)
    with LoopbackTLSServer(server_ctx, http=True) as server:
        conn = http.client.HTTPSConnection("localhost", server.port, context=ctx, timeout=5)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"ok\n")
        finally:
            conn.close()
        url = f"https://localhost:{server.port}/"
        with urllib.request.urlopen(url, context=ctx, timeout=5) as response:
            assert response.read() == b"ok\n"
        # 127.0.0.1 is not the CN, and an IP address never matches a CN: refused.
        with pytest.raises(urllib.error.URLError, match="mismatch"):
            urllib.request.urlopen(f"https://127.0.0.1:{server.port}/", context=ctx, timeout=5)
