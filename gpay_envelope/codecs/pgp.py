"""OpenPGP codec: Google's PGP rules (spec.md P1-P11) on a strict RFC 4880 subset.

Profiles (``seal``):

- ``default``: sign with SHA384 (every ENABLED, unexpired signer key, primary first, one-pass
  signatures), encrypt with AES256 in SEIPD v1 (integrity-protected) to every usable
  encryption subkey of every ENABLED, unexpired recipient key, literal data uncompressed;
  output: padded web-safe base64 of the binary packets.
- ``zip``: the same with the literal data ZIP-compressed, byte for byte the shape Google's
  BouncyCastle sample sends.

``open`` accepts padded or unpadded web-safe base64, raw binary and ASCII armor; routes by the
key ids in the message; requires SEIPD with a valid MDC; inflates ZIP, ZLIB and BZip2 under a
cap; accepts AES only and SHA256/384/512 signatures; and succeeds when at least one signature
is valid and made by a signing-capable (sub)key of an ENABLED, unexpired sender key.

Keys are parsed by our own code (`_openpgp_keys`, which checks every binding), secret material
is read by pgpy (`_openpgp_pgpy`), and messages never touch pgpy: see docs/pgp.md for why and
for the policy decisions.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Final, NoReturn

from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .._b64 import b64url_decode, b64url_encode
from .._keys import Key, KeyStatus
from ..errors import InvalidEnvelope, InvalidSignature, KeySetError, SealError, UnsupportedCodec
from . import OpenRequest, OpenResult, SealRequest
from . import _openpgp as op
from ._openpgp_keys import CLOCK_SKEW, KeyPart, ParsedKey, parse_keys

__all__ = [
    "PROFILES",
    "PGPCodec",
    "PGPMaterial",
    "generate_pgp_key",
    "key_to_pgp",
    "keys_from_pgp",
]

#: Seal profiles: name -> compression algorithm of the literal data (None: uncompressed).
PROFILES: Final[Mapping[str, int | None]] = {"default": None, "zip": op.COMP_ZIP}
#: The algorithm name every PGP-codec key is bound to.
OPENPGP: Final = "openpgp"
#: Signature digests accepted on open. SHA-1 and MD5 are refused (Google's rules; SHA-1 is
#: broken for signatures over attacker-influenced data); SHA-224 is not needed by any peer.
OPEN_HASHES: Final = frozenset({op.HASH_SHA256, op.HASH_SHA384, op.HASH_SHA512})
SEAL_HASH: Final = op.HASH_SHA384
SEAL_CIPHER: Final = op.SYM_AES256
#: Most PKESK packets and most signatures an envelope may carry, and most packets per layer.
MAX_RECIPIENTS: Final = 32
MAX_SIGNATURES: Final = 16
_MAX_TOP_PACKETS: Final = MAX_RECIPIENTS + 8
_MAX_INNER_PACKETS: Final = 2 * MAX_SIGNATURES + 2
#: Room for the packets around the payload inside the encryption (one-pass signatures, the
#: literal header, signatures): the decompression cap is max_plaintext plus this.
_INNER_OVERHEAD: Final = 256 << 10
_KEY_INPUT_MAX: Final = 1 << 20
_PKCS1: Final = padding.PKCS1v15()
_ARMOR_BEGIN: Final = b"-----BEGIN PGP "
_LEADING_SPACE: Final = re.compile(rb"[ \t\r\n\x0b\x0c]*")


# -- key material ---------------------------------------------------------------------------
class PGPMaterial:
    """An OpenPGP key for the pgp codec: the parsed, policy-checked primary and subkeys with
    their `cryptography` key objects, built once at load (no per-operation rebuilding).

    Satisfies the `KeyMaterial` protocol. Never printed with secrets, never pickled.
    """

    __slots__ = ("_dec", "_parsed", "_secrets", "_sig_ids")

    def __init__(self, parsed: ParsedKey, secrets: Mapping[bytes, rsa.RSAPrivateKey]) -> None:
        self._parsed = parsed
        self._secrets = dict(secrets)
        # Decryption may use any bound encryption part we hold the secret for, even an
        # expired or revoked one: those words stop *senders*, and late messages must still open.
        self._dec = {p.keyid: p for p in parsed.parts if p.can_encrypt() and p.keyid in secrets}
        self._sig_ids: dict[bytes, list[KeyPart]] = {}
        for p in parsed.parts:
            if p.can_sign():
                self._sig_ids.setdefault(p.keyid, []).append(p)

    # -- KeyMaterial protocol ---------------------------------------------------------------
    @property
    def has_secret(self) -> bool:
        """True when at least one part's private key is present."""
        return bool(self._secrets)

    @property
    def kty(self) -> str:
        """Always ``"RSA"``: other OpenPGP algorithms are refused at load."""
        return "RSA"

    @property
    def size(self) -> int:
        """The smallest modulus of the primary and its usable subkeys, in bits."""
        return min(p.size for p in self._parsed.parts)

    @property
    def expires(self) -> datetime | None:
        """The primary key's expiry (timezone-aware), or None when it never expires."""
        when = self._parsed.primary.expires
        return None if when is None else datetime.fromtimestamp(when, timezone.utc)

    def public(self) -> PGPMaterial:
        """The same key without private halves."""
        if not self._secrets and self._parsed.secret_blob is None:
            return self
        p = self._parsed
        return PGPMaterial(ParsedKey(p.primary, p.subkeys, p.user_ids, p.public_blob), {})

    # -- for the codec ----------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """The primary key's v4 fingerprint, 40 upper-case hex digits (the `Key` kid)."""
        return self._parsed.primary.hex

    @property
    def user_ids(self) -> tuple[str, ...]:
        """The user ids with a valid self-signature."""
        return self._parsed.user_ids

    @property
    def parts(self) -> tuple[KeyPart, ...]:
        """Primary first, then every subkey with a valid binding."""
        return self._parsed.parts

    def encryption_parts(self, when: int) -> list[KeyPart]:
        """Parts a sender may encrypt to at ``when``: encryption flags, bound, unexpired,
        unrevoked."""
        return [p for p in self._parsed.parts if p.can_encrypt() and p.valid_at(when)]

    def signing_part(self, when: int) -> tuple[KeyPart, rsa.RSAPrivateKey] | None:
        """The part to sign with at ``when``: the newest usable signing subkey we hold the
        secret for (gpg's choice), else the primary when its flags allow signing."""
        subs = [
            p
            for p in self._parsed.subkeys
            if p.can_sign() and p.valid_at(when) and p.keyid in self._secrets
        ]
        if subs:
            best = max(subs, key=lambda p: p.created)
            return best, self._secrets[best.keyid]
        primary = self._parsed.primary
        if primary.can_sign() and primary.valid_at(when) and primary.keyid in self._secrets:
            return primary, self._secrets[primary.keyid]
        return None

    def decryption_key(self, keyid: bytes) -> rsa.RSAPrivateKey | None:
        """The private key of the encryption part with this key id, if we hold it."""
        return self._secrets.get(keyid) if keyid in self._dec else None

    def decryption_part(self, keyid: bytes) -> tuple[KeyPart, rsa.RSAPrivateKey] | None:
        """The encryption part with this key id and its private key, if we hold it."""
        part = self._dec.get(keyid)
        return None if part is None else (part, self._secrets[keyid])

    def decryption_keys(self) -> list[rsa.RSAPrivateKey]:
        """Private keys of every encryption part we hold (for wildcard key ids), newest first."""
        return [private for _, private in self.decryption_parts()]

    def decryption_parts(self) -> list[tuple[KeyPart, rsa.RSAPrivateKey]]:
        """Every encryption part we hold with its private key, newest first."""
        parts = sorted(self._dec.values(), key=lambda p: -p.created)
        return [(p, self._secrets[p.keyid]) for p in parts]

    def verifying_parts(self, keyid: bytes, when: int) -> list[KeyPart]:
        """Signing-capable parts with this key id that are usable at ``when``."""
        return [p for p in self._sig_ids.get(keyid, ()) if p.valid_at(when)]

    def all_verifying_parts(self, when: int) -> list[KeyPart]:
        """Every signing-capable part usable at ``when``, primary first."""
        return [p for p in self._parsed.parts if p.can_sign() and p.valid_at(when)]

    def export(self, *, include_private: bool) -> bytes:
        """The binary transferable key: public, or the secret key as it was loaded."""
        if include_private:
            if self._parsed.secret_blob is None:
                raise KeySetError(f"key {self.fingerprint} holds no secret key to export")
            return self._parsed.secret_blob
        return self._parsed.public_blob

    # -- safety -----------------------------------------------------------------------------
    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("OpenPGP key material is not pickled; export it with key_to_pgp()")

    def __repr__(self) -> str:
        return (
            f"<PGPMaterial {self.fingerprint} RSA-{self._parsed.primary.size} "
            f"subkeys={len(self._parsed.subkeys)} secret={self.has_secret}>"
        )


