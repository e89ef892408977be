"""The client and server contexts: versions, suites, verification, settings errors.

Handshakes run against our own server context on 127.0.0.1 in a thread (tests/support/tls_certs.py).
"""

from __future__ import annotations

import inspect
import os
import ssl
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from tls_certs import PKI, PKI_PASSWORD, LoopbackTLSServer, connect, make_pki, serve

import gpay_envelope.tls as tls
from gpay_envelope.errors import EnvelopeError, TLSConfigError
from gpay_envelope.tls import ALLOWED_TLS12_CIPHERS, client_tls_context, server_tls_context

ECDSA_ALLOWED = {c for c in ALLOWED_TLS12_CIPHERS if "-ECDSA-" in c}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


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
    with serve(pki) as server:
        version, _cipher, data = connect(client, server.port, "partner.test")
    assert (version, data) == ("TLSv1.3", b"ok\n")


@pytest.mark.parametrize("side", ["server", "client"])
def test_loopback_tls12_uses_an_allowed_suite(pki: PKI, side: str) -> None:
    client = client_tls_context(cafile=pki.ca.certfile, allow_tls13=side != "client")
    with serve(pki, allow_tls13=side != "server") as server:
        version, cipher, _ = connect(client, server.port, "partner.test")
    assert version == "TLSv1.2"
    assert cipher in ECDSA_ALLOWED


def test_client_verifies_against_system_roots_by_default(pki: PKI) -> None:
    with serve(pki) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
            connect(client_tls_context(), server.port, "partner.test")
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
            connect(client_tls_context(cafile=pki.other_ca.certfile), server.port, "partner.test")
        # cadata: the same trust as cafile, from memory.
        cadata = pki.ca.cert.public_bytes(serialization.Encoding.PEM).decode()
        version, _, _ = connect(client_tls_context(cadata=cadata), server.port, "partner.test")
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
    with serve(pki) as server:
        with pytest.raises(ssl.SSLError):
            connect(_probe_client(version, ciphers), server.port, "partner.test")
        # The same server accepts a client that offers an allowed suite.
        assert connect(_probe_client(ssl.TLSVersion.TLSv1_2, "ALL"), server.port, "x")[1] in (
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
        assert connect(with_cert, server.port, "partner.test")[2] == b"ok\n"
        assert server.peer_certs[-1]["subject"] == ((("commonName", "google-client"),),)
        # In TLS 1.3 the server judges the client certificate after the client's handshake
        # ends, so the refusal shows on the first read.
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"):
            connect(client_tls_context(cafile=pki.ca.certfile), server.port, "partner.test")


def test_encrypted_key_loads_with_its_password(pki: PKI) -> None:
    ctx = server_tls_context(
        certfile=pki.encrypted.certfile, keyfile=pki.encrypted.keyfile, password=PKI_PASSWORD
    )
    client = client_tls_context(cafile=pki.ca.certfile)
    with LoopbackTLSServer(ctx) as server:
        assert connect(client, server.port, "partner.test")[2] == b"ok\n"


# --------------------------------------------------------------------------- config errors


def _assert_clean(exc: TLSConfigError, pki: PKI) -> None:
    assert isinstance(exc, EnvelopeError) and isinstance(exc, ValueError)
    message = str(exc)
    assert PKI_PASSWORD not in message
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
        (lambda p: client_tls_context(password=PKI_PASSWORD), "need a certfile"),
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
            certfile=pki.encrypted.certfile,
            keyfile=pki.encrypted.keyfile,
            password=PKI_PASSWORD[:-1],
        )
    assert PKI_PASSWORD[:-1] not in str(info.value)
    _assert_clean(info.value, pki)


# --------------------------------------------------------------------------- the package front


def test_importing_the_front_does_not_load_the_probe_or_the_command() -> None:
    root = Path(tls.__file__).resolve().parents[2]
    code = (
        "import sys, gpay_envelope.tls\n"
        "loaded = sorted(m for m in sys.modules if m.endswith(('tls.probe', 'cli.tls')))\n"
        "assert not loaded and 'argparse' not in sys.modules, loaded\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root)


PROBE_NAMES = (
    "DEFAULT_TIMEOUT",
    "CertificateInfo",
    "ProtocolResult",
    "RequirementResult",
    "TLSReport",
    "check_endpoint",
)
COMMAND_NAMES = ("add_tls_check_arguments", "run_tls_check", "tls_check_main")


def test_the_front_exports_the_probe_and_the_command() -> None:
    from gpay_envelope.cli import tls as command
    from gpay_envelope.tls import probe

    assert set(tls.__all__) == {
        "ALLOWED_TLS12_CIPHERS",
        "client_tls_context",
        "hostname_matches",
        "server_tls_context",
        *PROBE_NAMES,
        *COMMAND_NAMES,
    }
    for name in PROBE_NAMES:
        assert getattr(tls, name) is getattr(probe, name), name
    for name in COMMAND_NAMES:
        assert getattr(tls, name) is getattr(command, name), name
    assert set(tls.__all__) <= set(dir(tls))
    with pytest.raises(AttributeError, match="no_such_name"):
        tls.no_such_name  # noqa: B018
