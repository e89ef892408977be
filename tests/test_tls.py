"""TLS contexts and the compliance probe, against our own server on 127.0.0.1 in a thread.

The same probe against nginx lives in tests/interop/test_tls_nginx.py.
"""

from __future__ import annotations

import http.client
import inspect
import json
import socket
import ssl
import urllib.request
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from tls_certs import NOW, Issued, LoopbackTLSServer, make_ca, make_leaf

import gpay_envelope.tls as tls
from gpay_envelope.errors import EnvelopeError, TLSConfigError
from gpay_envelope.tls import (
    ALLOWED_TLS12_CIPHERS,
    ProtocolResult,
    TLSReport,
    check_endpoint,
    client_tls_context,
    hostname_matches,
    server_tls_context,
    tls_check_main,
)

ECDSA_ALLOWED = {c for c in ALLOWED_TLS12_CIPHERS if "-ECDSA-" in c}
PASSWORD = "s3cret-pass-phrase"


@dataclass(frozen=True)
class PKI:
    folder: Path
    ca: Issued
    other_ca: Issued
    server: Issued
    client: Issued
    encrypted: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    folder = tmp_path_factory.mktemp("pki")
    ca = make_ca(folder)
    return PKI(
        folder=folder,
        ca=ca,
        other_ca=make_ca(folder, "other-ca", cn="some other CA"),
        server=make_leaf(
            folder,
            "server",
            issuer=ca,
            cn="partner.test",
            dns=["partner.test", "localhost"],
            ips=["127.0.0.1"],
        ),
        client=make_leaf(folder, "client", issuer=ca, cn="google-client", client=True),
        encrypted=make_leaf(
            folder, "encrypted", issuer=ca, cn="partner.test", password=PASSWORD.encode()
        ),
    )


def _server(pki: PKI, **kwargs: object) -> LoopbackTLSServer:
    ctx = server_tls_context(certfile=pki.server.certfile, keyfile=pki.server.keyfile, **kwargs)  # type: ignore[arg-type]
    return LoopbackTLSServer(ctx)


