"""The pluggable codec layer (hazmat): keys in, bytes out, no rotation policy of its own.

A codec turns plaintext into an envelope for the keys it is handed and back. Which keys those
are, in which order they are tried and how many (`gpay_envelope._rotation`), the size caps and
the error contract (`gpay_envelope.seal` / `gpay_envelope.open`) are decided above it: every
codec gets the same `SealRequest` / `OpenRequest`, reports the key hints an envelope carries
to `_rotation.attempts`, and performs the operations. A codec raises `InvalidEnvelope` for
anything wrong with untrusted input before or at decryption and `InvalidSignature` after it;
anything else it lets escape is turned into `InvalidEnvelope` by the caller.
"""

from __future__ import annotations

from ._protocol import (
    DEFAULT_LIMITS,
    Codec,
    Limits,
    OpenRequest,
    OpenResult,
    OpenTrace,
    SealRequest,
)
from ._registry import CodecRegistry, default_registry

__all__ = [
    "DEFAULT_LIMITS",
    "Codec",
    "CodecRegistry",
    "Limits",
    "OpenRequest",
    "OpenResult",
    "OpenTrace",
    "SealRequest",
    "default_registry",
]
