"""OpenPGP test helpers: keys made once per session, a key builder for policy edge cases, a
message re-packer, compression bombs, and a small gpg driver (temporary GNUPGHOME, status-fd).

Key generation is the slow part of the PGP tests, so every key here is made once per session:
our own keys with `generate_pgp_key`, RSA primitives for the builder from a small cache, and the
gpg peer's keys in one session-scoped home.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import struct
import subprocess
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conftest import require_peer
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESOCB3

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode, b64url_encode
from gpay_envelope.codecs.pgp import generate_pgp_key, keys_from_pgp
from gpay_envelope.codecs.pgp import wire as op
from gpay_envelope.codecs.pgp._keys import fingerprint, public_key_body, secret_key_body

DAY = 86400
YEAR = 365 * DAY


# -- our own keys ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Party:
    """Named RSA-2048 keys of one side (secret halves included)."""

    keys: dict[str, ge.Key]

    def secret(self, *names: str) -> ge.KeySet:
        """A key set of these keys with secrets, the first one primary."""
        chosen = [self.keys[n] for n in names]
        return ge.KeySet(chosen, primary=chosen[0].kid)

    def public(self, *names: str) -> ge.KeySet:
        """The same key set without secrets."""
        return self.secret(*names).public()

    def kid(self, name: str) -> str:
        return self.keys[name].kid


@functools.cache
def pgp_party() -> Party:
    """p1, p2 (the partner), g1, g2, g3 (Google), u1 (a signer nobody trusts): RSA-2048,
    made once per session (test modules wrap this in a session fixture)."""
    names = ("p1", "p2", "g1", "g2", "g3", "u1")
    return Party({n: generate_pgp_key(uid=f"{n} <{n}@example.com>", size=2048) for n in names})


# -- a key builder for the policy cases -----------------------------------------------------
@functools.cache
def rsa_key(slot: int, size: int = 2048) -> rsa.RSAPrivateKey:
    """A cached RSA key: the same ``(slot, size)`` always gives the same key in a session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def _framed(body: bytes) -> bytes:
    return b"\x99" + struct.pack(">H", len(body)) + body


@dataclass(frozen=True)
class Sub:
    """How to build one subkey."""

    slot: int = 1
    size: int = 2048
    flags: int = op.FLAG_ENCRYPT
    expires_after: int | None = YEAR
    revoked: bool = False
    backsig: bool = True
    #: "foreign": the binding is a valid signature over *another* subkey (copied binding);
    #: "corrupt": one bit of the binding signature flipped.
    forge: str | None = None
    #: Creation time of the subkey packet (default: the primary's).
    created: int | None = None
    #: Creation time of the binding signature (default: the subkey's creation).
    bound: int | None = None
    #: A public-key algorithm id other than RSA: the subkey packet carries it with opaque key
    #: material (32 bytes public, 32 bytes secret, no S2K), as an X25519 (25) subkey does.
    algorithm: int | None = None


@dataclass(frozen=True)
class Spec:
    """How to build one transferable key (defaults: a valid SC primary, one E subkey)."""

    uid: str = "Test <test@example.com>"
    slot: int = 0
    size: int = 2048
    created: int = field(default_factory=lambda: int(time.time()) - DAY)
    expires_after: int | None = YEAR
    flags: int | None = op.FLAG_CERTIFY | op.FLAG_SIGN
    subkeys: tuple[Sub, ...] = (Sub(),)
    revoked: bool = False
    hashalg: int = op.HASH_SHA384
    self_signed: bool = True
    #: More hashed subpackets of the user ID self-signature (preferences, features, notations).
    extra: bytes = b""


