"""Client and server `ssl.SSLContext` builders: TLS 1.2 minimum, Google's six ECDHE suites.

Why TLS 1.3 stays on by default, how names are checked and what a context cannot prevent is
told in the `gpay_envelope.tls` docstring and docs/tls.md.
"""

from __future__ import annotations

import os
import ssl
from typing import TypeAlias

from ..errors import TLSConfigError

__all__ = [
    "ALLOWED_TLS12_CIPHERS",
    "TLS13",
    "StrPath",
    "client_tls_context",
    "load_trust",
    "server_tls_context",
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

#: The protocol name `ssl` reports for TLS 1.3 suites and connections.
TLS13 = "TLSv1.3"


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
    DNS subjectAltName, see the `gpay_envelope.tls` docstring); nothing turns that off. Pass it to
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
    load_trust(ctx, cafile=cafile, cadata=cadata)
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
        allow_tls13: Accept TLS 1.3 besides TLS 1.2 (see the `gpay_envelope.tls` docstring for
            why this is the default). False gives a TLS 1.2-only server.
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
        load_trust(ctx, cafile=client_ca, cadata=None, what="client_ca")
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
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] != TLS13}
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


def load_trust(
    ctx: ssl.SSLContext,
    *,
    cafile: StrPath | None,
    cadata: str | bytes | None,
    what: str = "cafile",
) -> None:
    """Trust ``cafile`` and/or ``cadata`` instead of the system store, or the system store.

    Raises:
        TLSConfigError: The file is missing or unreadable, or holds no certificate.
    """
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
