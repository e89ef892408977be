"""Everything the pgp codec asks of pgpy, in one place: reading secret key material (including
passphrase-protected keys) and protecting a new key with a passphrase. The message path never
touches pgpy.

pgpy 0.6 is unmaintained and has three known problems, contained here:

1. Warnings. It warns on import (``imghdr`` is deprecated, Python 3.11/3.12), on every use of a
   cipher (cryptography's CFB, TripleDES and Camellia aliases are deprecated), and with "TODO"
   UserWarnings. Every pgpy call below runs inside a local ``warnings.catch_warnings()``, under a
   lock (``catch_warnings`` is process-global state, so two threads must not interleave it);
   no filter is ever installed globally. pgpy runs only when keys are loaded or generated.
2. Deprecated cryptography aliases. pgpy reads ``algorithms.TripleDES``/``Camellia``/``CAST5``/
   ``IDEA``/``Blowfish`` and ``modes.CFB`` from ``cryptography.hazmat.primitives``, where they are
   deprecated and announced for removal (CFB, Camellia: 49.0; TripleDES: 48.0; still present in
   50.0.2). We point pgpy's two module references at ``cryptography.hazmat.decrepit``, their new
   home, so pgpy keeps working when the aliases go. The canary test
   (tests/codecs/pgp/test_pgpy_containment.py::test_pgpy_canary) fails loudly if a name pgpy
   needs disappears from either place.
3. Python 3.13 removed ``imghdr``, which pgpy 0.6.0 imports (only to sniff JPEG user
   attributes). When the module is missing, a tiny stand-in is registered before pgpy is
   imported; with it pgpy imports and works on 3.13 (the PGPy13 fork makes the same change).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ...errors import KeySetError
from . import wire as op
from ._keys import MAX_KEY_PACKETS, ParsedKey, _read_public

__all__ = ["load_pgpy", "needed_names", "protect", "secret_keys"]

_LOCK = threading.RLock()
_PGPY: types.ModuleType | None = None


def _imghdr_standin() -> types.ModuleType:
    """What pgpy 0.6.0 uses of ``imghdr`` (gone in Python 3.13): ``what(None, h=...)``."""
    mod = types.ModuleType("imghdr")

    def what(file: object, h: bytes | None = None) -> str | None:
        return "jpeg" if h is not None and h[6:10] in (b"JFIF", b"Exif") else None

    mod.what = what  # type: ignore[attr-defined]
    return mod


def _decrepit_namespaces() -> tuple[types.SimpleNamespace, types.SimpleNamespace]:
    from cryptography.hazmat.decrepit.ciphers import algorithms as old_alg
    from cryptography.hazmat.decrepit.ciphers import modes as old_modes
    from cryptography.hazmat.primitives.ciphers import algorithms as alg

    algorithms = types.SimpleNamespace(
        AES=alg.AES,
        Blowfish=old_alg.Blowfish,
        CAST5=old_alg.CAST5,
        Camellia=old_alg.Camellia,
        IDEA=old_alg.IDEA,
        TripleDES=old_alg.TripleDES,
    )
    return algorithms, types.SimpleNamespace(CFB=old_modes.CFB)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Run pgpy with its known warnings silenced, locally and one caller at a time."""
    with _LOCK, warnings.catch_warnings():
        # DeprecationWarning: importing imghdr; UserWarning: pgpy's "TODO" notes and
        # cryptography's CryptographyDeprecationWarning (a UserWarning subclass).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def load_pgpy() -> types.ModuleType:
    """Import pgpy once, with the imghdr stand-in and the decrepit cipher namespaces."""
    global _PGPY
    with _quiet():
        if _PGPY is None:
            if importlib.util.find_spec("imghdr") is None:
                # Python 3.13+: the module is gone (or blocked with a None entry).
                sys.modules["imghdr"] = _imghdr_standin()
            import pgpy
            import pgpy.constants
            import pgpy.symenc

            algorithms, modes = _decrepit_namespaces()
            pgpy.constants.algorithms = algorithms
            pgpy.symenc.modes = modes
            _PGPY = pgpy
        return _PGPY


def _private_key(material: Any, public: rsa.RSAPublicKey) -> rsa.RSAPrivateKey:
    numbers = public.public_numbers()
    n, e = int(material.n), int(material.e)
    p, q, d = int(material.p), int(material.q), int(material.d)
    if (n, e) != (numbers.n, numbers.e) or p * q != n:
        raise ValueError("secret key does not match its public key")
    # Built once and validated once (cryptography checks the key here); pgpy rebuilds and
    # re-validates on every operation, which is where 93 % of its time went.
    return rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), numbers
    ).private_key()


def secret_keys(parsed: ParsedKey, passphrase: str | None) -> dict[bytes, rsa.RSAPrivateKey]:
    """The private keys of ``parsed``'s primary and subkeys, by key id.

    Parts stored without secret material (gpg's ``--export-secret-subkeys`` stubs) are
    skipped. Raises `KeySetError` when a protected part cannot be unlocked; that error is
    raised afresh, with no ``__context__`` (pgpy's exception, whose frames hold the passphrase
    and key material) and with the passphrase dropped from this frame.
    """
    out, failure = _unlock(parsed, passphrase)
    passphrase = None
    if failure is not None:
        raise KeySetError(failure)
    return out


