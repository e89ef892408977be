"""The host-name rules of the client context, as a function the probe can apply to a certificate.

`client_tls_context` leaves the check to OpenSSL's ``X509_check_host`` inside the handshake;
`hostname_matches` follows the same rules (CN only when there is no DNS subjectAltName, one
whole left-most wildcard label over at least two further labels, IP addresses only against IP
subjectAltNames), and tests/tls/test_hostname.py checks on real handshakes that the two agree.
"""

from __future__ import annotations

import ipaddress
import re

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = ["alt_names", "common_names", "hostname_matches"]


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
    dns_names, ip_names = alt_names(cert)
    try:
        ip = ipaddress.ip_address(hostname)
    except ValueError:
        pass
    else:
        return any(ipaddress.ip_address(n) == ip for n in ip_names)
    host = _normalize(hostname)
    if host is None:
        return False
    patterns = dns_names if dns_names else common_names(cert)
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


def alt_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """The DNS and the IP subjectAltNames of ``cert`` (both empty without the extension)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns = list(san.get_values_for_type(x509.DNSName))
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return dns, ips


def common_names(cert: x509.Certificate) -> list[str]:
    """The subject CNs of ``cert``."""
    return [
        a.value
        for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if isinstance(a.value, str)
    ]
