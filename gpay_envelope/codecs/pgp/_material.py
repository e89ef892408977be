"""PGPMaterial: a parsed, policy-checked OpenPGP key with its private-key operations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, NoReturn

from ..._keyops import RSAPrivateOps
from ...errors import KeySetError
from ._keys import KeyPart, ParsedKey

__all__ = ["PGPMaterial"]


class PGPMaterial:
    """An OpenPGP key for the pgp codec: the parsed, policy-checked primary and subkeys with
    their `cryptography` key objects, built once at load (no per-operation rebuilding).

    Satisfies the `KeyMaterial` protocol. Never printed with secrets, never pickled.
    """

    __slots__ = ("_dec", "_parsed", "_secrets", "_sig_ids")

    def __init__(self, parsed: ParsedKey, secrets: Mapping[bytes, RSAPrivateOps]) -> None:
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

    def check_binding(self, kid: str, use: str | None, algorithms: frozenset[str]) -> None:
        """Nothing to check: what an OpenPGP key may do is fixed by its key flags, which the
        parser already checked, not by algorithm names."""

    def public(self) -> PGPMaterial:
        """The same key without private halves."""
        if not self._secrets and self._parsed.secret_blob is None:
            return self
        p = self._parsed
        public = ParsedKey(p.primary, p.subkeys, p.user_ids, p.public_blob, None, p.preferences)
        return PGPMaterial(public, {})

    def with_secrets(self, secrets: Mapping[bytes, RSAPrivateOps]) -> PGPMaterial:
        """The same public key with private halves held elsewhere (a token), by key id."""
        return PGPMaterial(self.public()._parsed, secrets)

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
    def preferences(self) -> dict[int, bytes]:
        """What the key's self-signatures ask peers to send: preference and feature
        subpacket values by subpacket type (`wire.PREFERENCE_SUBPACKETS`)."""
        return dict(self._parsed.preferences)

    @property
    def parts(self) -> tuple[KeyPart, ...]:
        """Primary first, then every subkey with a valid binding."""
        return self._parsed.parts

    def encryption_parts(self, when: int) -> list[KeyPart]:
        """Parts a sender may encrypt to at ``when``: encryption flags, bound, unexpired,
        unrevoked."""
        return [p for p in self._parsed.parts if p.can_encrypt() and p.valid_at(when)]

    def signing_part(self, when: int) -> tuple[KeyPart, RSAPrivateOps] | None:
        """The part to sign with at ``when``: the newest usable signing subkey we hold the
        secret for (gpg's choice), else the primary when its flags allow signing."""
        subs = [p for p in self._parsed.subkeys if self._may_sign_with(p, when)]
        if subs:
            best = max(subs, key=lambda p: p.created)
            return best, self._secrets[best.keyid]
        primary = self._parsed.primary
        if self._may_sign_with(primary, when):
            return primary, self._secrets[primary.keyid]
        return None

    def _may_sign_with(self, part: KeyPart, when: int) -> bool:
        # The signature will be dated ``when``: it must lie in the part's life (and the
        # primary's), or the signature would not count (`signers_at`), here or at the peer.
        return (
            part.can_sign()
            and part.valid_at(when)
            and part.alive_at(when)
            and self._parsed.primary.alive_at(when)
            and part.keyid in self._secrets
        )

    def decryption_key(self, keyid: bytes) -> RSAPrivateOps | None:
        """The private key of the encryption part with this key id, if we hold it."""
        return self._secrets.get(keyid) if keyid in self._dec else None

    def decryption_part(self, keyid: bytes) -> tuple[KeyPart, RSAPrivateOps] | None:
        """The encryption part with this key id and its private key, if we hold it."""
        part = self._dec.get(keyid)
        return None if part is None else (part, self._secrets[keyid])

    def decryption_keys(self) -> list[RSAPrivateOps]:
        """Private keys of every encryption part we hold (for wildcard key ids), newest first."""
        return [private for _, private in self.decryption_parts()]

    def decryption_parts(self) -> list[tuple[KeyPart, RSAPrivateOps]]:
        """Every encryption part we hold with its private key, newest first."""
        parts = sorted(self._dec.values(), key=lambda p: -p.created)
        return [(p, self._secrets[p.keyid]) for p in parts]

    def verifying_parts(self, keyid: bytes, when: int) -> list[KeyPart]:
        """Signing-capable parts with this key id that are usable at ``when``."""
        return [p for p in self._sig_ids.get(keyid, ()) if p.valid_at(when)]

    def all_verifying_parts(self, when: int) -> list[KeyPart]:
        """Every signing-capable part usable at ``when``, primary first."""
        return [p for p in self._parsed.parts if p.can_sign() and p.valid_at(when)]

    def signers_at(self, created: int, now: int) -> list[KeyPart]:
        """Parts that may have made a signature dated ``created`` that counts at ``now``:
        signing-capable and usable at ``now`` (`all_verifying_parts`), and ``created`` within
        the part's life and the primary's (`KeyPart.alive_at`: from creation to expiry, which
        for a subkey includes its binding's expiry; no clock skew)."""
        if not self._parsed.primary.alive_at(created):
            return []
        return [p for p in self.all_verifying_parts(now) if p.alive_at(created)]

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
