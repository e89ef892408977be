"""The endpoint probe: what an HTTPS server accepts, measured over the network.

`check_endpoint` connects to the server several times (every TLS version, every TLS 1.2 suite
the local OpenSSL can offer, a verifying handshake) and returns a `TLSReport` with a verdict on
each of Google's transport rules T1-T4 (listed in the `gpay_envelope.tls` docstring and in
docs/tls.md). It prints nothing; ``gpay-envelope tls-check`` (`gpay_envelope.cli.tls`) renders
the report.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from ._context import TLS13, StrPath, load_trust
from ._grading import assess
from ._report import CertificateInfo, ProtocolResult, RequirementResult, TLSReport

__all__ = [
    "DEFAULT_TIMEOUT",
    "CertificateInfo",
    "ProtocolResult",
    "RequirementResult",
    "TLSReport",
    "check_endpoint",
]

#: Seconds allowed for each connection the probe makes.
DEFAULT_TIMEOUT = 5.0

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
class _Attempt:
    outcome: Literal["accepted", "refused", "local", "error", "untrusted"]
    detail: str = ""
    version: str | None = None
    cipher: str | None = None
    der: bytes | None = None


#: One handshake with the given context against the endpoint under test.
_Attempter = Callable[[ssl.SSLContext], _Attempt]


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
    load_trust(verifier, cafile=cafile, cadata=None)
    trust_source = f"cafile {os.fspath(cafile)!r}" if cafile is not None else "system trust store"

    def attempt(ctx: ssl.SSLContext) -> _Attempt:
        return _handshake(host, port, name, ctx, timeout)

    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return assess(host, port, name, trust_source, error=f"cannot connect: {_describe(exc)}")

    protocols, der = _scan_protocols(attempt)
    tls12: tuple[str, ...] = ()
    complete = True
    if any(p.name == "TLSv1.2" and p.accepted for p in protocols):
        tls12, complete = _scan_tls12_ciphers(attempt)
    chain_trusted, chain_error = _verify_chain(attempt, verifier, protocols)
    return assess(
        host,
        port,
        name,
        trust_source,
        protocols=protocols,
        tls12_ciphers=tls12,
        cipher_scan_complete=complete,
        der=der,
        chain_trusted=chain_trusted,
        chain_error=chain_error,
    )


def _scan_protocols(attempt: _Attempter) -> tuple[tuple[ProtocolResult, ...], bytes | None]:
    """One handshake per TLS version; the results, and the leaf certificate any of them got."""
    protocols: list[ProtocolResult] = []
    der: bytes | None = None
    for pname, version, available in _PROTOCOLS:
        if not available:
            protocols.append(ProtocolResult(pname, None, detail="local OpenSSL lacks it"))
            continue
        result = attempt(_probe_context(version))
        protocols.append(_protocol_result(pname, result))
        der = result.der or der
    return tuple(protocols), der


def _verify_chain(
    attempt: _Attempter, verifier: ssl.SSLContext, protocols: tuple[ProtocolResult, ...]
) -> tuple[bool | None, str | None]:
    """Whether a verifying handshake trusts the chain (T3), and OpenSSL's reason when not."""
    if not any(p.accepted for p in protocols if p.name in ("TLSv1.2", TLS13)):
        return None, "no TLS 1.2 or 1.3 handshake to verify"
    verified = attempt(verifier)
    chain_trusted = {"accepted": True, "untrusted": False}.get(verified.outcome)
    return chain_trusted, None if chain_trusted else verified.detail


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
        if c["protocol"] != TLS13 and not re.search("psk|srp", c["kea"] or "")
    ]


def _scan_tls12_ciphers(attempt: _Attempter) -> tuple[tuple[str, ...], bool]:
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
