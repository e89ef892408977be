"""The endpoint probe and its verdicts on T1-T4, against our own server on 127.0.0.1.

The same probe against nginx lives in tests/interop/test_tls_nginx.py.
"""

from __future__ import annotations

import json
import socket
import ssl
from contextlib import nullcontext
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from tls_certs import NOW, PKI, LoopbackTLSServer, make_pki, serve

from gpay_envelope.tls import ALLOWED_TLS12_CIPHERS, tls_check_main
from gpay_envelope.tls._grading import assess
from gpay_envelope.tls.probe import ProtocolResult, TLSReport, check_endpoint
from gpay_envelope.tls.probe import _parse_target as parse_target

ECDSA_ALLOWED = {c for c in ALLOWED_TLS12_CIPHERS if "-ECDSA-" in c}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _failing(report: TLSReport) -> set[str]:
    return {r.id for r in report.requirements if not r.passed}


def test_probe_passes_our_ownserve(pki: PKI) -> None:
    with serve(pki) as server:
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
    with serve(pki, allow_tls13=False) as server:
        report = check_endpoint(
            "127.0.0.1", server.port, servername="localhost", cafile=pki.ca.certfile
        )
    assert report.compliant, report.requirements
    tls13 = next(p for p in report.protocols if p.name == "TLSv1.3")
    assert tls13.accepted is False


def _customserve(pki: PKI, ciphers: str, minimum: ssl.TLSVersion) -> LoopbackTLSServer:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.deprecated_call() if minimum < ssl.TLSVersion.TLSv1_2 else nullcontext():
        ctx.minimum_version = minimum
    ctx.set_ciphers(ciphers)
    ctx.load_cert_chain(pki.server.certfile, pki.server.keyfile)
    return LoopbackTLSServer(ctx)


def test_probe_flags_a_suite_outside_the_list(pki: PKI) -> None:
    ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-SHA"
    with _customserve(pki, ciphers, ssl.TLSVersion.TLSv1_2) as server:
        report = check_endpoint(
            f"127.0.0.1:{server.port}", servername="partner.test", cafile=pki.ca.certfile
        )
    assert _failing(report) == {"T4"}
    assert report.allowed_ciphers_accepted == ("ECDHE-ECDSA-AES128-GCM-SHA256",)
    assert report.disallowed_ciphers_accepted == ("ECDHE-ECDSA-AES256-SHA",)
    assert "outside the list: ECDHE-ECDSA-AES256-SHA" in report.requirement("T4").detail


def test_probe_flags_legacy_protocols(pki: PKI) -> None:
    ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"
    with _customserve(pki, ciphers, ssl.TLSVersion.TLSv1) as server:
        report = check_endpoint(
            f"127.0.0.1:{server.port}", servername="partner.test", cafile=pki.ca.certfile
        )
    accepted = {p.name: p.accepted for p in report.protocols}
    assert accepted["TLSv1"] is True and accepted["TLSv1.1"] is True
    assert "below TLS 1.2 accepted: TLSv1, TLSv1.1" in report.requirement("T1").detail
    assert _failing(report) == {"T1", "T4"}  # the CBC suite TLS 1.0 needs is in TLS 1.2 too


def test_probe_tells_name_from_trust(pki: PKI) -> None:
    with serve(pki) as server:
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
    return assess("h", 443, "partner.test", "system trust store", **values)  # type: ignore[arg-type]


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
    assert parse_target(target, port) == expected


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