# -- loading, export, generation ------------------------------------------------------------
def _binary_inputs(data: bytes | str | Sequence[bytes | str]) -> Iterator[bytes]:
    items: Sequence[bytes | str]
    if isinstance(data, str):
        items = [data]
    elif isinstance(data, (bytes, bytearray, memoryview)):
        items = [bytes(data)]
    else:
        items = data
    for item in items:
        if isinstance(item, str):
            raw = item.encode("utf-8")
        elif isinstance(item, (bytes, bytearray, memoryview)):
            raw = bytes(item)
        else:
            raise TypeError(f"OpenPGP key data must be bytes or str, not {type(item).__name__}")
        if len(raw) > _KEY_INPUT_MAX:
            raise KeySetError(f"OpenPGP key data over {_KEY_INPUT_MAX} bytes is refused")
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a byte-order mark that text editors put in front of armor
        if raw[:1] and raw[0] & 0x80:
            yield raw
            continue
        try:
            blocks = op.dearmor(raw, max_blocks=64, strict=False)
        except op.Malformed:
            raise KeySetError("the ASCII-armored OpenPGP key data is malformed") from None
        if not blocks:
            raise KeySetError("no OpenPGP key found (neither binary nor ASCII-armored)")
        for kind, blob in blocks:
            if kind not in ("PUBLIC KEY BLOCK", "PRIVATE KEY BLOCK", "SECRET KEY BLOCK"):
                raise KeySetError(f"expected an OpenPGP key block, got 'PGP {kind}'")
            yield blob