def _sig(
    key: rsa.RSAPrivateKey,
    issuer: bytes,
    sigtype: int,
    hashalg: int,
    created: int,
    data: Sequence[bytes],
    extra: bytes = b"",
    unhashed: bytes = b"",
) -> bytes:
    hashed = (
        op.subpacket(op.SUB_CREATED, struct.pack(">I", created))
        + extra
        + op.subpacket(op.SUB_ISSUER_FINGERPRINT, b"\x04" + issuer)
    )
    return op.signature_body(
        key,
        sigtype=sigtype,
        hashalg=hashalg,
        hashed=hashed,
        unhashed=unhashed + op.subpacket(op.SUB_ISSUER, issuer[-8:]),
        data=data,
    )


def build_key(spec: Spec = Spec(), *, secret: bool = True) -> bytes:
    """Binary transferable key (secret, unprotected, unless ``secret`` is false)."""
    pk = rsa_key(spec.slot, spec.size)
    pub = public_key_body(pk.public_key(), spec.created)
    fpr = fingerprint(pub)
    tag = op.TAG_SECRET_KEY if secret else op.TAG_PUBLIC_KEY
    out = [op.packet(tag, secret_key_body(pk, spec.created) if secret else pub)]
    when = spec.created
    if spec.revoked:
        out.append(key_revocation(spec))
    uid = spec.uid.encode()
    out.append(op.packet(op.TAG_USER_ID, uid))
    if spec.self_signed:
        extra = spec.extra
        if spec.flags is not None:
            extra += op.subpacket(op.SUB_KEY_FLAGS, bytes((spec.flags,)))
        if spec.expires_after is not None:
            extra += op.subpacket(op.SUB_KEY_EXPIRES, struct.pack(">I", spec.expires_after))
        cert = _sig(
            pk,
            fpr,
            op.SIG_CERT_POSITIVE,
            spec.hashalg,
            when,
            [_framed(pub), b"\xb4" + struct.pack(">I", len(uid)) + uid],
            extra,
        )
        out.append(op.packet(op.TAG_SIGNATURE, cert))
    for index, sub in enumerate(spec.subkeys):
        sk = rsa_key(sub.slot, sub.size)
        sub_created = when if sub.created is None else sub.created
        bound = sub_created if sub.bound is None else sub.bound
        sub_pub = public_key_body(sk.public_key(), sub_created)
        sub_secret = secret_key_body(sk, sub_created)
        if sub.algorithm is not None:
            sub_pub, sub_secret = _foreign_key_bodies(sub.algorithm, sub_created, sub.slot)
        sub_fpr = fingerprint(sub_pub)
        out.append(
            op.packet(
                op.TAG_SECRET_SUBKEY if secret else op.TAG_PUBLIC_SUBKEY,
                sub_secret if secret else sub_pub,
            )
        )
        signed_pub = sub_pub
        if sub.forge == "foreign":
            signed_pub = public_key_body(rsa_key(sub.slot + 100).public_key(), sub_created)
        data = [_framed(pub), _framed(signed_pub)]
        extra = op.subpacket(op.SUB_KEY_FLAGS, bytes((sub.flags,)))
        if sub.expires_after is not None:
            extra += op.subpacket(op.SUB_KEY_EXPIRES, struct.pack(">I", sub.expires_after))
        unhashed = b""
        if sub.flags & op.FLAG_SIGN and sub.backsig:
            back = _sig(sk, sub_fpr, op.SIG_PRIMARY_BINDING, spec.hashalg, bound, data)
            unhashed = op.subpacket(op.SUB_EMBEDDED_SIGNATURE, back)
        binding = _sig(pk, fpr, op.SIG_SUBKEY_BINDING, spec.hashalg, bound, data, extra, unhashed)
        if sub.forge == "corrupt":
            binding = binding[:-1] + bytes((binding[-1] ^ 0x01,))
        out.append(op.packet(op.TAG_SIGNATURE, binding))
        if sub.revoked:
            out.append(subkey_revocation(spec, index))
    return b"".join(out)


