"""The verdicts on Google's transport rules T1-T4, from what the probe observed (no network).

The rules are listed in the `gpay_envelope.tls` docstring and in docs/tls.md; T5 (client
certificates, revocation) asks for nothing and is not graded.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ._context import TLS13
from ._hostname import alt_names, common_names, hostname_matches
from ._report import CertificateInfo, ProtocolResult, RequirementResult, TLSReport

__all__ = ["assess"]

# (id, title, level as in Google's text), in report order.
_REQUIREMENTS = (
    ("T1", "TLS 1.2 or higher only", "MUST"),
    ("T2", "certificate name (CN or wildcard) matches the host", "MUST"),
    ("T3", "certificate chain trusted", "SHOULD"),
    ("T4", "at least one allowed TLS 1.2 suite, none outside the list", "MUST/SHOULD"),
)

_LEGACY_PROTOCOLS = ("TLSv1", "TLSv1.1")


def assess(
    host: str,
    port: int,
    server_name: str,
    trust_source: str,
    *,
    error: str | None = None,
    protocols: tuple[ProtocolResult, ...] = (),
    tls12_ciphers: tuple[str, ...] = (),
    cipher_scan_complete: bool = False,
    der: bytes | None = None,
    chain_trusted: bool | None = None,
    chain_error: str | None = None,
    now: datetime | None = None,
) -> TLSReport:
    """Turn observations into a report with a verdict per requirement (pure; no network).

    Args:
        host: The host connected to.
        port: The port connected to.
        server_name: The name sent as SNI and checked against the certificate.
        trust_source: The CA file or the system trust store the chain was judged against.
        error: Why the endpoint could not be reached; every rule then fails as not tested.
        protocols: One `ProtocolResult` per TLS version tried.
        tls12_ciphers: The TLS 1.2 suites the server accepted.
        cipher_scan_complete: False when the suite scan stopped early.
        der: The leaf certificate (DER) from any handshake.
        chain_trusted: Whether the verifying handshake trusted the chain; None if untested.
        chain_error: OpenSSL's reason when it did not.
        now: The time to count ``days_to_expiry`` from; the current time when None.

    Returns:
        A `TLSReport` with its ``requirements`` filled in.
    """
    cert = _parse_certificate(der) if der else None
    cert_info = _certificate_info(cert, now or datetime.now(timezone.utc)) if cert else None
    match = hostname_matches(cert, server_name) if cert else None
    report = TLSReport(
        host=host,
        port=port,
        server_name=server_name,
        reachable=error is None,
        error=error,
        protocols=protocols,
        tls12_ciphers=tls12_ciphers,
        cipher_scan_complete=cipher_scan_complete,
        certificate=cert_info,
        chain_trusted=chain_trusted,
        chain_error=chain_error,
        trust_source=trust_source,
        hostname_match=match,
    )
    requirements = (
        tuple(
            RequirementResult(rid, title, level, False, f"not tested: {error}")
            for rid, title, level in _REQUIREMENTS
        )
        if error is not None
        else (_t1(report), _t2(report), _t3(report), _t4(report))
    )
    return replace(report, requirements=requirements)


def _parse_certificate(der: bytes) -> x509.Certificate | None:
    try:
        cert = x509.load_der_x509_certificate(der)
        # Extensions and names are parsed lazily; touch them here so a malformed certificate
        # fails once, in this place.
        alt_names(cert)
        cert.subject.rfc4514_string()
        cert.issuer.rfc4514_string()
    except ValueError:
        return None
    return cert


def _certificate_info(cert: x509.Certificate, now: datetime) -> CertificateInfo:
    dns, ips = alt_names(cert)
    not_after = cert.not_valid_after_utc
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_names=tuple(common_names(cert)),
        dns_names=tuple(dns),
        ip_addresses=tuple(ips),
        not_before=cert.not_valid_before_utc,
        not_after=not_after,
        days_to_expiry=(not_after - now).days,  # rounded down: negative once expired
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def _requirement(rid: str, passed: bool, detail: str) -> RequirementResult:
    _, title, level = next(r for r in _REQUIREMENTS if r[0] == rid)
    return RequirementResult(rid, title, level, passed, detail)


def _t1(report: TLSReport) -> RequirementResult:
    accepted = [p.name for p in report.protocols if p.accepted]
    legacy = [name for name in accepted if name in _LEGACY_PROTOCOLS]
    modern = bool({"TLSv1.2", TLS13} & set(accepted))
    parts = []
    if legacy:
        parts.append(f"protocols below TLS 1.2 accepted: {', '.join(legacy)}")
    elif not modern:
        parts.append("neither TLS 1.2 nor TLS 1.3 accepted")
    parts.append(f"accepts {', '.join(accepted) or 'none'}")
    parts += _refused_and_untested(report.protocols)
    return _requirement("T1", modern and not legacy, "; ".join(parts))


def _refused_and_untested(protocols: tuple[ProtocolResult, ...]) -> list[str]:
    refused = [p.name for p in protocols if p.accepted is False]
    untested = [f"{p.name} ({p.detail})" for p in protocols if p.accepted is None]
    parts = []
    if refused:
        parts.append(f"refuses {', '.join(refused)}")
    if untested:
        parts.append(f"not tested: {', '.join(untested)}")
    return parts


def _t2(report: TLSReport) -> RequirementResult:
    cert = report.certificate
    if cert is None:
        return _requirement("T2", False, "no certificate obtained")
    if cert.dns_names or cert.ip_addresses:
        names = [f"DNS:{n}" for n in cert.dns_names] + [f"IP:{n}" for n in cert.ip_addresses]
        source = "subjectAltName " + ", ".join(names)
    else:
        source = "CN " + (", ".join(cert.common_names) or "(none)") + " (no subjectAltName)"
    verb = "matches" if report.hostname_match else "does not match"
    detail = f"{report.server_name!r} {verb} {source}"
    return _requirement("T2", bool(report.hostname_match), detail)


def _t3(report: TLSReport) -> RequirementResult:
    if report.chain_trusted:
        return _requirement("T3", True, f"trusted by the {report.trust_source}")
    if report.chain_trusted is None:
        return _requirement("T3", False, f"not verified: {report.chain_error}")
    return _requirement(
        "T3", False, f"not trusted by the {report.trust_source}: {report.chain_error}"
    )


def _t4(report: TLSReport) -> RequirementResult:
    allowed = report.allowed_ciphers_accepted
    other = report.disallowed_ciphers_accepted
    parts = [f"allowed: {', '.join(allowed) or 'none'}"]
    if other:
        parts.append(f"outside the list: {', '.join(other)}")
    if not report.cipher_scan_complete:
        parts.append("scan incomplete")
    passed = bool(allowed) and not other and report.cipher_scan_complete
    return _requirement("T4", passed, "; ".join(parts))