def _passphrase_for(passphrase: str | Mapping[str, str] | None, fpr: str) -> str | None:
    if passphrase is None or isinstance(passphrase, str):
        return passphrase
    for name, value in passphrase.items():
        if name.replace(" ", "").upper() == fpr:
            return value
    return None


def keys_from_pgp(
    data: bytes | str | Sequence[bytes | str],
    *,
    passphrase: str | Mapping[str, str] | None = None,
    status: KeyStatus = KeyStatus.ENABLED,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> list[Key]:
    """Load OpenPGP keys (armored or binary, public or secret, one or several) as pgp keys.

    Args:
        data: key data, or a sequence of them; armored input may hold several blocks.
        passphrase: unlocks protected secret keys once, here; a string for all keys or
            ``{fingerprint: passphrase}``.
        status: status of every loaded key.
        not_before / not_after: an extra validity window; the key's own expiry still bounds it.

    Returns:
        One `Key` per primary key: kid = the primary's fingerprint (40 upper-case hex digits),
        algorithms ``{"openpgp"}``, ``use`` None.

    Raises:
        KeySetError: malformed data, a key that is not RSA, RSA below 2048 bits, revoked, with
            no valid self-signature, with nothing that may sign or encrypt, present twice, or
            a protected secret key without the right passphrase. Expired keys load (their
            expiry is the key's ``not_after``), so they are never used to seal or to verify.
            The error has no ``__context__`` and its frames hold no passphrase.
    """
    failure: str | None = None
    try:
        keys = _load_keys(data, passphrase, status, not_before, not_after)
    except KeySetError as exc:
        failure = str(exc)
    # The error is raised afresh, after the except block and with the passphrase dropped from
    # this frame: no __context__ (pgpy's exception, whose frames hold the passphrase and key
    # material) and no frame holding secrets travels with it.
    passphrase = None
    if failure is not None:
        raise KeySetError(failure)
    return keys


def _load_keys(
    data: bytes | str | Sequence[bytes | str],
    passphrase: str | Mapping[str, str] | None,
    status: KeyStatus,
    not_before: datetime | None,
    not_after: datetime | None,
) -> list[Key]:
    from ._openpgp_pgpy import secret_keys

    keys: list[Key] = []
    seen: set[str] = set()
    for blob in _binary_inputs(data):
        for parsed in parse_keys(blob):
            kid = parsed.primary.hex
            if kid in seen:
                # Two copies of one key would be judged separately (a revocation in one copy
                # does not reach the other): refused, merge them with gpg first.
                raise KeySetError(f"key {kid} appears more than once in the key data")
            seen.add(kid)
            secrets: dict[bytes, rsa.RSAPrivateKey] = {}
            if parsed.secret_blob is not None:
                secrets = secret_keys(parsed, _passphrase_for(passphrase, kid))
            keys.append(
                Key(
                    kid=kid,
                    codec="pgp",
                    material=PGPMaterial(parsed, secrets),
                    algorithms=(OPENPGP,),
                    status=status,
                    not_before=not_before,
                    not_after=not_after,
                )
            )
    return keys


def _material(key: Key) -> PGPMaterial:
    material = key.material
    if not isinstance(material, PGPMaterial):
        raise KeySetError(f"key {key.kid!r} is not an OpenPGP key")
    return material


def key_to_pgp(key: Key, *, include_private: bool = False) -> bytes:
    """Export a pgp-codec key as ASCII armor: the public key unless ``include_private``.

    The private export is the secret key as it was loaded (still protected if it was).
    """
    blob = _material(key).export(include_private=include_private)
    return op.armor("PRIVATE KEY BLOCK" if include_private else "PUBLIC KEY BLOCK", blob)


#: Google's rules: keys expire within a year, two at most.
_MAX_LIFETIME: Final = timedelta(days=731)


def generate_pgp_key(
    *,
    uid: str,
    size: int = 3072,
    expires: timedelta = timedelta(days=365),
    passphrase: str | None = None,
) -> Key:
    """Generate an OpenPGP key the way Google asks for one.

    An RSA primary key (certify and sign) and one RSA encryption subkey, both expiring after
    ``expires`` (at most two years), preferring SHA384, AES256 and ZIP. With ``passphrase``
    the secret key is protected (AES256, iterated and salted S2K); the returned `Key` holds it
    unlocked, and `key_to_pgp(..., include_private=True)` exports it protected.

    Raises:
        KeySetError: ``size`` below 2048 or above 8192, or a lifetime outside (0, 2 years].
    """
    from ._openpgp_keys import MAX_RSA_BITS, MIN_RSA_BITS, build_secret_key
    from ._openpgp_pgpy import protect

    if not MIN_RSA_BITS <= size <= MAX_RSA_BITS:
        raise KeySetError(f"RSA-{size}: the size must be from {MIN_RSA_BITS} to {MAX_RSA_BITS}")
    if not timedelta(0) < expires <= _MAX_LIFETIME:
        raise KeySetError("an OpenPGP key must expire within two years (Google's rules)")
    if not uid or not uid.isprintable():
        raise KeySetError("uid must be a printable string such as 'Name <email>'")
    blob = build_secret_key(
        uid=uid,
        primary=rsa.generate_private_key(public_exponent=65537, key_size=size),
        subkey=rsa.generate_private_key(public_exponent=65537, key_size=size),
        created=int(time.time()),
        expires_after=int(expires.total_seconds()),
    )
    if passphrase is not None:
        blob = protect(blob, passphrase)
    (key,) = keys_from_pgp(blob, passphrase=passphrase)
    return key


# -- the codec ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Inner:
    data: bytes = field(repr=False)  # decrypted plaintext
    signatures: tuple[bytes, ...]
    compression: int | None


def _rsa_decrypt(key: rsa.RSAPrivateKey, value: bytes) -> bytes | None:
    """One private-key operation on a PKESK value (monkeypatched by the tests to count them).

    With cryptography's OpenSSL (>= 3.2) a bad PKCS#1 v1.5 padding yields a synthetic random
    message instead of an error (implicit rejection); the caller treats both alike.
    """
    size = (key.key_size + 7) // 8
    if len(value) > size:
        return None
    try:
        return key.decrypt(value.rjust(size, b"\x00"), _PKCS1)
    except ValueError:
        return None


class PGPCodec:
    """OpenPGP envelopes. See the module docstring for profiles and docs/pgp.md for policy."""

    name = "pgp"
    profiles = tuple(PROFILES)

    # -- seal ------------------------------------------------------------------------------
    def seal(self, request: SealRequest) -> bytes:
        """Sign with every usable signer key and encrypt to every usable recipient subkey."""
        profile = request.profile or "default"
        if profile not in PROFILES:
            raise UnsupportedCodec(f"unknown PGP profile {profile!r}; known: {sorted(PROFILES)}")
        now = int(request.now.timestamp())
        targets = self._recipients(request, now)
        signers = self._signers(request, now)
        literal = op.literal_packet(request.plaintext, when=now)
        sigs: list[bytes] = []
        ops: list[bytes] = []
        hashed_base = op.subpacket(op.SUB_CREATED, now.to_bytes(4, "big"))
        hasher = op.signature_hasher(SEAL_HASH)
        hasher.update(request.plaintext)  # once for every signer
        for i, (part, private) in enumerate(signers):
            hashed = (
                hashed_base
                + op.subpacket(op.SUB_ISSUER_FINGERPRINT, b"\x04" + part.fingerprint)
                + op.subpacket(op.SUB_ISSUER, part.keyid)
            )
            body = op.signature_body(
                private,
                sigtype=op.SIG_BINARY,
                hashalg=SEAL_HASH,
                hashed=hashed,
                unhashed=b"",
                hasher=hasher,
            )
            sigs.append(op.packet(op.TAG_SIGNATURE, body))
            # Nested one-pass signatures: the first signer's OPS is the innermost (last, with
            # the "last" flag), so its signature is the first after the literal data, the
            # order gpg writes for "-u first -u second".
            ops.insert(0, op.ops_packet(hashalg=SEAL_HASH, keyid=part.keyid, last=i == 0))
        inner = b"".join((*ops, literal, *sigs))
        algo = PROFILES[profile]
        if algo is not None:
            inner = op.packet(op.TAG_COMPRESSED, bytes((algo,)) + op.compress(algo, inner))
        session_key = os.urandom(op.SYMMETRIC_KEY_SIZES[SEAL_CIPHER])
        payload = op.session_key_payload(SEAL_CIPHER, session_key)
        out = [op.pkesk_packet(p.keyid, p.public_key, payload) for p in targets]
        out.append(op.encrypt_seipd(session_key, inner))
        return b64url_encode(b"".join(out))

    @staticmethod
    def _recipients(request: SealRequest, now: int) -> list[KeyPart]:
        targets: list[KeyPart] = []
        for key in request.recipients.enabled():
            if not key.usable_at(request.now):
                continue
            parts = _material(key).encryption_parts(now)
            if not parts:
                raise SealError(f"recipient key {key.kid} has no usable encryption subkey")
            targets.extend(parts)
        if not targets:
            raise SealError("no ENABLED, unexpired recipient key")
        if len(targets) > MAX_RECIPIENTS:
            raise SealError(f"more than {MAX_RECIPIENTS} recipient subkeys")
        return targets

    @staticmethod
    def _signers(request: SealRequest, now: int) -> list[tuple[KeyPart, rsa.RSAPrivateKey]]:
        if request.signer is None:
            return []
        signers = []
        for key in request.signer.enabled():
            if not key.usable_at(request.now) or not key.has_secret:
                continue
            found = _material(key).signing_part(now)
            if found is None:
                raise SealError(f"signer key {key.kid} has no usable signing key with a secret")
            signers.append(found)
        if not signers:
            raise SealError("no ENABLED, unexpired signer key with a private half")
        if len(signers) > MAX_SIGNATURES:
            raise SealError(f"more than {MAX_SIGNATURES} signer keys")
        return signers

    # -- open ------------------------------------------------------------------------------
    def open(self, request: OpenRequest) -> OpenResult:
        """Decrypt (key-id routing, bounded trial for wildcard ids), then verify any-of-N."""
        opened = self._decrypt_and_parse(request)
        if opened is None:
            # Raised here, outside any except block: no __context__ whose frames hold the
            # decrypted content travels with it.
            raise InvalidEnvelope
        decrypted_with, recipients, sym, inner = opened
        algs = ["RSA", op.SYMMETRIC_NAMES[sym]]
        if inner.compression is not None:
            algs.append(op.COMPRESSION_NAMES[inner.compression])
        if not inner.signatures:
            if not request.allow_unsigned:
                del inner, opened
                raise InvalidSignature
            return OpenResult(inner.data, self.name, decrypted_with, (), tuple(algs))
        verified, hashes = _verify(inner, request, recipients)
        if not verified:
            del inner, opened
            raise InvalidSignature
        algs.extend(h for h in hashes if h not in algs)
        return OpenResult(inner.data, self.name, decrypted_with, verified, tuple(algs))

    def _decrypt_and_parse(
        self, request: OpenRequest
    ) -> tuple[str, frozenset[bytes], int, _Inner] | None:
        """Identity kid, intended-recipient values that name it, cipher and the parsed
        content; None for anything malformed (the exception ends here, with its frames)."""
        try:
            message = _decode(request.envelope)
            decrypted_with, recipients, sym, content = self._decrypt(message, request)
            return (
                decrypted_with,
                recipients,
                sym,
                _parse_inner(content, request.limits.max_plaintext),
            )
        except op.Malformed:
            return None

    @staticmethod
    def _decrypt(message: bytes, request: OpenRequest) -> tuple[str, frozenset[bytes], int, bytes]:
        packets = op.read_packets(message, max_packets=_MAX_TOP_PACKETS)
        pkesks: list[tuple[bytes, bytes]] = []
        seipd: bytes | None = None
        for tag, body in packets:
            if seipd is not None:
                raise op.Malformed("packets after the encrypted data")
            if tag == op.TAG_PKESK:
                parsed = op.parse_pkesk(body)
                if parsed is not None:  # other algorithms or versions: for somebody else
                    pkesks.append((parsed[0], parsed[2]))
            elif tag == op.TAG_SEIPD:
                seipd = body
            elif tag != op.TAG_MARKER:
                # SED (tag 9, no integrity protection), SKESK (passwords), AEAD and
                # anything else: refused.
                raise op.Malformed("unsupported packet")
        if seipd is None or not pkesks or len(pkesks) > MAX_RECIPIENTS:
            raise op.Malformed("not a public-key encrypted message")
        if len(seipd) < 1 + 16 + 2 + 22 or seipd[0] != 1:
            raise op.Malformed("not SEIPD v1")
        for kid, recipients, private, value in _candidates(pkesks, request):
            plain = _rsa_decrypt(private, value)
            unwrapped = op.unwrap_session_key(plain) if plain is not None else None
            # RFC 3218 2.3.2: whatever went wrong, carry on with a random key, so a bad
            # padding, algorithm or checksum costs the same and ends the same as a wrong key.
            if unwrapped is None:
                unwrapped = (op.SYM_AES256, os.urandom(32))
            content = op.decrypt_seipd(unwrapped[1], seipd)
            if content is not None:
                return kid, recipients, unwrapped[0], content
        raise op.Malformed("no identity key decrypts this message")


def _decode(envelope: bytes) -> bytes:
    """Binary OpenPGP from padded/unpadded web-safe base64, raw binary or ASCII armor."""
    if envelope[:1] and envelope[0] & 0x80:
        return envelope  # binary packets: every header octet has bit 7 set, text never does
    start = _LEADING_SPACE.match(envelope)
    if envelope.startswith(_ARMOR_BEGIN, start.end() if start else 0):
        # Not stripped first: dearmor allows whitespace around the block, and a stripped
        # copy would be another max_envelope bytes.
        blocks = op.dearmor(envelope, max_blocks=1, strict=True)
        if len(blocks) != 1 or blocks[0][0] != "MESSAGE":
            raise op.Malformed("not one armored message")
        raw = blocks[0][1]
    else:
        try:
            raw = b64url_decode(envelope.strip())
        except ValueError:
            raise op.Malformed("not web-safe base64") from None
    if not raw[:1] or not raw[0] & 0x80:
        raise op.Malformed("not OpenPGP")
    return raw


def _recipient_values(material: PGPMaterial, part: KeyPart) -> frozenset[bytes]:
    """Intended-recipient subpacket values naming this identity key: the v4 fingerprint of its
    primary (RFC 9580 5.2.3.36), or of the decrypting subkey itself (accepted too: it names the
    same key, and some writers put the subkey there)."""
    return frozenset(b"\x04" + fpr for fpr in (material.parts[0].fingerprint, part.fingerprint))


def _candidates(
    pkesks: list[tuple[bytes, bytes]], request: OpenRequest
) -> Iterator[tuple[str, frozenset[bytes], rsa.RSAPrivateKey, bytes]]:
    """(identity kid, intended-recipient values naming it, private key, PKESK value) to try,
    never more than ``max_trials``.

    PKESKs naming one of our encryption subkeys are tried in identity order (primary first).
    Only when none names us, PKESKs with the all-zero "wildcard" key id (gpg --throw-keyids)
    are tried against our encryption subkeys, still within ``max_trials``; an envelope naming
    only unknown keys costs no private-key operation at all.
    """
    budget = request.limits.max_trials
    named: list[tuple[str, frozenset[bytes], rsa.RSAPrivateKey, bytes]] = []
    wildcards = [value for keyid, value in pkesks if keyid == b"\x00" * 8]
    for key in request.identities:
        material = key.material
        if not isinstance(material, PGPMaterial):
            continue
        for keyid, value in pkesks:
            found = material.decryption_part(keyid)
            if found is not None:
                part, private = found
                named.append((key.kid, _recipient_values(material, part), private, value))
    if named:
        yield from named[:budget]
        return
    for key in request.identities:
        material = key.material
        if not isinstance(material, PGPMaterial):
            continue
        for part, private in material.decryption_parts():
            for value in wildcards:
                if budget <= 0:
                    return
                budget -= 1
                yield key.kid, _recipient_values(material, part), private, value


def _parse_inner(content: bytes, max_plaintext: int) -> _Inner:
    """The decrypted content: [compressed(...)] one-pass signatures, literal, signatures."""
    cap = max_plaintext + _INNER_OVERHEAD
    packets = op.read_packets(content, max_packets=_MAX_INNER_PACKETS)
    compression = None
    if len(packets) == 1 and packets[0][0] == op.TAG_COMPRESSED:
        compression, content = op.decompress(packets[0][1], cap=cap)
        # One level of compression only: a compressed packet inside is refused below.
        packets = op.read_packets(content, max_packets=_MAX_INNER_PACKETS)
    ops = 0
    while ops < len(packets) and packets[ops][0] == op.TAG_OPS:
        op.parse_ops(packets[ops][1])
        ops += 1
    if ops >= len(packets) or packets[ops][0] != op.TAG_LITERAL:
        raise op.Malformed("expected literal data")
    _format, data = op.parse_literal(packets[ops][1])
    sigs = packets[ops + 1 :]
    if len(sigs) != ops or any(tag != op.TAG_SIGNATURE for tag, _ in sigs):
        raise op.Malformed("signatures do not match the one-pass signatures")
    if ops > MAX_SIGNATURES or len(data) > max_plaintext:
        raise op.Malformed("over a bound")
    return _Inner(data, tuple(body for _, body in sigs), compression)


def _verify(
    inner: _Inner, request: OpenRequest, recipients: frozenset[bytes]
) -> tuple[tuple[str, ...], list[str]]:
    """Kids of the sender keys with a valid signature (in signature order), and their hashes.

    Everything here runs after the MDC authenticated the content, so no failure is an oracle;
    a signature that is malformed, by an unknown key, or fails any check is simply not counted.
    A signature with intended-recipient fingerprints counts only when one of them names the
    identity key that decrypted (``recipients``): it was not made for somebody else and
    re-encrypted to us (surreptitious forwarding, RFC 9580 5.2.3.36 and 13.12).
    """
    now = int(request.now.timestamp())
    senders = [(k, k.material) for k in request.senders if isinstance(k.material, PGPMaterial)]
    hashers: dict[tuple[int, int], Any] = {}
    verified: list[str] = []
    hashes: list[str] = []
    for body in inner.signatures:
        try:
            sig = op.parse_signature(body)
        except op.Malformed:
            continue
        if (
            sig is None
            or sig.sigtype not in (op.SIG_BINARY, op.SIG_TEXT)
            or sig.hashalg not in OPEN_HASHES
            or sig.critical_unknown
            or sig.created is None
            or sig.created > now + CLOCK_SKEW
            or sig.expired_at(now)
            or (sig.intended_recipients and recipients.isdisjoint(sig.intended_recipients))
        ):
            continue
        hasher = hashers.get((sig.sigtype, sig.hashalg))
        if hasher is None:
            hasher = op.signature_hasher(sig.hashalg)
            hasher.update(_canonical(inner) if sig.sigtype == op.SIG_TEXT else inner.data)
            hashers[(sig.sigtype, sig.hashalg)] = hasher
        digest = op.finish_digest(hasher, sig.sigtype, sig.pkalg, sig.hashalg, sig.hashed)
        for key, part in _signers_of(sig, senders, now, request.limits.max_trials):
            if sig.created >= part.created and op.rsa_verify(part.public_key, sig, digest):
                if key.kid not in verified:
                    verified.append(key.kid)
                name = op.HASH_NAMES[sig.hashalg]
                if name not in hashes:
                    hashes.append(name)
                break
    return tuple(verified), hashes


def _signers_of(
    sig: op.Signature, senders: list[tuple[Key, PGPMaterial]], now: int, limit: int
) -> list[tuple[Key, KeyPart]]:
    """Sender parts that may have made ``sig``: by issuer fingerprint, else by issuer key id,
    else (a signature naming no key) the first ``limit`` signing parts."""
    if sig.issuer_fprs or sig.issuer_ids:
        ids = {f[-8:] for f in sig.issuer_fprs} | set(sig.issuer_ids)
        found = [
            (key, part)
            for key, material in senders
            for keyid in ids
            for part in material.verifying_parts(keyid, now)
            if not sig.issuer_fprs or part.fingerprint in sig.issuer_fprs
        ]
        return found[:limit]
    every = [(k, p) for k, m in senders for p in m.all_verifying_parts(now)]
    return every[:limit]


def _canonical(inner: _Inner) -> bytes:
    """Text signatures (type 0x01) are made over the text with CRLF line endings."""
    return inner.data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