def _foreign_key_bodies(algorithm: int, created: int, slot: int) -> tuple[bytes, bytes]:
    """Public and unprotected secret key packet bodies of a non-RSA key: opaque 32-byte
    public and secret parts, derived from ``slot`` so that they are the same in a session."""
    public_part, secret_part = (bytes((slot + i) % 256 for i in range(k, k + 32)) for k in (0, 32))
    pub = bytes((4,)) + struct.pack(">I", created) + bytes((algorithm,)) + public_part
    checksum = struct.pack(">H", sum(secret_part) & 0xFFFF)
    return pub, pub + b"\x00" + secret_part + checksum


def key_revocation(spec: Spec) -> bytes:
    """A key revocation signature packet (0x20) by ``spec``'s primary, a minute after its
    creation: what gpg's revocation certificate holds."""
    pk = rsa_key(spec.slot, spec.size)
    pub = public_key_body(pk.public_key(), spec.created)
    when = spec.created + 60
    body = _sig(pk, fingerprint(pub), op.SIG_KEY_REVOCATION, spec.hashalg, when, [_framed(pub)])
    return op.packet(op.TAG_SIGNATURE, body)


def subkey_revocation(spec: Spec, index: int) -> bytes:
    """A subkey revocation signature packet (0x28) by ``spec``'s primary for
    ``spec.subkeys[index]``, a minute after the subkey's binding."""
    pk = rsa_key(spec.slot, spec.size)
    pub = public_key_body(pk.public_key(), spec.created)
    sub = spec.subkeys[index]
    sub_created = spec.created if sub.created is None else sub.created
    sub_pub = public_key_body(rsa_key(sub.slot, sub.size).public_key(), sub_created)
    when = (sub_created if sub.bound is None else sub.bound) + 60
    data = [_framed(pub), _framed(sub_pub)]
    body = _sig(pk, fingerprint(pub), op.SIG_SUBKEY_REVOCATION, spec.hashalg, when, data)
    return op.packet(op.TAG_SIGNATURE, body)


def load(spec: Spec = Spec(), *, secret: bool = True) -> ge.Key:
    """`build_key` loaded as a pgp-codec key."""
    (key,) = keys_from_pgp(build_key(spec, secret=secret))
    return key


def keyset(*keys: ge.Key) -> ge.KeySet:
    return ge.KeySet(keys, primary=keys[0].kid)


# -- message surgery ------------------------------------------------------------------------
def packets_of(envelope: bytes) -> list[tuple[int, bytes]]:
    """Top-level packets of a base64url (or binary) envelope."""
    raw = envelope if envelope[0] & 0x80 else b64url_decode(envelope)
    return op.read_packets(raw, max_packets=100)


def repack(packets: Iterable[tuple[int, bytes]]) -> bytes:
    """Packets back into a padded base64url envelope."""
    return b64url_encode(b"".join(op.packet(tag, body) for tag, body in packets))


def encrypt_raw(
    inner: bytes,
    recipients: Iterable[ge.Key],
    *,
    cipher: int = op.SYM_AES256,
    session_key: bytes | None = None,
) -> bytes:
    """Encrypt arbitrary inner packet bytes to the encryption subkeys of ``recipients``
    (binary), the way an attacker holding our public key can."""
    key = session_key or os.urandom(op.SYMMETRIC_KEY_SIZES[cipher])
    payload = op.session_key_payload(cipher, key)
    now = int(time.time())
    out = []
    for r in recipients:
        for part in r.material.encryption_parts(now):  # type: ignore[attr-defined]
            out.append(op.pkesk_packet(part.keyid, part.public_key, payload))
    out.append(op.encrypt_seipd(key, inner))
    return b"".join(out)


