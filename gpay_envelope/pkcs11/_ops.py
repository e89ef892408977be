"""`TokenRSAKey`: an RSA private key inside a token, behind the codecs' `RSAPrivateOps`.

The codecs hand over `cryptography` padding objects; each is mapped to the PKCS#11 mechanism
that does the same thing inside the token (PKCS#11 v2.40 "Current Mechanisms" section 2.1):
PKCS1v15 decryption is ``CKM_RSA_PKCS``, OAEP is ``CKM_RSA_PKCS_OAEP``, a PKCS#1 v1.5
signature over a prehashed digest is ``CKM_RSA_PKCS`` over the DER DigestInfo, otherwise
``CKM_SHA*_RSA_PKCS`` and ``CKM_SHA*_RSA_PKCS_PSS``.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from pkcs11 import MGF, Attribute, KeyType, Mechanism, ObjectClass

from ._oaep import oaep_decode
from ._token import NotOffered, Token
from ._uri import TokenURI

__all__ = ["TokenRSAKey"]

_HASH = {
    "sha1": Mechanism.SHA_1,
    "sha256": Mechanism.SHA256,
    "sha384": Mechanism.SHA384,
    "sha512": Mechanism.SHA512,
}
_MGF = {"sha1": MGF.SHA1, "sha256": MGF.SHA256, "sha384": MGF.SHA384, "sha512": MGF.SHA512}
_PKCS1_SIGN = {
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}
_PSS_SIGN = {
    "sha256": Mechanism.SHA256_RSA_PKCS_PSS,
    "sha384": Mechanism.SHA384_RSA_PKCS_PSS,
    "sha512": Mechanism.SHA512_RSA_PKCS_PSS,
}
# RFC 8017 section 9.2, note 1: the DER DigestInfo prefix of each hash.
_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


def _hash_name(algorithm: Any, table: dict[str, Any]) -> str:
    name = getattr(algorithm, "name", None)
    if name not in table:
        raise ValueError(f"hash {name!r} is not supported for a token key")
    return str(name)


class TokenRSAKey:
    """An RSA private key object in a token, found by its modulus (and the URI's label/id).

    Satisfies `gpay_envelope._keyops.RSAPrivateOps`. Holds the public half and the token
    connection only; the private key never leaves the token.
    """

    __slots__ = ("_handles", "_public", "_token", "_uri")

    def __init__(self, token: Token, public: rsa.RSAPublicKey, uri: TokenURI) -> None:
        self._token = token
        self._uri = uri
        self._public = public
        self._handles: dict[int, Any] = {}  # per session id: the key object found there

    @property
    def key_size(self) -> int:
        """The modulus size in bits."""
        return self._public.key_size

    def public_key(self) -> rsa.RSAPublicKey:
        """The public half."""
        return self._public

    @property
    def token(self) -> Token:
        """The token holding the private half."""
        return self._token

    def __repr__(self) -> str:
        return f"<TokenRSAKey RSA-{self.key_size} in {self._uri}>"

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("a token key is not pickled")

    def _key(self, session: Any) -> Any:
        found = self._handles.get(id(session))
        if found is not None and found[0] is session:
            return found[1]
        key = find_private_key(session, self._uri, self._public)
        if len(self._handles) > 64:  # sessions of earlier connections
            self._handles.clear()
        self._handles[id(session)] = (session, key)
        return key

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes:
        """RSA decryption inside the token. A refused ciphertext raises `ValueError`.

        OAEP with a SHA-2 hash on a token that offers OAEP with SHA-1 only: raw RSA in the
        token and the OAEP decoding here (`_oaep`); the token's refusal is remembered.
        """
        mechanism, param = _decrypt_mechanism(padding)
        if mechanism == Mechanism.RSA_PKCS_OAEP and param[0] != Mechanism.SHA_1:
            if not self._token.lacks_sha2_oaep:
                try:
                    return self._decrypt(ciphertext, mechanism, param)
                except NotOffered:
                    self._token.lacks_sha2_oaep = True
            raw = self._decrypt(ciphertext, Mechanism.RSA_X_509, None)
            return oaep_decode(raw, (self.key_size + 7) // 8, padding.algorithm)  # type: ignore[attr-defined]
        return self._decrypt(ciphertext, mechanism, param)

    def _decrypt(self, ciphertext: bytes, mechanism: Any, param: Any) -> bytes:
        return self._token.call(
            lambda s: bytes(
                self._key(s).decrypt(ciphertext, mechanism=mechanism, mechanism_param=param)
            ),
            decrypting=True,
        )

    def sign(
        self,
        data: bytes,
        padding: AsymmetricPadding,
        algorithm: hashes.HashAlgorithm | Prehashed,
    ) -> bytes:
        """An RSA signature made inside the token."""
        mechanism, param, message = _sign_mechanism(data, padding, algorithm, self.key_size)
        return self._token.call(
            lambda s: bytes(self._key(s).sign(message, mechanism=mechanism, mechanism_param=param))
        )


def find_private_key(session: Any, uri: TokenURI, public: rsa.RSAPublicKey) -> Any:
    """The one private RSA key object with ``public``'s modulus (and the URI's label / id)."""
    from ..errors import KeyUnavailable

    template: dict[Any, Any] = {
        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
        Attribute.KEY_TYPE: KeyType.RSA,
        Attribute.MODULUS: public.public_numbers().n.to_bytes((public.key_size + 7) // 8, "big"),
    }
    if uri.object is not None:
        template[Attribute.LABEL] = uri.object
    if uri.id is not None:
        template[Attribute.ID] = uri.id
    found = list(session.get_objects(template))
    if len(found) != 1:
        what = "no private key" if not found else "several private keys"
        raise KeyUnavailable(f"{what} in {uri} match the public key")
    return found[0]


def _decrypt_mechanism(pad: AsymmetricPadding) -> tuple[Any, Any]:
    if isinstance(pad, padding.PKCS1v15):
        return Mechanism.RSA_PKCS, None
    if isinstance(pad, padding.OAEP):
        if pad._label:
            raise ValueError("an OAEP label is not supported for a token key")
        name = _hash_name(pad.algorithm, _HASH)
        mgf_name = _hash_name(pad.mgf._algorithm, _MGF)
        return Mechanism.RSA_PKCS_OAEP, (_HASH[name], _MGF[mgf_name], None)
    raise ValueError(f"padding {pad.name} is not supported for decryption")


def _sign_mechanism(
    data: bytes, pad: AsymmetricPadding, algorithm: Any, key_size: int
) -> tuple[Any, Any, bytes]:
    prehashed = isinstance(algorithm, Prehashed)
    hash_alg = algorithm._algorithm if prehashed else algorithm
    if isinstance(pad, padding.PKCS1v15):
        name = _hash_name(hash_alg, _PKCS1_SIGN)
        if prehashed:
            return Mechanism.RSA_PKCS, None, _DIGEST_INFO[name] + data
        return _PKCS1_SIGN[name], None, data
    if isinstance(pad, padding.PSS) and not prehashed:
        name = _hash_name(hash_alg, _PSS_SIGN)
        salt: Any = pad._salt_length
        if salt is padding.PSS.DIGEST_LENGTH:
            salt = hash_alg.digest_size
        elif salt is padding.PSS.MAX_LENGTH:
            salt = (key_size + 7) // 8 - hash_alg.digest_size - 2
        if not isinstance(salt, int):
            raise ValueError("this PSS salt length is not supported for a token key")
        mgf_name = _hash_name(pad.mgf._algorithm, _MGF)
        return _PSS_SIGN[name], (_HASH[name], _MGF[mgf_name], salt), data
    raise ValueError(f"padding {pad.name} is not supported for signing with a token key")
