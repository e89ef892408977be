"""What the probe reports: per protocol, the leaf certificate, a verdict per rule, the whole.

The rules T1-T4 are listed in the `gpay_envelope.tls` docstring and in docs/tls.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._context import ALLOWED_TLS12_CIPHERS

__all__ = ["CertificateInfo", "ProtocolResult", "RequirementResult", "TLSReport"]


@dataclass(frozen=True)
class ProtocolResult:
    """Whether the endpoint accepted one protocol version.

    Attributes:
        name: ``"TLSv1"``, ``"TLSv1.1"``, ``"TLSv1.2"`` or ``"TLSv1.3"``.
        accepted: True or False; None when it could not be tested (the local OpenSSL cannot
            offer the version, or the attempt timed out).
        cipher: The suite negotiated when accepted.
        detail: Why it was refused or not tested.
    """

    name: str
    accepted: bool | None
    cipher: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class CertificateInfo:
    """The server's leaf certificate, as the probe saw it.

    Attributes:
        subject: The subject name (RFC 4514).
        issuer: The issuer name (RFC 4514).
        common_names: The subject CNs.
        dns_names: The DNS subjectAltNames.
        ip_addresses: The IP subjectAltNames.
        not_before: Start of validity (UTC).
        not_after: End of validity (UTC).
        days_to_expiry: Whole days left, rounded down: negative once expired.
        sha256: SHA-256 fingerprint of the DER certificate, hex.
    """

    subject: str
    issuer: str
    common_names: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    days_to_expiry: int
    sha256: str

    @property
    def self_issued(self) -> bool:
        """True when subject and issuer are the same name (a self-signed certificate)."""
        return self.subject == self.issuer

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (datetimes in ISO 8601)."""
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "self_issued": self.self_issued,
            "common_names": list(self.common_names),
            "dns_names": list(self.dns_names),
            "ip_addresses": list(self.ip_addresses),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days_to_expiry": self.days_to_expiry,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class RequirementResult:
    """The verdict on one transport requirement.

    Attributes:
        id: The rule's id, ``"T1"`` .. ``"T4"`` (the table in docs/tls.md).
        title: What the row requires.
        level: ``"MUST"``, ``"SHOULD"`` or ``"MUST/SHOULD"`` as in Google's text.
        passed: The verdict.
        detail: What the probe saw.
    """

    id: str
    title: str
    level: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class TLSReport:
    """What `check_endpoint` found. ``compliant`` is True only when every requirement passed.

    Attributes:
        host: The host connected to.
        port: The port connected to.
        server_name: The name sent as SNI and checked against the certificate.
        reachable: Whether a TCP connection could be made at all.
        error: Why not, when unreachable.
        protocols: One `ProtocolResult` per TLS version, oldest first.
        tls12_ciphers: The TLS 1.2 suites the server accepted, in the order it chose them.
        cipher_scan_complete: False when the suite scan stopped on a timeout or an error.
        certificate: The leaf certificate, when a handshake got one.
        chain_trusted: Whether the chain verified against ``trust_source``; None if untested.
        chain_error: OpenSSL's reason when it did not.
        trust_source: The CA file or the system trust store used for ``chain_trusted``.
        hostname_match: Whether the certificate names ``server_name`` (`hostname_matches`).
        requirements: The verdicts on T1-T4.
    """

    host: str
    port: int
    server_name: str
    reachable: bool
    error: str | None
    protocols: tuple[ProtocolResult, ...]
    tls12_ciphers: tuple[str, ...]
    cipher_scan_complete: bool
    certificate: CertificateInfo | None
    chain_trusted: bool | None
    chain_error: str | None
    trust_source: str
    hostname_match: bool | None
    requirements: tuple[RequirementResult, ...] = field(default=())

    @property
    def compliant(self) -> bool:
        """True when the endpoint was reached and passed T1-T4."""
        return (
            self.reachable and bool(self.requirements) and all(r.passed for r in self.requirements)
        )

    @property
    def allowed_ciphers_accepted(self) -> tuple[str, ...]:
        """The accepted TLS 1.2 suites that are on Google's list."""
        return tuple(c for c in self.tls12_ciphers if c in ALLOWED_TLS12_CIPHERS)

    @property
    def disallowed_ciphers_accepted(self) -> tuple[str, ...]:
        """The accepted TLS 1.2 suites outside Google's list."""
        return tuple(c for c in self.tls12_ciphers if c not in ALLOWED_TLS12_CIPHERS)

    @property
    def days_to_expiry(self) -> int | None:
        """Whole days until the leaf certificate expires (negative once expired)."""
        return self.certificate.days_to_expiry if self.certificate else None

    def requirement(self, rid: str) -> RequirementResult:
        """The result for one requirement id.

        Args:
            rid: ``"T1"`` .. ``"T4"``.

        Returns:
            The matching `RequirementResult`.

        Raises:
            KeyError: No such requirement in this report.
        """
        for r in self.requirements:
            if r.id == rid:
                return r
        raise KeyError(rid)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {
            "host": self.host,
            "port": self.port,
            "server_name": self.server_name,
            "reachable": self.reachable,
            "error": self.error,
            "compliant": self.compliant,
            "requirements": [
                {
                    "id": r.id,
                    "title": r.title,
                    "level": r.level,
                    "passed": r.passed,
                    "detail": r.detail,
                }
                for r in self.requirements
            ],
            "protocols": {
                p.name: {"accepted": p.accepted, "cipher": p.cipher, "detail": p.detail}
                for p in self.protocols
            },
            "tls12_ciphers": {
                "accepted": list(self.tls12_ciphers),
                "allowed": list(self.allowed_ciphers_accepted),
                "disallowed": list(self.disallowed_ciphers_accepted),
                "scan_complete": self.cipher_scan_complete,
            },
            "certificate": self.certificate.to_dict() if self.certificate else None,
            "chain_trusted": self.chain_trusted,
            "chain_error": self.chain_error,
            "trust_source": self.trust_source,
            "hostname_match": self.hostname_match,
            "days_to_expiry": self.days_to_expiry,
        }
