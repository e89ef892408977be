"""Public test helpers for code that uses gpay_envelope: fresh key sets and a fake codec.

Nothing here is for production: `FakeCodec` provides no confidentiality or authenticity at all.
"""

from __future__ import annotations

from . import _rotation
from ._b64 import b64url_decode, b64url_encode
from ._keys import Key, KeySet
from .codecs import CodecRegistry, OpenRequest, OpenResult, SealRequest
from .codecs.jwe import generate_key
from .errors import InvalidEnvelope, InvalidSignature

__all__ = ["FakeCodec", "fake_registry", "make_jwe_keysets"]

_EVERY_JWE_KEY_ALG = ("RSA-OAEP-256", "RSA-OAEP", "RSA1_5")


def make_jwe_keysets(
    prefix: str = "test", *, keys: int = 2, bits: int = 2048, legacy: bool = True
) -> tuple[KeySet, KeySet]:
    """Fresh JWE key sets for tests: ``(decryption keys, signing keys)``, ``keys`` of each,
    the first one primary. RSA-2048 by default, for speed.

    With ``legacy`` (the default) the decryption keys are bound to RSA-OAEP-256, RSA-OAEP and
    RSA1_5 on purpose, so that one set serves every profile (``signed``, ``legacy``,
    ``legacy-a128``) in a test. Production keys are not bound that way: ``legacy=True`` on
    `generate_key` binds RSA1_5 only (docs/security.md). Throwaway test keys face no padding
    oracle. ``legacy=False`` gives the production default, RSA-OAEP-256 and RSA-OAEP.
    """
    algorithms = _EVERY_JWE_KEY_ALG if legacy else None
    enc = [
        generate_key(kid=f"{prefix}-enc-{i}", use="enc", size=bits, algorithms=algorithms)
        for i in range(1, keys + 1)
    ]
    sig = [generate_key(kid=f"{prefix}-sig-{i}", use="sig", size=bits) for i in range(1, keys + 1)]
    return KeySet(enc, primary=enc[0].kid), KeySet(sig, primary=sig[0].kid)


class FakeCodec:
    """A reversible codec without any cryptography, for testing adapters and plumbing.

    It honours the main key rules (primary, ENABLED keys, routing by key id, signer checks), so
    code under test sees the errors it would see with a real codec; it does not check key use
    or algorithm binding. It reuses the key sets of
    another codec: set ``name`` to that codec's name ("jwe" by default).
    """

    profiles: tuple[str, ...] = ("fake",)
    fan_out = False

    def __init__(self, name: str = "jwe") -> None:
        self.name = name

    def seal(self, request: SealRequest) -> bytes:
        """``FAKE.<recipient kid>.<signer kid>.<payload>``, all base64url."""
        rk = request.recipients[0]
        signer = request.signers[0].kid if request.signers else ""
        parts = [rk.kid.encode(), signer.encode(), request.plaintext]
        return b"FAKE." + b".".join(b64url_encode(p, pad=False) for p in parts)

    def open(self, request: OpenRequest) -> OpenResult:
        """Reverse `seal`, with the same routing and signer rules as the real codecs."""
        try:
            tag, rkid, skid, body = request.envelope.split(b".")
            if tag != b"FAKE":
                raise ValueError
            kid, signer, plaintext = (b64url_decode(p) for p in (rkid, skid, body))
            kid_s, signer_s = kid.decode(), signer.decode()
        except ValueError:
            raise InvalidEnvelope from None
        found = [
            key
            for _, key in _rotation.attempts(
                (kid_s,), request.identities, names=_names, budget=request.trials
            )
        ]
        if not found:
            raise InvalidEnvelope from None
        request.trace.decrypted_with = found[0].kid
        if not signer_s:
            if not request.allow_unsigned:
                raise InvalidSignature from None
            return OpenResult(plaintext, self.name, found[0].kid, (), ("fake",))
        if not any(k.kid == signer_s for k in request.senders):
            raise InvalidSignature from None
        return OpenResult(plaintext, self.name, found[0].kid, (signer_s,), ("fake",))


def _names(kid: str, key: Key) -> bool:
    return key.kid == kid


def fake_registry(name: str = "jwe") -> CodecRegistry:
    """A registry whose ``name`` codec is a `FakeCodec`."""
    reg = CodecRegistry()
    reg.register(name, lambda: FakeCodec(name))
    return reg