def _connect(ctx: ssl.SSLContext, port: int, name: str) -> tuple[str | None, str | None, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as conn:
            cipher = conn.cipher()
            return conn.version(), cipher[0] if cipher else None, conn.recv(16)


def _tls12_names(ctx: ssl.SSLContext) -> set[str]:
    return {c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"}


# --------------------------------------------------------------------------- contexts


def test_client_context_enforces_version_suites_and_verification() -> None:
    ctx = client_tls_context()
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_3
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.hostname_checks_common_name is True
    assert _tls12_names(ctx) == set(ALLOWED_TLS12_CIPHERS)


def test_server_context_settings(pki: PKI) -> None:
    ctx = server_tls_context(certfile=pki.server.certfile, keyfile=pki.server.keyfile)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_3
    assert _tls12_names(ctx) == set(ALLOWED_TLS12_CIPHERS)
    assert ctx.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    assert ctx.options & ssl.OP_NO_RENEGOTIATION
    assert ctx.verify_mode == ssl.CERT_NONE  # Google's rules ask for no client certificate

    tls12_only = server_tls_context(
        certfile=pki.server.certfile, keyfile=pki.server.keyfile, allow_tls13=False
    )
    assert tls12_only.maximum_version == ssl.TLSVersion.TLSv1_2
    assert client_tls_context(allow_tls13=False).maximum_version == ssl.TLSVersion.TLSv1_2


def test_client_has_no_switch_that_turns_verification_off() -> None:
    params = set(inspect.signature(client_tls_context).parameters)
    assert params == {"cafile", "cadata", "certfile", "keyfile", "password", "allow_tls13"}
    assert all(
        p.kind is inspect.Parameter.KEYWORD_ONLY
        for p in inspect.signature(client_tls_context).parameters.values()
    )


def test_loopback_handshake_negotiates_tls13_by_default(pki: PKI) -> None:
    client = client_tls_context(cafile=pki.ca.certfile)
    with _server(pki) as server:
        version, _cipher, data = _connect(client, server.port, "partner.test")
    assert (version, data) == ("TLSv1.3", b"ok\n")


@pytest.mark.parametrize("side", ["server", "client"])
def test_loopback_tls12_uses_an_allowed_suite(pki: PKI, side: str) -> None:
    client = client_tls_context(cafile=pki.ca.certfile, allow_tls13=side != "client")
    with _server(pki, allow_tls13=side != "server") as server:
        version, cipher, _ = _connect(client, server.port, "partner.test")
    assert version == "TLSv1.2"
    assert cipher in ECDSA_ALLOWED


def test_client_verifies_against_system_roots_by_default(pki: PKI) -> None:
    with _server(pki) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
            _connect(client_tls_context(), server.port, "partner.test")
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
            _connect(client_tls_context(cafile=pki.other_ca.certfile), server.port, "partner.test")
        # cadata: the same trust as cafile, from memory.
        cadata = pki.ca.cert.public_bytes(serialization.Encoding.PEM).decode()
        version, _, _ = _connect(client_tls_context(cadata=cadata), server.port, "partner.test")
    assert version == "TLSv1.3"


def _probe_client(version: ssl.TLSVersion, ciphers: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.deprecated_call() if version < ssl.TLSVersion.TLSv1_2 else nullcontext():
        ctx.minimum_version = version
        ctx.maximum_version = version
    ctx.set_ciphers(ciphers)
    return ctx


@pytest.mark.parametrize(
    ("version", "ciphers"),
    [
        (ssl.TLSVersion.TLSv1, "ALL:@SECLEVEL=0"),
        (ssl.TLSVersion.TLSv1_1, "ALL:@SECLEVEL=0"),
        (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-GCM-SHA384"),
    ],
)
def test_server_refuses_legacy_versions_and_other_suites(
    pki: PKI, version: ssl.TLSVersion, ciphers: str
) -> None:
    with _server(pki) as server:
        with pytest.raises(ssl.SSLError):
            _connect(_probe_client(version, ciphers), server.port, "partner.test")
        # The same server accepts a client that offers an allowed suite.
        assert _connect(_probe_client(ssl.TLSVersion.TLSv1_2, "ALL"), server.port, "x")[1] in (
            ECDSA_ALLOWED
        )


def test_mutual_tls(pki: PKI) -> None:
    server_ctx = server_tls_context(
        certfile=pki.server.certfile, keyfile=pki.server.keyfile, client_ca=pki.ca.certfile
    )
    assert server_ctx.verify_mode == ssl.CERT_REQUIRED
    with LoopbackTLSServer(server_ctx) as server:
        with_cert = client_tls_context(
            cafile=pki.ca.certfile, certfile=pki.client.certfile, keyfile=pki.client.keyfile
        )
        assert _connect(with_cert, server.port, "partner.test")[2] == b"ok\n"
        assert server.peer_certs[-1]["subject"] == ((("commonName", "google-client"),),)
        # In TLS 1.3 the server judges the client certificate after the client's handshake
        # ends, so the refusal shows on the first read.
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"):
            _connect(client_tls_context(cafile=pki.ca.certfile), server.port, "partner.test")


def test_encrypted_key_loads_with_its_password(pki: PKI) -> None:
    ctx = server_tls_context(
        certfile=pki.encrypted.certfile, keyfile=pki.encrypted.keyfile, password=PASSWORD
    )
    client = client_tls_context(cafile=pki.ca.certfile)
    with LoopbackTLSServer(ctx) as server:
        assert _connect(client, server.port, "partner.test")[2] == b"ok\n"


# --------------------------------------------------------------------------- names


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
            assert _connect(client, s.port, host)[2] == b"ok\n"
        else:
            with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
                _connect(client, s.port, host)


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


# --------------------------------------------------------------------------- config errors


def _assert_clean(exc: TLSConfigError, pki: PKI) -> None:
    assert isinstance(exc, EnvelopeError) and isinstance(exc, ValueError)
    message = str(exc)
    assert PASSWORD not in message
    assert "BEGIN" not in message and "PRIVATE" not in message
    key_pem = pki.encrypted.keyfile.read_text().splitlines()[1]
    assert key_pem not in message
    # No lower-level exception travels with it (its text could name key details).
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: client_tls_context(cafile=p.folder / "missing.pem"), "does not exist"),
        (lambda p: client_tls_context(cafile=p.folder), "not a file"),
        (lambda p: client_tls_context(cafile=p.server.keyfile), "no readable PEM certificate"),
        (lambda p: client_tls_context(cadata="not a certificate"), "cadata"),
        (lambda p: client_tls_context(keyfile=p.client.keyfile), "need a certfile"),
        (lambda p: client_tls_context(password=PASSWORD), "need a certfile"),
        (
            lambda p: client_tls_context(
                certfile=p.client.certfile, keyfile=p.folder / "missing.key"
            ),
            "keyfile .* does not exist",
        ),
        (
            lambda p: server_tls_context(certfile=p.folder / "missing.crt", keyfile=None),
            "certfile .* does not exist",
        ),
        (
            lambda p: server_tls_context(certfile=p.server.certfile, keyfile=p.client.keyfile),
            "does not match the certificate",
        ),
        (
            lambda p: server_tls_context(certfile=p.server.keyfile, keyfile=p.server.keyfile),
            "not readable PEM",
        ),
        (
            lambda p: server_tls_context(
                certfile=p.encrypted.certfile, keyfile=p.encrypted.keyfile
            ),
            "encrypted; pass password",
        ),
        (
            lambda p: server_tls_context(
                certfile=p.encrypted.certfile, keyfile=p.encrypted.keyfile, password="wrong"
            ),
            "wrong password",
        ),
        (
            lambda p: server_tls_context(
                certfile=p.server.certfile,
                keyfile=p.server.keyfile,
                client_ca=p.folder / "missing-ca.pem",
            ),
            "client_ca .* does not exist",
        ),
    ],
)
def test_bad_settings_raise_tls_config_error(pki: PKI, make: object, match: str) -> None:
    with pytest.raises(TLSConfigError, match=match) as info:
        make(pki)  # type: ignore[operator]
    _assert_clean(info.value, pki)


def test_wrong_password_is_not_echoed(pki: PKI) -> None:
    with pytest.raises(TLSConfigError) as info:
        server_tls_context(
            certfile=pki.encrypted.certfile, keyfile=pki.encrypted.keyfile, password=PASSWORD[:-1]
        )
    assert PASSWORD[:-1] not in str(info.value)
    _assert_clean(info.value, pki)


# --------------------------------------------------------------------------- the probe


def _failing(report: TLSReport) -> set[str]:
    return {r.id for r in report.requirements if not r.passed}


def test_probe_passes_our_own_server(pki: PKI) -> None:
    with _server(pki) as server:
        report = check_endpoint(
            f"https://127.0.0.1:{server.port}/echo",
            servername="partner.test",
            cafile=pki.ca.certfile,
        )
    assert report.compliant, report.requirements
    assert [r.id for r in report.requirements] == ["T1", "T2", "T3", "T4"]
    assert {p.name: p.accepted for p in report.protocols} == {
        "TLSv1": False,
        "TLSv1.1": False,
        "TLSv1.2": True,
        "TLSv1.3": True,
    }
    assert set(report.tls12_ciphers) == ECDSA_ALLOWED
    assert report.disallowed_ciphers_accepted == ()
    assert report.certificate is not None
    assert report.certificate.dns_names == ("partner.test", "localhost")
    assert 85 <= (report.days_to_expiry or 0) <= 90

    data = json.loads(json.dumps(report.to_dict()))
    assert data["compliant"] is True
    assert data["protocols"]["TLSv1"]["accepted"] is False
    assert [r["passed"] for r in data["requirements"]] == [True] * 4
    assert data["certificate"]["days_to_expiry"] == report.days_to_expiry


def test_probe_tls12_only_server_is_compliant(pki: PKI) -> None:
    with _server(pki, allow_tls13=False) as server:
        report = check_endpoint(
            "127.0.0.1", server.port, servername="localhost", cafile=pki.ca.certfile
        )
    assert report.compliant, report.requirements
    tls13 = next(p for p in report.protocols if p.name == "TLSv1.3")
    assert tls13.accepted is False


def _custom_server(pki: PKI, ciphers: str, minimum: ssl.TLSVersion) -> LoopbackTLSServer:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.deprecated_call() if minimum < ssl.TLSVersion.TLSv1_2 else nullcontext():
        ctx.minimum_version = minimum
    ctx.set_ciphers(ciphers)
    ctx.load_cert_chain(pki.server.certfile, pki.server.keyfile)
    return LoopbackTLSServer(ctx)


def test_probe_flags_a_suite_outside_the_list(pki: PKI) -> None:
    ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-SHA"
    with _custom_server(pki, ciphers, ssl.TLSVersion.TLSv1_2) as server:
        report = check_endpoint(
            f"127.0.0.1:{server.port}", servername="partner.test", cafile=pki.ca.certfile
        )
    assert _failing(report) == {"T4"}
    assert report.allowed_ciphers_accepted == ("ECDHE-ECDSA-AES128-GCM-SHA256",)
    assert report.disallowed_ciphers_accepted == ("ECDHE-ECDSA-AES256-SHA",)
    assert "outside the list: ECDHE-ECDSA-AES256-SHA" in report.requirement("T4").detail


def test_probe_flags_legacy_protocols(pki: PKI) -> None:
    ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"
    with _custom_server(pki, ciphers, ssl.TLSVersion.TLSv1) as server:
        report = check_endpoint(
            f"127.0.0.1:{server.port}", servername="partner.test", cafile=pki.ca.certfile
        )
    accepted = {p.name: p.accepted for p in report.protocols}
    assert accepted["TLSv1"] is True and accepted["TLSv1.1"] is True
    assert "below TLS 1.2 accepted: TLSv1, TLSv1.1" in report.requirement("T1").detail
    assert _failing(report) == {"T1", "T4"}  # the CBC suite TLS 1.0 needs is in TLS 1.2 too


def test_probe_tells_name_from_trust(pki: PKI) -> None:
    with _server(pki) as server:
        target = f"127.0.0.1:{server.port}"
        wrong_name = check_endpoint(target, servername="other.test", cafile=pki.ca.certfile)
        untrusted = check_endpoint(target, servername="partner.test", cafile=pki.other_ca.certfile)
        by_ip = check_endpoint(target, cafile=pki.ca.certfile)  # the cert has IP:127.0.0.1
    assert _failing(wrong_name) == {"T2"}
    assert "'other.test' does not match" in wrong_name.requirement("T2").detail
    assert _failing(untrusted) == {"T3"}
    assert "unable to get local issuer" in (untrusted.chain_error or "")
    assert by_ip.compliant and by_ip.server_name == "127.0.0.1"


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port: int = s.getsockname()[1]
    return port


def test_probe_reports_an_unreachable_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    report = check_endpoint("127.0.0.1", port, timeout=2)
    assert not report.reachable and not report.compliant
    assert report.error is not None and "cannot connect" in report.error
    assert _failing(report) == {"T1", "T2", "T3", "T4"}
    assert all(r.detail.startswith("not tested") for r in report.requirements)
    assert tls_check_main([f"127.0.0.1:{port}", "--timeout", "2"]) == 1
    assert "unreachable" in capsys.readouterr().out


def _report(der: bytes | None, **kwargs: object) -> TLSReport:
    values: dict[str, object] = {
        "protocols": (
            ProtocolResult("TLSv1", False),
            ProtocolResult("TLSv1.1", False),
            ProtocolResult("TLSv1.2", True),
            ProtocolResult("TLSv1.3", True),
        ),
        "tls12_ciphers": ("ECDHE-RSA-AES128-GCM-SHA256",),
        "cipher_scan_complete": True,
        "der": der,
        "chain_trusted": True,
        "chain_error": None,
        "now": NOW,
    }
    values.update(kwargs)
    return tls._assess("h", 443, "partner.test", "system trust store", **values)  # type: ignore[arg-type]


def test_assessment_rules(pki: PKI) -> None:
    der = pki.server.cert.public_bytes(serialization.Encoding.DER)
    assert _report(der).compliant

    untestable = _report(
        der,
        protocols=(
            ProtocolResult("TLSv1", None, detail="local OpenSSL lacks it"),
            ProtocolResult("TLSv1.1", False),
            ProtocolResult("TLSv1.2", True),
            ProtocolResult("TLSv1.3", None, detail="timed out"),
        ),
    )
    assert untestable.compliant
    assert "not tested: TLSv1 (local OpenSSL lacks it), TLSv1.3 (timed out)" in (
        untestable.requirement("T1").detail
    )

    tls13_only = _report(
        der,
        protocols=(
            ProtocolResult("TLSv1", False),
            ProtocolResult("TLSv1.1", False),
            ProtocolResult("TLSv1.2", False),
            ProtocolResult("TLSv1.3", True),
        ),
        tls12_ciphers=(),
    )
    assert _failing(tls13_only) == {"T4"}  # TLS 1.3 is fine, but no listed suite is offered

    incomplete = _report(der, cipher_scan_complete=False)
    assert _failing(incomplete) == {"T4"}
    assert "scan incomplete" in incomplete.requirement("T4").detail

    legacy_only = _report(
        der,
        protocols=(ProtocolResult("TLSv1", True), ProtocolResult("TLSv1.2", False)),
        tls12_ciphers=(),
    )
    assert {"T1", "T4"} <= _failing(legacy_only)
    assert legacy_only.requirement("T1").detail.startswith(
        "protocols below TLS 1.2 accepted: TLSv1;"
    )

    nothing = _report(der, protocols=(ProtocolResult("TLSv1.2", False),), tls12_ciphers=())
    assert nothing.requirement("T1").detail.startswith("neither TLS 1.2 nor TLS 1.3 accepted")
    assert not nothing.requirement("T1").passed

    unverified = _report(der, chain_trusted=None, chain_error="no TLS 1.2 or 1.3 handshake")
    assert unverified.requirement("T3").detail == "not verified: no TLS 1.2 or 1.3 handshake"
    assert _failing(unverified) == {"T3"}

    expired = pki.server.cert.not_valid_after_utc + timedelta(hours=1)
    assert _report(der, now=expired).days_to_expiry == -1
    assert _report(None).requirement("T2").detail == "no certificate obtained"
    with pytest.raises(KeyError):
        _report(der).requirement("T9")


@pytest.mark.parametrize(
    ("target", "port", "expected"),
    [
        ("https://partner.test", None, ("partner.test", 443)),
        ("https://Partner.Test:8443/path?q=1", None, ("partner.test", 8443)),
        ("partner.test:8443", None, ("partner.test", 8443)),
        ("partner.test", 9443, ("partner.test", 9443)),
        ("[::1]:8443", None, ("::1", 8443)),
        ("127.0.0.1", None, ("127.0.0.1", 443)),
    ],
)
def test_targets(target: str, port: int | None, expected: tuple[str, int]) -> None:
    assert tls._parse_target(target, port) == expected


@pytest.mark.parametrize(
    ("target", "port", "match"),
    [
        ("http://partner.test", None, "only https"),
        ("https://user:pw@partner.test", None, "credentials"),
        ("partner.test:99999", None, "port"),
        ("partner.test:8443", 9443, "two different ports"),
        ("https://", None, "no host"),
        ("partner.test", 0, "port"),
    ],
)
def test_bad_targets(target: str, port: int | None, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        check_endpoint(target, port)
    assert "pw" not in str(info.value)


# --------------------------------------------------------------------------- command line


def test_cli_human_and_json_output(pki: PKI, capsys: pytest.CaptureFixture[str]) -> None:
    with _server(pki) as server:
        base = [f"https://127.0.0.1:{server.port}", "--servername", "partner.test"]
        assert tls_check_main([*base, "--cafile", str(pki.ca.certfile)]) == 0
        human = capsys.readouterr().out
        assert tls_check_main([*base, "--cafile", str(pki.ca.certfile), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert tls_check_main([*base, "--cafile", str(pki.other_ca.certfile)]) == 1
        untrusted = capsys.readouterr().out
    for rid in ("T1", "T2", "T3", "T4"):
        assert f"\n{rid} " in human
    assert human.rstrip().endswith("\nCOMPLIANT")
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in human
    assert data["compliant"] is True and data["server_name"] == "partner.test"
    assert "T3   SHOULD       FAIL" in untrusted
    assert untrusted.rstrip().endswith("NOT COMPLIANT")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["http://partner.test"],
        ["127.0.0.1:1", "--timeout", "0"],
        ["127.0.0.1:1", "--timeout", "soon"],
        ["127.0.0.1:1", "--cafile", "/nonexistent/ca.pem"],
        ["127.0.0.1:1", "--bogus"],
    ],
)
def test_cli_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert tls_check_main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_cli_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert tls_check_main(["--help"]) == 0
    assert "--servername" in capsys.readouterr().out


def test_human_output_escapes_control_characters(pki: PKI, tmp_path: Path) -> None:
    leaf = make_leaf(tmp_path, "evil", issuer=pki.ca, cn="evil\x1b[2J.test", dns=["evil.test"])
    text = tls._render(_report(leaf.cert.public_bytes(serialization.Encoding.DER)))
    assert "\x1b" not in text
    assert "evil\\x1b[2J.test" in text