def seipd2_packet(
    key: bytes,
    plaintext: bytes,
    *,
    aead: int,
    cipher: int,
    chunk_octet: int = 6,
    salt: bytes | None = None,
) -> bytes:
    """A SEIPD v2 packet (RFC 9580 5.13.2), encrypted chunk by chunk, the way any RFC 9580
    implementation writes one; the tests' writer, anchored on the RFC's sample messages."""
    salt = os.urandom(op.SALT_SIZE) if salt is None else salt
    head = bytes((2, cipher, aead, chunk_octet))
    body = head + salt
    message_key, iv = op.message_key(key, body)
    ad = bytes((0xC0 | op.TAG_SEIPD,)) + head
    mode = {op.AEAD_GCM: AESGCM, op.AEAD_OCB: AESOCB3, op.AEAD_EAX: op.EAX}[aead](message_key)
    size = 1 << (chunk_octet + 6)
    chunks = [plaintext[i : i + size] for i in range(0, len(plaintext), size)] or [b""]
    out = [body]
    for index, chunk in enumerate(chunks):
        out.append(mode.encrypt(iv + struct.pack(">Q", index), chunk, ad))
    total = struct.pack(">Q", len(plaintext))
    out.append(mode.encrypt(iv + struct.pack(">Q", len(chunks)), b"", ad + total))
    return op.packet(op.TAG_SEIPD, b"".join(out))


def pkesk6_packet(fingerprint: bytes | None, public_key: rsa.RSAPublicKey, key: bytes) -> bytes:
    """A v6 PKESK for a v4 RSA key (None: an anonymous recipient): the session key and its
    checksum, no algorithm octet (RFC 9580 5.1.2, 5.1.3)."""
    plain = key + struct.pack(">H", sum(key) & 0xFFFF)
    ct = int.from_bytes(public_key.encrypt(plain, padding.PKCS1v15()), "big")
    recipient = b"\x15\x04" + fingerprint if fingerprint is not None else b"\x00"
    return op.packet(op.TAG_PKESK, b"\x06" + recipient + bytes((op.PK_RSA,)) + op.mpi(ct))


def encrypt_raw_v2(
    inner: bytes,
    recipients: Iterable[ge.Key],
    *,
    aead: int = op.AEAD_OCB,
    cipher: int = op.SYM_AES256,
    chunk_octet: int = 6,
    anonymous: bool = False,
    session_key: bytes | None = None,
) -> bytes:
    """Encrypt inner packet bytes as RFC 9580 does: a v6 PKESK to every encryption subkey of
    ``recipients`` (naming its fingerprint, or nobody), then SEIPD v2 (binary)."""
    key = session_key or os.urandom(op.SYMMETRIC_KEY_SIZES[cipher])
    now = int(time.time())
    out = [
        pkesk6_packet(None if anonymous else part.fingerprint, part.public_key, key)
        for r in recipients
        for part in r.material.encryption_parts(now)  # type: ignore[attr-defined]
    ]
    out.append(seipd2_packet(key, inner, aead=aead, cipher=cipher, chunk_octet=chunk_octet))
    return b"".join(out)


# -- compression bombs ----------------------------------------------------------------------
BOMB_MIB = 256


def _literal_header(size: int) -> bytes:
    # New-format literal data packet with a five-octet length, then 'b', no name, no date.
    return (
        bytes((0xC0 | op.TAG_LITERAL,)) + b"\xff" + struct.pack(">I", size + 6) + b"b\x00\0\0\0\0"
    )


def _bomb_stream(compressor: object, signer_keyid: bytes) -> bytes:
    size = BOMB_MIB << 20
    chunk = b"\0" * (1 << 20)
    parts = [
        compressor.compress(op.ops_packet(hashalg=op.HASH_SHA384, keyid=signer_keyid, last=True))
    ]  # type: ignore[attr-defined]
    parts.append(compressor.compress(_literal_header(size)))  # type: ignore[attr-defined]
    parts.extend(compressor.compress(chunk) for _ in range(BOMB_MIB))  # type: ignore[attr-defined]
    # A signature packet whose value is junk: the bomb must be refused before verification.
    sig = bytes((4, 0, 1, op.HASH_SHA384, 0, 0, 0, 0, 0, 0, 0, 8)) + b"\x55"
    parts.append(compressor.compress(op.packet(op.TAG_SIGNATURE, sig)))  # type: ignore[attr-defined]
    parts.append(compressor.flush())  # type: ignore[attr-defined]
    return b"".join(parts)


