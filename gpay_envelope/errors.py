"""The errors gpay_envelope raises.

::

    EnvelopeError
    ├── SealError                 cannot produce an envelope (no usable key, expired primary, ...)
    ├── OpenError
    │   ├── InvalidEnvelope       malformed, tampered, no matching identity, disallowed
    │   │                         algorithm, over a size cap: one fixed message, raised
    │   │                         ``from None``
    │   └── InvalidSignature      decrypted fine, but no valid signature by an ENABLED sender
    │                             (HTTP 401 in Google's protocol; raised only after
    │                             authenticated decryption, so it is no padding oracle)
    ├── KeySetError (ValueError)  empty set, duplicate kid, no/several primaries, weak key
    │   ├── KeyNotFound (LookupError)
    │   └── KeyRevoked            an OpenPGP key carries a valid revocation
    ├── UnsupportedCodec (LookupError)
    └── TLSConfigError (ValueError)

Programming errors stay builtins: a ``str`` where ``bytes`` are needed is a ``TypeError``.

Every message here is written by this library. None carries key material, plaintext or the
text of a lower-level exception, and the untrusted-input errors carry no detail at all: the
peer that sent a bad envelope learns nothing about which check failed.
"""

from __future__ import annotations

__all__ = [
    "EnvelopeError",
    "InvalidEnvelope",
    "InvalidSignature",
    "KeyNotFound",
    "KeyRevoked",
    "KeySetError",
    "KeyUnavailable",
    "OpenError",
    "SealError",
    "TLSConfigError",
    "UnsupportedCodec",
]


class EnvelopeError(Exception):
    """Base class of every error this library raises on purpose."""


class SealError(EnvelopeError):
    """An envelope could not be produced: no usable key, expired primary, payload over a cap."""


class OpenError(EnvelopeError):
    """An envelope could not be opened."""


class InvalidEnvelope(OpenError):
    """The envelope is malformed, tampered with, too large, uses a disallowed algorithm or is
    not addressed to any usable identity key.

    The message is always the same, on purpose: which check failed is not revealed.
    """

    MESSAGE = "invalid envelope"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)

    def __reduce__(self) -> tuple[type[InvalidEnvelope], tuple[()]]:
        # Picklable, so one bad envelope cannot break a process pool that runs open().
        return (type(self), ())


class InvalidSignature(OpenError):
    """The envelope decrypted and authenticated, but carries no valid signature made by an
    ENABLED, unexpired sender key (Google's protocol answers this with HTTP 401).
    """

    MESSAGE = "no valid signature by a trusted sender key"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)

    def __reduce__(self) -> tuple[type[InvalidSignature], tuple[()]]:
        return (type(self), ())


class KeySetError(EnvelopeError, ValueError):
    """A key or key set breaks an invariant: empty set, duplicate kid, no or several primaries,
    weak key, unreadable key file. The message names the problem, never the key material.
    """


class KeyNotFound(KeySetError, LookupError):
    """No key with the requested kid is in the set."""


class KeyRevoked(KeySetError):
    """An OpenPGP key carries a valid revocation signature by its own primary key, so it is
    never used. ``kids`` are the fingerprints of the revoked keys (empty when unknown).
    """

    def __init__(self, message: str, *, kids: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.kids = kids


class KeyUnavailable(EnvelopeError):
    """A private key held outside the process (a PKCS#11 token) cannot be reached now: the
    token is absent, was reset, refused the PIN or the session. Not a verdict on the
    envelope; the next operation reconnects. The message names the token, never the PIN.
    """


class UnsupportedCodec(EnvelopeError, LookupError):
    """The codec or profile name is unknown to the registry in use."""


class TLSConfigError(EnvelopeError, ValueError):
    """A TLS context cannot be built as requested (missing file, disallowed setting)."""
