"""TLS contexts that follow Google's transport rules, and a probe that checks an endpoint.

Google's transport rules for the partner APIs (spec rows T1-T4):

* every endpoint is HTTPS with TLS 1.2 or higher (T1);
* clients check the server name: the certificate's CN or a wildcard must match the host (T2);
* a certificate from a public root is recommended; a self-signed one is allowed when agreed (T3);
* the server supports at least one of six ECDHE suites and should support none outside them (T4).

`client_tls_context` and `server_tls_context` return plain `ssl.SSLContext` objects set up so:

* TLS 1.2 is the minimum. For TLS 1.2 exactly the six allowed suites are enabled, and the
  result is checked with ``get_ciphers()`` so nothing else can slip in through the local
  OpenSSL configuration.
* The client always verifies: ``CERT_REQUIRED`` and ``check_hostname``. There is no argument
  that turns this off. A self-signed or private-CA server is trusted by passing its certificate
  or CA as ``cafile``/``cadata``, which then replaces the system trust store.

TLS 1.3 is allowed by default (``allow_tls13=True``) on both sides. The rule says "TLS 1.2 or
higher"; the suite list predates TLS 1.3 and names TLS 1.2 suites only. Every TLS 1.3 suite is
an AEAD with ephemeral key exchange, the property the list is there to secure, and TLS 1.3 also
encrypts the certificate and removes renegotiation and compression. Turning it off would make
the endpoint weaker to satisfy the letter of a list that cannot name TLS 1.3 suites. A partner
whose auditor reads the list literally passes ``allow_tls13=False`` and gets a TLS 1.2-only
context. The probe grades the suite list (T4) on TLS 1.2 only, for the same reason.

Certificates whose only name is the subject CN (no subjectAltName, common for self-signed
partner certificates): the client context sets ``hostname_checks_common_name = True``, so
OpenSSL's ``X509_check_host`` falls back to the CN when, and only when, the certificate has no
DNS subjectAltName. The check runs inside the handshake, in OpenSSL's verification, so no
application byte is sent to a server whose name did not match, and it works unchanged for every
client that hands the context to ``wrap_socket`` with a server name: plain sockets,
``http.client``, ``urllib``, asyncio, httpx (``verify=context``) and urllib3/requests (a
transport adapter with ``ssl_context=context``). Wildcards follow OpenSSL with the flags Python
sets: one whole left-most label only (``*.example.com``), never a partial label (``f*.example.com``)
and never over fewer than two further labels (``*.com``). OpenSSL does not know the public suffix
list, so ``*.co.uk`` is accepted as a pattern; a CA would not issue it and a self-signed cert is
trusted only through your own ``cafile``. An IP address is matched only against IP
subjectAltName entries, never the CN.

Limits: the returned object is an ordinary, mutable ``SSLContext``; code that holds it can still
weaken it. urllib3 clears ``check_hostname`` on the context it is given when called with
``assert_hostname`` and then matches the name itself after the handshake; requests adds its own
CA bundle to the context unless ``verify`` names your CA file. No revocation checking is done:
the rules do not ask for it (T5).

`check_endpoint` probes a server: which of TLS 1.0-1.3 it accepts, which TLS 1.2 suites it
accepts (every suite the local OpenSSL can offer, legacy ones included, at OpenSSL security
level 0), whether the chain is trusted, whether the name matches (the same rules as the client
context) and how many days the certificate has left. ``gpay-envelope tls-check`` is its command
line.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import socket
import ssl
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Literal, TypeAlias
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from .errors import TLSConfigError

__all__ = [
    "ALLOWED_TLS12_CIPHERS",
    "DEFAULT_TIMEOUT",
    "CertificateInfo",
    "ProtocolResult",
    "RequirementResult",
    "TLSReport",
    "add_tls_check_arguments",
    "check_endpoint",
    "client_tls_context",
    "hostname_matches",
    "run_tls_check",
    "server_tls_context",
    "tls_check_main",
]

StrPath: TypeAlias = "str | os.PathLike[str]"

#: The six TLS 1.2 suites Google lists, in OpenSSL's names (which are Google's names too).
ALLOWED_TLS12_CIPHERS: tuple[str, ...] = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
)

#: Seconds allowed for each connection the probe makes.
DEFAULT_TIMEOUT = 5.0

_TLS13 = "TLSv1.3"


# --------------------------------------------------------------------------- contexts


def client_tls_context(
    *,
    cafile: StrPath | None = None,
    cadata: str | bytes | None = None,
    certfile: StrPath | None = None,
    keyfile: StrPath | None = None,
    password: str | bytes | None = None,
    allow_tls13: bool = True,
) -> ssl.SSLContext:
    """A client context for calling a Google Pay or partner endpoint.

    The context verifies the server's chain and name (CN fallback for certificates without a
    DNS subjectAltName, see the module docstring); nothing turns that off. Pass it to
    ``wrap_socket(sock, server_hostname=host)``, ``httpx.Client(verify=context)`` or an
    urllib3/requests adapter.

    Args:
        cafile: PEM file of CA (or self-signed server) certificates to trust instead of the
            system trust store.
        cadata: The same as PEM text or DER bytes; combined with ``cafile`` when both are given.
        certfile: PEM client certificate chain, for mutual TLS.
        keyfile: PEM private key of ``certfile``, when not in ``certfile`` itself.
        password: Password of an encrypted ``keyfile``.
        allow_tls13: Offer TLS 1.3 besides TLS 1.2.

    Returns:
        A new `ssl.SSLContext` (TLS 1.2 minimum, the six allowed TLS 1.2 suites, CERT_REQUIRED,
        check_hostname on).

    Raises:
        TLSConfigError: A file is missing or unreadable, the CA data holds no certificate, the
            key does not match or needs another password, or the local OpenSSL cannot offer
            the allowed suites.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _restrict(ctx, allow_tls13=allow_tls13)
    ctx.hostname_checks_common_name = True
    if not (
        ctx.verify_mode == ssl.CERT_REQUIRED
        and ctx.check_hostname
        and ctx.hostname_checks_common_name
    ):
        raise TLSConfigError("this Python/OpenSSL cannot enforce certificate and name checks")
    _load_trust(ctx, cafile=cafile, cadata=cadata)
    if certfile is not None:
        _load_chain(ctx, certfile=certfile, keyfile=keyfile, password=password)
    elif keyfile is not None or password is not None:
        raise TLSConfigError("keyfile and password need a certfile")
    return ctx