@functools.cache
def bomb_inner(kind: str, signer_keyid: bytes) -> bytes:
    """Compressed inner content (one compressed packet) inflating to BOMB_MIB MiB."""
    import bz2

    if kind == "zip":
        body = bytes((op.COMP_ZIP,)) + _bomb_stream(
            zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS), signer_keyid
        )
    elif kind == "zlib":
        body = bytes((op.COMP_ZLIB,)) + _bomb_stream(zlib.compressobj(9), signer_keyid)
    elif kind == "bzip2":
        body = bytes((op.COMP_BZIP2,)) + _bomb_stream(bz2.BZ2Compressor(9), signer_keyid)
    elif kind == "nested":
        outer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        inner = bomb_inner("zip", signer_keyid)
        body = bytes((op.COMP_ZIP,)) + outer.compress(inner) + outer.flush()
    else:
        raise ValueError(kind)
    return op.packet(op.TAG_COMPRESSED, body)


# -- gpg --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GpgResult:
    rc: int
    stdout: bytes
    status: tuple[str, ...]
    messages: tuple[str, ...] = ()  # gpg's stderr lines that are not status lines

    def lines(self, word: str) -> list[str]:
        """Status lines (without the "[GNUPG:] " prefix) starting with ``word``."""
        return [s for s in self.status if s.split(" ", 1)[0] == word]

    def good_signers(self) -> set[str]:
        """Primary fingerprints of the signatures gpg reports as good (VALIDSIG field 10)."""
        return {s.split()[10] for s in self.lines("VALIDSIG")}