def _unlock(
    parsed: ParsedKey, passphrase: str | None
) -> tuple[dict[bytes, rsa.RSAPrivateKey], str | None]:
    """`secret_keys`' work: the keys, or the error message (never an exception)."""
    assert parsed.secret_blob is not None
    what = f"key {parsed.primary.hex}"
    wanted = {p.hex: p for p in parsed.parts}
    pgpy = load_pgpy()
    out: dict[bytes, rsa.RSAPrivateKey] = {}
    protected = False
    with _quiet():
        blob = _key_packets(parsed.secret_blob)
        if _aead_protected(blob):
            return {}, (
                f"{what} is protected with AEAD (S2K usage 253, RFC 9580), which this version "
                "does not read: export it with the usual protection (OpenPGP.js: without "
                "aeadProtect; gpg, sq: their default)"
            )
        try:
            key, _ = pgpy.PGPKey.from_blob(blob)
        except Exception:
            return {}, f"{what}: the secret key could not be read"
        pieces = [key, *key.subkeys.values()]
        for piece in pieces:
            part = wanted.get(str(piece.fingerprint).replace(" ", "").upper())
            packet = piece._key
            material = packet.keymaterial
            s2k = getattr(material, "s2k", None)
            if part is None or s2k is None or _is_stub(pgpy, s2k):
                continue
            if packet.protected and passphrase is None:
                return {}, f"{what} is passphrase-protected; pass passphrase="
            protected = protected or packet.protected
            try:
                if packet.protected:
                    packet.unprotect(passphrase)
                out[part.keyid] = _private_key(material, part.public_key)
            except Exception:
                return {}, f"{what}: wrong passphrase or damaged secret key"
            finally:
                if packet.protected:
                    material.clear()
    if out and passphrase is not None and not protected:
        # A passphrase meant for this key that protects nothing is a mistake to report: the
        # key file on disk is unprotected, or the passphrase is meant for another key.
        return {}, f"{what} is not passphrase-protected, but a passphrase was given for it"
    return out, None


def _key_packets(blob: bytes) -> bytes:
    """Only the secret key packet and the RSA secret subkey packets of a transferable key.

    pgpy needs nothing else to read the secret material, and what else a key holds is ours
    to judge (`_keys` checks every binding): pgpy 0.6 raises on preference values it does
    not know (OpenPGP.js 6 lists SHA3-256 and SHA3-512 among its preferred hashes), where
    RFC 9580 says unknown values are ignored. Given no user IDs and no signatures, it never
    reads a preference at all. It also raises on public-key algorithms it does not know
    (RFC 9580's X25519 and Ed25519 among them); `_keys` leaves out every subkey that is not
    a v4 RSA key, so pgpy is not given those either. The primary is a v4 RSA key, or the key
    was refused before.
    """
    packets = op.read_packets(blob, max_packets=MAX_KEY_PACKETS)
    return b"".join(
        op.packet(tag, body)
        for tag, body in packets
        if tag == op.TAG_SECRET_KEY or (tag == op.TAG_SECRET_SUBKEY and _v4_rsa(body))
    )


def _v4_rsa(body: bytes) -> bool:
    """Whether a subkey packet is one `_keys` reads (a v4 RSA key); it drops all others."""
    try:
        return _read_public(body, "a secret subkey") is not None
    except KeySetError:
        return False


#: The S2K usage octet of a secret key packet protected with AEAD (RFC 9580 3.7.2.1).
_S2K_USAGE_AEAD = 253


def _aead_protected(blob: bytes) -> bool:
    """Whether any secret (sub)key packet of ``blob`` is AEAD-protected: pgpy 0.6 would call
    that a wrong passphrase."""
    for _tag, body in op.read_packets(blob, max_packets=MAX_KEY_PACKETS):
        # The S2K usage octet follows the public part; subkeys of other algorithms are not
        # ours to read (`_keys` leaves them out), whatever protects them.
        raw = _read_public(body, "a secret key")
        if raw is not None and body[raw.public_len : raw.public_len + 1] == bytes(
            (_S2K_USAGE_AEAD,)
        ):
            return True
    return False


def _is_stub(pgpy: types.ModuleType, s2k: Any) -> bool:
    gnu = pgpy.constants.String2KeyType.GNUExtension
    return bool(s2k) and s2k.specifier == gnu


def protect(blob: bytes, passphrase: str) -> bytes:
    """Protect a transferable secret key with ``passphrase`` (AES256, iterated and salted
    SHA256 S2K, SHA-1 checksum: S2K usage 254), as gpg and every peer read it."""
    pgpy = load_pgpy()
    c = pgpy.constants
    with _quiet():
        key, _ = pgpy.PGPKey.from_blob(blob)
        key.protect(passphrase, c.SymmetricKeyAlgorithm.AES256, c.HashAlgorithm.SHA256)
        out: bytes = bytes(key)
    return out


def needed_names() -> Mapping[str, Callable[[], object]]:
    """The cryptography names pgpy 0.6 relies on, for the canary test."""

    def attr(module: str, name: str) -> Callable[[], object]:
        return lambda: getattr(importlib.import_module(module), name)

    dec_alg = "cryptography.hazmat.decrepit.ciphers.algorithms"
    names = {
        f"{dec_alg}.{n}": attr(dec_alg, n)
        for n in ("Blowfish", "CAST5", "Camellia", "IDEA", "TripleDES")
    }
    names["cryptography.hazmat.decrepit.ciphers.modes.CFB"] = attr(
        "cryptography.hazmat.decrepit.ciphers.modes", "CFB"
    )
    names["cryptography.hazmat.backends.openssl.backend"] = attr(
        "cryptography.hazmat.backends.openssl", "backend"
    )
    names["cryptography.hazmat.bindings.openssl.binding.Binding"] = attr(
        "cryptography.hazmat.bindings.openssl.binding", "Binding"
    )
    return names