def server_tls_context(
    *,
    certfile: StrPath,
    keyfile: StrPath | None,
    password: str | bytes | None = None,
    allow_tls13: bool = True,
    client_ca: StrPath | None = None,
) -> ssl.SSLContext:
    """A server context for a partner endpoint that Google calls.

    Args:
        certfile: PEM server certificate, followed by its intermediates.
        keyfile: PEM private key of ``certfile``; None when the key is in ``certfile``.
        password: Password of an encrypted ``keyfile``.
        allow_tls13: Accept TLS 1.3 besides TLS 1.2 (see the module docstring for why this is
            the default). False gives a TLS 1.2-only server.
        client_ca: PEM file of CAs whose client certificates are required (mutual TLS). Google's
            rules do not ask for client certificates; None accepts any client.

    Returns:
        A new `ssl.SSLContext` (TLS 1.2 minimum, the six allowed TLS 1.2 suites in the server's
        order, no renegotiation).

    Raises:
        TLSConfigError: A file is missing or unreadable, the key does not match the certificate
            or needs another password, or the local OpenSSL cannot offer the allowed suites.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _restrict(ctx, allow_tls13=allow_tls13)
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    _load_chain(ctx, certfile=certfile, keyfile=keyfile, password=password)
    if client_ca is not None:
        _load_trust(ctx, cafile=client_ca, cadata=None, what="client_ca")
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _restrict(ctx: ssl.SSLContext, *, allow_tls13: bool) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3 if allow_tls13 else ssl.TLSVersion.TLSv1_2
    try:
        ctx.set_ciphers(":".join(ALLOWED_TLS12_CIPHERS))
    except ssl.SSLError:
        raise TLSConfigError("the local OpenSSL offers none of the allowed suites") from None
    # set_ciphers() is a filter over what the linked OpenSSL and its configuration provide;
    # read the result back so that an unexpected suite can never be enabled silently.
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] != _TLS13}
    extra = tls12 - set(ALLOWED_TLS12_CIPHERS)
    if not tls12 or extra:
        raise TLSConfigError(
            "the TLS 1.2 suite list is not the allowed set"
            + (f" (extra: {', '.join(sorted(extra))})" if extra else "")
        )


def _require_file(path: StrPath, what: str) -> str:
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise TLSConfigError(f"{what} {name!r} does not exist or is not a file")
    if not os.access(name, os.R_OK):
        raise TLSConfigError(f"{what} {name!r} is not readable")
    return name


def _load_trust(
    ctx: ssl.SSLContext,
    *,
    cafile: StrPath | None,
    cadata: str | bytes | None,
    what: str = "cafile",
) -> None:
    if cafile is None and cadata is None:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return
    if cafile is not None:
        name = _require_file(cafile, what)
        try:
            ctx.load_verify_locations(cafile=name)
        except (ssl.SSLError, ValueError):
            raise TLSConfigError(f"{what} {name!r} holds no readable PEM certificate") from None
    if cadata is not None:
        try:
            ctx.load_verify_locations(cadata=cadata)
        except (ssl.SSLError, ValueError, TypeError):
            raise TLSConfigError("cadata holds no readable certificate") from None


# Reasons OpenSSL gives when load_cert_chain fails, as (reason, message) pairs.
_CHAIN_REASONS = (
    ("KEY_VALUES_MISMATCH", "the private key does not match the certificate"),
    ("EE_KEY_TOO_SMALL", "the certificate's key is too small for the OpenSSL security level"),
    ("CA_MD_TOO_WEAK", "the certificate's signature hash is too weak"),
)


class _NoPassword(Exception):
    """An encrypted key was met but no password was given."""


def _load_chain(
    ctx: ssl.SSLContext,
    *,
    certfile: StrPath,
    keyfile: StrPath | None,
    password: str | bytes | None,
) -> None:
    cert_name = _require_file(certfile, "certfile")
    key_name = _require_file(keyfile, "keyfile") if keyfile is not None else None
    where = f"certfile {cert_name!r}" + (f" with keyfile {key_name!r}" if key_name else "")
    asked = False

    # Always a callback: with no password OpenSSL would otherwise prompt on the terminal and
    # block a server at start-up. The callback also tells "wrong password" from "not PEM".
    def supply() -> str | bytes:
        nonlocal asked
        asked = True
        if password is None:
            raise _NoPassword
        return password

    try:
        ctx.load_cert_chain(cert_name, key_name, supply)
    except _NoPassword:
        raise TLSConfigError(f"cannot load {where}: the key is encrypted; pass password") from None
    except ssl.SSLError as exc:
        problem = next(
            (text for code, text in _CHAIN_REASONS if code == exc.reason),
            "wrong password for the encrypted key"
            if asked
            else "the certificate or private key is not readable PEM",
        )
        raise TLSConfigError(f"cannot load {where}: {problem}") from None
    except (OSError, ValueError, TypeError):
        raise TLSConfigError(f"cannot load {where}: unreadable file or unusable password") from None


# --------------------------------------------------------------------------- host names


def hostname_matches(cert: x509.Certificate, hostname: str) -> bool:
    """Whether ``cert`` names ``hostname``, by the rules the client context enforces.

    Args:
        cert: The server's leaf certificate.
        hostname: The DNS name or IP address the client connects to.

    Returns:
        True when an IP address is among the IP subjectAltNames, or a DNS name matches a DNS
        subjectAltName or, when there is no DNS subjectAltName, a subject CN. A wildcard only
        stands for the whole left-most label of a name of at least three labels.
    """
    dns_names, ip_names = _alt_names(cert)
    try:
        ip = ipaddress.ip_address(hostname)
    except ValueError:
        pass
    else:
        return any(ipaddress.ip_address(n) == ip for n in ip_names)
    host = _normalize(hostname)
    if host is None:
        return False
    patterns = dns_names if dns_names else _common_names(cert)
    return any(_dns_pattern_matches(p.lower(), host) for p in patterns)


def _normalize(hostname: str) -> str | None:
    name = hostname.rstrip(".").lower()
    try:
        return name if name.isascii() else name.encode("idna").decode("ascii")
    except UnicodeError:
        return None


_LABEL = re.compile(r"[a-z0-9-]+")


def _dns_pattern_matches(pattern: str, host: str) -> bool:
    first, dot, rest = pattern.partition(".")
    is_wildcard = (
        first == "*"
        and dot == "."
        and "." in rest
        and all(_LABEL.fullmatch(label) for label in rest.split("."))
    )
    if not is_wildcard:
        # OpenSSL compares a pattern with a misplaced or partial wildcard literally.
        return pattern == host
    host_first, host_dot, host_rest = host.partition(".")
    return host_dot == "." and host_rest == rest and _LABEL.fullmatch(host_first) is not None


def _alt_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns = list(san.get_values_for_type(x509.DNSName))
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return dns, ips


def _common_names(cert: x509.Certificate) -> list[str]:
    return [
        a.value
        for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if isinstance(a.value, str)
    ]


# --------------------------------------------------------------------------- the probe

ProtocolName = Literal["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]

_PROTOCOLS: tuple[tuple[ProtocolName, ssl.TLSVersion, bool], ...] = (
    ("TLSv1", ssl.TLSVersion.TLSv1, ssl.HAS_TLSv1),
    ("TLSv1.1", ssl.TLSVersion.TLSv1_1, ssl.HAS_TLSv1_1),
    ("TLSv1.2", ssl.TLSVersion.TLSv1_2, ssl.HAS_TLSv1_2),
    ("TLSv1.3", ssl.TLSVersion.TLSv1_3, ssl.HAS_TLSv1_3),
)

# Security level 0 lets the local OpenSSL offer TLS 1.0/1.1, SHA-1 signatures and legacy
# suites; a probe has to offer them to learn whether the server accepts them.
_PROBE_CIPHERS = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"

# Raised by our own OpenSSL before the server had a say: the attempt says nothing about it.
_LOCAL_REASONS = frozenset(
    {"NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_SUITABLE_SIGNATURE_ALGORITHM"}
)


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
        id: The spec row: ``"T1"`` .. ``"T4"``.
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


@dataclass(frozen=True)
class _Attempt:
    outcome: Literal["accepted", "refused", "local", "error", "untrusted"]
    detail: str = ""
    version: str | None = None
    cipher: str | None = None
    der: bytes | None = None


def check_endpoint(
    url_or_host: str,
    port: int | None = None,
    *,
    cafile: StrPath | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    servername: str | None = None,
) -> TLSReport:
    """Probe an HTTPS endpoint against Google's transport rules T1-T4.

    The probe makes one connection per protocol version, one per accepted TLS 1.2 suite plus
    one (each try offers every candidate suite not yet seen, so the server names the next one
    it accepts), and one verifying handshake. Every connection has its own ``timeout``.

    Args:
        url_or_host: ``https://host[:port][/path]``, ``host[:port]`` or ``[v6addr]:port``.
        port: The port, when not in ``url_or_host``; 443 when given nowhere.
        cafile: PEM CA (or the agreed self-signed certificate) to judge the chain against,
            instead of the system trust store.
        timeout: Seconds allowed for each connection.
        servername: Name to send as SNI and to check the certificate against, when it differs
            from the host connected to.

    Returns:
        A `TLSReport`; an unreachable endpoint gives a report with ``reachable=False``.

    Raises:
        ValueError: The target, port or timeout is malformed.
        TLSConfigError: ``cafile`` cannot be loaded.
    """
    host, port = _parse_target(url_or_host, port)
    if not timeout > 0:
        raise ValueError("timeout must be a positive number of seconds")
    name = servername if servername is not None else host
    if not name or any(c.isspace() for c in name):
        raise ValueError("servername must be a non-empty host name")
    verifier = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    verifier.check_hostname = False  # the name is judged on its own (T2), apart from trust
    _load_trust(verifier, cafile=cafile, cadata=None)
    trust_source = f"cafile {os.fspath(cafile)!r}" if cafile is not None else "system trust store"

    def attempt(ctx: ssl.SSLContext) -> _Attempt:
        return _handshake(host, port, name, ctx, timeout)

    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return _assess(host, port, name, trust_source, error=f"cannot connect: {_describe(exc)}")

    protocols: list[ProtocolResult] = []
    der: bytes | None = None
    for pname, version, available in _PROTOCOLS:
        if not available:
            protocols.append(ProtocolResult(pname, None, detail="local OpenSSL lacks it"))
            continue
        result = attempt(_probe_context(version))
        protocols.append(_protocol_result(pname, result))
        der = result.der or der

    tls12: tuple[str, ...] = ()
    complete = True
    if any(p.name == "TLSv1.2" and p.accepted for p in protocols):
        tls12, complete = _scan_tls12_ciphers(attempt)

    chain_trusted: bool | None = None
    chain_error: str | None = "no TLS 1.2 or 1.3 handshake to verify"
    if any(p.accepted for p in protocols if p.name in ("TLSv1.2", _TLS13)):
        verified = attempt(verifier)
        chain_trusted = {"accepted": True, "untrusted": False}.get(verified.outcome)
        chain_error = None if chain_trusted else verified.detail
    return _assess(
        host,
        port,
        name,
        trust_source,
        protocols=tuple(protocols),
        tls12_ciphers=tls12,
        cipher_scan_complete=complete,
        der=der,
        chain_trusted=chain_trusted,
        chain_error=chain_error,
    )


def _parse_target(target: str, port: int | None) -> tuple[str, int]:
    text = target.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme.lower() != "https":
            raise ValueError("only https:// endpoints can be checked")
    else:
        parts = urlsplit("//" + text)
    if parts.username is not None or parts.password is not None:
        raise ValueError("the target must not carry credentials")
    try:
        url_port = parts.port
    except ValueError:
        raise ValueError("the target's port is not a number in 1-65535") from None
    host = parts.hostname
    if not host:
        raise ValueError("the target has no host")
    if port is not None and url_port is not None and port != url_port:
        raise ValueError("two different ports given")
    final = port if port is not None else (url_port if url_port is not None else 443)
    if not 0 < final < 65536:
        raise ValueError("the port is not a number in 1-65535")
    return host, final


def _probe_context(version: ssl.TLSVersion, ciphers: str = _PROBE_CIPHERS) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Enumeration must see what the server accepts whatever its certificate; trust (T3) and
    # the name (T2) are judged separately.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        # Python deprecates TLS 1.0/1.1; offering them is the point of a probe.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = version
        ctx.maximum_version = version
    if version is not ssl.TLSVersion.TLSv1_3:
        ctx.set_ciphers(ciphers)
    return ctx


def _handshake(
    host: str, port: int, server_name: str, ctx: ssl.SSLContext, timeout: float
) -> _Attempt:
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return _Attempt("error", f"cannot connect: {_describe(exc)}")
    with raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
                cipher = tls.cipher()
                return _Attempt(
                    "accepted",
                    version=tls.version(),
                    cipher=cipher[0] if cipher else None,
                    der=tls.getpeercert(binary_form=True),
                )
        except ssl.SSLCertVerificationError as exc:
            return _Attempt("untrusted", f"{exc.verify_message} (X509 error {exc.verify_code})")
        except ssl.SSLError as exc:
            if exc.reason in _LOCAL_REASONS:
                return _Attempt("local", f"local OpenSSL cannot offer it ({exc.reason})")
            return _Attempt("refused", exc.reason or type(exc).__name__)
        except TimeoutError:
            return _Attempt("error", "timed out")
        except OSError as exc:
            # A reset or EOF in the middle of a handshake is how many servers say no.
            return _Attempt("refused", _describe(exc))


def _describe(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return exc.strerror or type(exc).__name__


def _protocol_result(name: str, attempt: _Attempt) -> ProtocolResult:
    if attempt.outcome == "accepted":
        return ProtocolResult(name, True, cipher=attempt.cipher)
    if attempt.outcome == "refused":
        return ProtocolResult(name, False, detail=attempt.detail)
    return ProtocolResult(name, None, detail=attempt.detail)


def _candidate_tls12_ciphers() -> list[str]:
    probe = _probe_context(ssl.TLSVersion.TLSv1_2)
    # PSK and SRP suites need a shared secret the probe does not have; OpenSSL would not even
    # offer them, so they cannot be tested.
    return [
        c["name"]
        for c in probe.get_ciphers()
        if c["protocol"] != _TLS13 and not re.search("psk|srp", c["kea"] or "")
    ]


def _scan_tls12_ciphers(
    attempt: Callable[[ssl.SSLContext], _Attempt],
) -> tuple[tuple[str, ...], bool]:
    remaining = _candidate_tls12_ciphers()
    accepted: list[str] = []
    for _ in range(len(remaining) + 1):
        if not remaining:
            return tuple(accepted), True
        result = attempt(
            _probe_context(ssl.TLSVersion.TLSv1_2, ":".join(remaining) + ":@SECLEVEL=0")
        )
        if result.outcome == "refused":
            return tuple(accepted), True
        if result.outcome != "accepted" or result.cipher not in remaining:
            return tuple(accepted), False
        accepted.append(result.cipher)
        remaining.remove(result.cipher)
    return tuple(accepted), False


def _parse_certificate(der: bytes) -> x509.Certificate | None:
    try:
        cert = x509.load_der_x509_certificate(der)
        # Extensions and names are parsed lazily; touch them here so a malformed certificate
        # fails once, in this place.
        _alt_names(cert)
        cert.subject.rfc4514_string()
        cert.issuer.rfc4514_string()
    except ValueError:
        return None
    return cert


def _certificate_info(cert: x509.Certificate, now: datetime) -> CertificateInfo:
    dns, ips = _alt_names(cert)
    not_after = cert.not_valid_after_utc
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_names=tuple(_common_names(cert)),
        dns_names=tuple(dns),
        ip_addresses=tuple(ips),
        not_before=cert.not_valid_before_utc,
        not_after=not_after,
        days_to_expiry=(not_after - now).days,  # rounded down: negative once expired
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def _assess(
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
    """Turn observations into a report with a verdict per requirement (pure; no network)."""
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


_REQUIREMENTS = (
    ("T1", "TLS 1.2 or higher only", "MUST"),
    ("T2", "certificate name (CN or wildcard) matches the host", "MUST"),
    ("T3", "certificate chain trusted", "SHOULD"),
    ("T4", "at least one allowed TLS 1.2 suite, none outside the list", "MUST/SHOULD"),
)


def _requirement(rid: str, passed: bool, detail: str) -> RequirementResult:
    _, title, level = next(r for r in _REQUIREMENTS if r[0] == rid)
    return RequirementResult(rid, title, level, passed, detail)


def _t1(report: TLSReport) -> RequirementResult:
    accepted = {p.name for p in report.protocols if p.accepted}
    refused = [p.name for p in report.protocols if p.accepted is False]
    untested = [f"{p.name} ({p.detail})" for p in report.protocols if p.accepted is None]
    legacy = [p.name for p in report.protocols if p.accepted and p.name in ("TLSv1", "TLSv1.1")]
    modern = bool(accepted & {"TLSv1.2", _TLS13})
    parts = []
    if legacy:
        parts.append(f"protocols below TLS 1.2 accepted: {', '.join(legacy)}")
    elif not modern:
        parts.append("neither TLS 1.2 nor TLS 1.3 accepted")
    parts.append(f"accepts {', '.join(p.name for p in report.protocols if p.accepted) or 'none'}")
    if refused:
        parts.append(f"refuses {', '.join(refused)}")
    if untested:
        parts.append(f"not tested: {', '.join(untested)}")
    return _requirement("T1", modern and not legacy, "; ".join(parts))


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


# --------------------------------------------------------------------------- command line


def add_tls_check_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``tls-check`` arguments to ``parser`` (for a subcommand of the main CLI).

    Args:
        parser: The parser or subparser to extend.
    """
    parser.add_argument("target", help="https://host[:port] or host[:port] (port 443 if absent)")
    parser.add_argument(
        "--cafile", help="PEM CA or agreed self-signed certificate to trust instead of the system's"
    )
    parser.add_argument(
        "--servername", help="name for SNI and the certificate check, if not the target's host"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per connection (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("must be between 0 and 600 seconds")
    return value


def run_tls_check(args: argparse.Namespace) -> int:
    """Run the probe for parsed ``tls-check`` arguments and print the report.

    Args:
        args: The namespace from a parser set up by `add_tls_check_arguments`.

    Returns:
        0 when the endpoint is compliant, 1 when it is not or cannot be reached, 2 when the
        arguments are unusable (malformed target, unreadable ``--cafile``).
    """
    try:
        report = check_endpoint(
            args.target, cafile=args.cafile, timeout=args.timeout, servername=args.servername
        )
    except ValueError as exc:  # TLSConfigError is a ValueError too
        print(f"gpay-envelope tls-check: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(_render(report))
    return 0 if report.compliant else 1


def tls_check_main(argv: Sequence[str] | None = None) -> int:
    """``gpay-envelope tls-check``: probe an endpoint against Google's transport rules.

    Args:
        argv: The arguments after the command name; ``sys.argv[1:]`` when None.

    Returns:
        The exit status: 0 compliant, 1 not compliant or unreachable, 2 usage error.
    """
    parser = argparse.ArgumentParser(
        prog="gpay-envelope tls-check",
        description="Check an HTTPS endpoint against Google Pay's transport rules (T1-T4).",
    )
    add_tls_check_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    return run_tls_check(args)


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "untested"}[value]


def _left(days: int) -> str:
    return "EXPIRED" if days < 0 else f"{days} days left"


def _render(report: TLSReport) -> str:
    lines = [
        f"TLS check of {report.host}:{report.port} (server name {report.server_name})",
        "",
    ]
    if report.error:
        lines += [f"unreachable: {report.error}", ""]
    lines.append(f"{'req':<4} {'level':<12} {'result':<6} detail")
    lines.append(f"{'-' * 4} {'-' * 12} {'-' * 6} {'-' * 40}")
    for r in report.requirements:
        lines.append(f"{r.id:<4} {r.level:<12} {'PASS' if r.passed else 'FAIL':<6} {r.detail}")
    if report.reachable:
        lines += ["", "protocol  accepted  detail"]
        for p in report.protocols:
            lines.append(f"{p.name:<9} {_yes_no(p.accepted):<9} {p.cipher or p.detail}")
        if report.tls12_ciphers:
            lines += ["", "TLS 1.2 suite                           on Google's list"]
            for c in report.tls12_ciphers:
                lines.append(f"{c:<39} {'yes' if c in ALLOWED_TLS12_CIPHERS else 'NO'}")
        cert = report.certificate
        if cert is not None:
            lines += [
                "",
                f"certificate  {cert.subject}",
                f"issuer       {cert.issuer}",
                f"names        {', '.join(cert.dns_names + cert.ip_addresses) or '(CN only)'}",
                f"expires      {cert.not_after.isoformat()} ({_left(cert.days_to_expiry)})",
            ]
    lines += ["", "COMPLIANT" if report.compliant else "NOT COMPLIANT"]
    return "\n".join(_printable(line) for line in lines)


def _printable(text: str) -> str:
    # Certificate names come from the server: never let them send escape codes to a terminal.
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


if __name__ == "__main__":
    raise SystemExit(tls_check_main())