class Gpg:
    """gpg 2.2 in a private home: batch mode, loopback pinentry, status on fd 2."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        (home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")

    def run(self, *args: str, data: bytes = b"", passphrase: str = "") -> GpgResult:
        cmd = [
            "gpg",
            "--homedir",
            str(self.home),
            "--batch",
            "--yes",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
            "--status-fd",
            "2",
            "--trust-model",
            "always",
            *args,
        ]
        p = subprocess.run(cmd, input=data, capture_output=True, timeout=120, check=False)
        lines = p.stderr.decode("utf-8", "replace").splitlines()
        status = tuple(line[9:] for line in lines if line.startswith("[GNUPG:] "))
        messages = tuple(line for line in lines if not line.startswith("[GNUPG:] "))
        return GpgResult(p.returncode, p.stdout, status, messages)

    def check(self, *args: str, data: bytes = b"", passphrase: str = "") -> bytes:
        r = self.run(*args, data=data, passphrase=passphrase)
        if r.rc != 0:
            raise AssertionError(
                f"gpg {' '.join(args)} failed: rc={r.rc} {r.status} {r.messages}"
            )
        return r.stdout

    def gen(
        self,
        uid: str,
        *,
        algo: str = "rsa2048",
        expire: str = "1y",
        sub_expire: str | None = None,
        sub_algo: str | None = None,
        passphrase: str = "",
        faked_time: str | None = None,
    ) -> str:
        """Make an [SC] primary with one [E] subkey; return the primary fingerprint."""
        fake = ("--faked-system-time", faked_time) if faked_time else ()
        self.check(*fake, "--quick-gen-key", uid, algo, "sign,cert", expire, passphrase=passphrase)
        fpr = self.fingerprint(uid)
        self.check(
            *fake,
            "--quick-add-key",
            fpr,
            sub_algo or algo,
            "encr",
            sub_expire or expire,
            passphrase=passphrase,
        )
        return fpr

    def revocation_certificate(self, fpr: str) -> bytes:
        """The revocation certificate gpg made with key ``fpr`` (in openpgp-revocs.d): the
        armored block, without the explanation before it and without the colon gpg puts
        before its BEGIN line so that it is not imported by accident."""
        text = (self.home / "openpgp-revocs.d" / f"{fpr}.rev").read_bytes()
        return text[text.index(b":-----BEGIN PGP ") + 1 :]

    def validity(self) -> dict[str, str]:
        """Fingerprint -> validity letter (``r`` revoked, ``e`` expired, ...) of every key and
        subkey in the home, from ``--list-keys --with-colons``."""
        out = self.check("--with-colons", "--with-subkey-fingerprints", "--list-keys").decode()
        found: dict[str, str] = {}
        letter = ""
        for line in out.splitlines():
            fields = line.split(":")
            if fields[0] in ("pub", "sub"):
                letter = fields[1]
            elif fields[0] == "fpr":
                found[fields[9]] = letter
        return found

    def fingerprint(self, uid: str) -> str:
        out = self.check("--with-colons", "--list-keys", uid).decode()
        return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))

    def export(self, fpr: str) -> bytes:
        return self.check("--export", fpr)

    def export_secret(self, fpr: str, passphrase: str = "") -> bytes:
        return self.check("--export-secret-keys", fpr, passphrase=passphrase)

    def import_keys(self, data: bytes, passphrase: str = "") -> None:
        self.check("--import", data=data, passphrase=passphrase)

    def encrypt(
        self,
        data: bytes,
        *,
        recipients: Iterable[str],
        signers: Iterable[str] = (),
        extra: Sequence[str] = (),
    ) -> bytes:
        args: list[str] = []
        for r in recipients:
            args += ["-r", r]
        for s in signers:
            args += ["-u", s]
        sign = ["--sign"] if args.count("-u") else []
        return self.check(*sign, "--encrypt", *args, *extra, "-o", "-", data=data)

    def decrypt(self, data: bytes) -> GpgResult:
        return self.run("--decrypt", data=data)


@dataclass(frozen=True)
class GpgPeer:
    """A gpg peer holding its own secret keys (ga 2048, gb 3072, gc 4096) and an unknown
    signer (gu 2048). Our keys get imported into it as a test needs them."""

    gpg: Gpg
    fprs: dict[str, str]

    def ours(self, name: str, passphrase: str = "") -> ge.Key:
        """The peer's key ``name`` loaded on our side, with its secret."""
        blob = self.gpg.export_secret(self.fprs[name], passphrase)
        (key,) = keys_from_pgp(blob, passphrase=passphrase or None)
        return key

    def public(self, name: str) -> ge.Key:
        """The peer's key ``name`` as a public key on our side."""
        (key,) = keys_from_pgp(self.gpg.export(self.fprs[name]))
        return key


def have_gpg() -> bool:
    return shutil.which("gpg") is not None


_PEER: list[GpgPeer] = []


def gpg_peer_session(root: Path) -> GpgPeer:
    """The gpg peer, made once per session under ``root`` (RSA-4096 generation takes a few
    seconds); skips (or fails with GPAY_REQUIRE_PEERS=1) without gpg. Its agent is stopped
    when the interpreter exits."""
    require_peer(have_gpg(), "gpg")
    if not _PEER:
        gpg = Gpg(root / "gnupg")
        atexit.register(
            subprocess.run,
            ["gpgconf", "--homedir", str(gpg.home), "--kill", "all"],
            capture_output=True,
            check=False,
        )
        sizes = {"ga": "rsa2048", "gb": "rsa3072", "gc": "rsa4096", "gu": "rsa2048"}
        fprs = {n: gpg.gen(f"{n} <{n}@peer.example>", algo=a) for n, a in sizes.items()}
        _PEER.append(GpgPeer(gpg, fprs))
    return _PEER[0]


def import_ours(peer: GpgPeer, *keys: ge.Key, secret: bool = False) -> None:
    """Make our keys known to the gpg peer (public, or with secrets)."""
    from gpay_envelope.codecs.pgp import key_to_pgp

    for k in keys:
        peer.gpg.import_keys(key_to_pgp(k, include_private=secret))
