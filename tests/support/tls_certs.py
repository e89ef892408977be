"""Certificate makers and a loopback TLS server for the TLS tests (test helpers, not shipped).

Everything is generated with `cryptography` at test time: a throw-away CA, leaf certificates
(with or without subjectAltName, expired, self-signed) written as PEM files into a temp folder.
`make_pki` makes the set the tests in tests/tls/ share, `serve` runs our server context with
it and `connect` is their client handshake.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gpay_envelope.tls import server_tls_context

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

NOW = datetime.now(timezone.utc)


@dataclass(frozen=True)
class Issued:
    """A certificate, its key and where both were written."""

    cert: x509.Certificate
    key: PrivateKey
    certfile: Path
    keyfile: Path


def new_key(kind: str = "ec") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str | None) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])


def _write(
    folder: Path, stem: str, cert: x509.Certificate, key: PrivateKey, password: bytes | None
) -> tuple[Path, Path]:
    certfile = folder / f"{stem}.crt"
    keyfile = folder / f"{stem}.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return certfile, keyfile


def make_ca(folder: Path, stem: str = "ca", cn: str = "gpay-envelope test CA") -> Issued:
    """A self-signed CA certificate (EC P-256), valid from yesterday for a year."""
    key = new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = _write(folder, stem, cert, key, None)
    return Issued(cert, key, certfile, keyfile)


def make_leaf(
    folder: Path,
    stem: str,
    *,
    issuer: Issued | None,
    cn: str | None = None,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    key: PrivateKey | None = None,
    client: bool = False,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    password: bytes | None = None,
) -> Issued:
    """A server (or, with ``client``, client) certificate signed by ``issuer``, or self-signed
    when ``issuer`` is None. A new EC key unless ``key`` is given (RSA keys are slow to make).

    Without ``dns`` and ``ips`` the certificate has no subjectAltName at all: its only name is
    the subject CN (the shape of many self-signed partner certificates).
    """
    key = key or new_key()
    purpose = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    subject = _name(cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=1))
        .not_valid_after(not_after or NOW + timedelta(days=90))
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    certfile, keyfile = _write(folder, stem, cert, key, password)
    return Issued(cert, key, certfile, keyfile)


#: The password of `PKI.encrypted`'s key.
PKI_PASSWORD = "s3cret-pass-phrase"


@dataclass(frozen=True)
class PKI:
    """A test CA, an unrelated second CA, and leaves the first one signed."""

    folder: Path
    ca: Issued
    other_ca: Issued
    server: Issued  # partner.test, localhost and 127.0.0.1
    client: Issued  # a client certificate, CN google-client
    encrypted: Issued  # partner.test, key encrypted with PKI_PASSWORD


def make_pki(folder: Path) -> PKI:
    """The CAs and leaves of `PKI`, written into ``folder``."""
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
            folder, "encrypted", issuer=ca, cn="partner.test", password=PKI_PASSWORD.encode()
        ),
    )


def serve(pki: PKI, *, allow_tls13: bool = True) -> LoopbackTLSServer:
    """A loopback server with `PKI.server`'s certificate and `server_tls_context`'s settings."""
    ctx = server_tls_context(
        certfile=pki.server.certfile, keyfile=pki.server.keyfile, allow_tls13=allow_tls13
    )
    return LoopbackTLSServer(ctx)


def connect(ctx: ssl.SSLContext, port: int, name: str) -> tuple[str | None, str | None, bytes]:
    """Handshake with 127.0.0.1:``port`` as ``name``: the version, the suite, the first bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as conn:
            cipher = conn.cipher()
            return conn.version(), cipher[0] if cipher else None, conn.recv(16)


HTTP_RESPONSE = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


class LoopbackTLSServer:
    """A TLS server on 127.0.0.1 in a thread: handshakes, answers, closes.

    It answers ``ok\n`` at once, or with ``http=True`` reads the request first and answers
    with a minimal HTTP/1.0 response.

    Handshake failures are expected (the probe offers what the server refuses) and counted,
    never raised in the thread. The accept loop is bounded in connections and in time.
    """

    MAX_CONNECTIONS = 500
    MAX_SECONDS = 60.0

    def __init__(self, context: ssl.SSLContext, *, http: bool = False) -> None:
        self.context = context
        self.http = http
        self.handshakes = 0
        self.failures = 0
        self.peer_certs: list[dict[str, object]] = []
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        deadline = time.monotonic() + self.MAX_SECONDS
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self.handshakes + self.failures >= self.MAX_CONNECTIONS:
                return
            try:
                conn, _addr = self._listener.accept()
            except OSError:  # includes the accept timeout that lets the loop see _stop
                continue
            self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5.0)
            try:
                tls = self.context.wrap_socket(conn, server_side=True)
            except OSError:  # ssl.SSLError is an OSError
                self.failures += 1
                return
            with tls:
                self.handshakes += 1
                self.peer_certs.append(dict(tls.getpeercert() or {}))
                try:
                    if self.http:
                        tls.recv(65536)
                    tls.sendall(HTTP_RESPONSE if self.http else b"ok\n")
                except OSError:  # the client may hang up first; the handshake is what counts
                    pass

    def __enter__(self) -> LoopbackTLSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10.0)
        self._listener.close()
