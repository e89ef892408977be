"""TLS contexts that follow Google's transport rules, and a probe that checks an endpoint.

Google's transport rules for the partner APIs, with the ids the probe reports (the same table
is in docs/tls.md):

* T1: every endpoint is HTTPS with TLS 1.2 or higher;
* T2: clients check the server name: the certificate's CN or a wildcard must match the host;
* T3: a certificate from a public root is recommended; a self-signed one is allowed when agreed;
* T4: the server supports at least one of six ECDHE suites and should support none outside them;
* T5: client certificates and revocation are not mentioned.

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
line (also ``python -m gpay_envelope.tls``).

Where things live: the contexts in ``_context.py``, the name rules in ``_hostname.py``, the
probe in ``probe.py`` (its report types in ``_report.py``, its verdicts in ``_grading.py``) and
the command in ``gpay_envelope/cli/tls.py``. Importing this package loads only the contexts and
the name rules; the probe and the command are loaded on first use of one of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._context import ALLOWED_TLS12_CIPHERS, client_tls_context, server_tls_context
from ._hostname import hostname_matches

if TYPE_CHECKING:
    from ..cli.tls import add_tls_check_arguments, run_tls_check, tls_check_main
    from .probe import (
        DEFAULT_TIMEOUT,
        CertificateInfo,
        ProtocolResult,
        RequirementResult,
        TLSReport,
        check_endpoint,
    )

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

# The names loaded on first use, and the module that defines each. The probe pulls in sockets,
# URL parsing and the grading; the command pulls in argparse and the probe.
_LAZY = {
    "DEFAULT_TIMEOUT": "gpay_envelope.tls.probe",
    "CertificateInfo": "gpay_envelope.tls.probe",
    "ProtocolResult": "gpay_envelope.tls.probe",
    "RequirementResult": "gpay_envelope.tls.probe",
    "TLSReport": "gpay_envelope.tls.probe",
    "check_endpoint": "gpay_envelope.tls.probe",
    "add_tls_check_arguments": "gpay_envelope.cli.tls",
    "run_tls_check": "gpay_envelope.cli.tls",
    "tls_check_main": "gpay_envelope.cli.tls",
}


def __getattr__(name: str) -> object:
    """Load a probe or command name on first use (PEP 562), then keep it in the module."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the ones not loaded yet included."""
    return sorted(set(globals()) | set(__all__))
