"""gpay_envelope: seal and open Google Pay partner-API payloads (PGP or JWE) with several keys
alive at once, so that key rotation is a data change and never an outage.

    import gpay_envelope as ge
    envelope = ge.seal(payload, recipients=google_keys, signer=our_keys, codec="pgp")
    payload = ge.open(envelope, identities=our_keys, senders=google_keys)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._api import open, open_detailed, seal
from ._keys import Key, KeySet, KeyStatus
from .codecs import DEFAULT_LIMITS, Codec, CodecRegistry, Limits, OpenResult, default_registry
from .errors import (
    EnvelopeError,
    InvalidEnvelope,
    InvalidSignature,
    KeyNotFound,
    KeySetError,
    KeyUnavailable,
    OpenError,
    SealError,
    TLSConfigError,
    UnsupportedCodec,
)

if TYPE_CHECKING:
    from .codecs.jwe import generate_key

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_LIMITS",
    "Codec",
    "CodecRegistry",
    "EnvelopeError",
    "InvalidEnvelope",
    "InvalidSignature",
    "Key",
    "KeyNotFound",
    "KeySet",
    "KeySetError",
    "KeyStatus",
    "KeyUnavailable",
    "Limits",
    "OpenError",
    "OpenResult",
    "SealError",
    "TLSConfigError",
    "UnsupportedCodec",
    "default_registry",
    "generate_key",
    "open",
    "open_detailed",
    "seal",
]


def __getattr__(name: str) -> Any:
    # generate_key lives with the JWE codec; reached here on first use, so that
    # `import gpay_envelope` does not load joserfc.
    if name == "generate_key":
        from .codecs.jwe import generate_key

        return generate_key
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
