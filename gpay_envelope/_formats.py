"""Key formats, mapped to the codec package that reads and writes them.

The key model (`_keys`) names formats, never codec modules: its loaders and exporters
(`Key.from_jwk`, `Key.from_pem`, `KeySet.from_jwks`, `KeySet.from_pgp`, `Key.to_jwk`,
`Key.to_pgp`) hand over to the function this table names. The codec module is imported on first
use, so the key model imports no codec (the import graph in docs/architecture.md shows this
as a run-time edge), and `import gpay_envelope` loads neither joserfc nor pgpy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Final

__all__ = ["handler"]

_HANDLERS: Final = {
    "from_jwk": ("gpay_envelope.codecs.jwe._keyio", "key_from_jwk"),
    "from_jwks": ("gpay_envelope.codecs.jwe._keyio", "keys_from_jwks"),
    "from_pem": ("gpay_envelope.codecs.jwe._keyio", "key_from_pem"),
    "to_jwk": ("gpay_envelope.codecs.jwe._keyio", "key_to_jwk"),
    "from_pgp": ("gpay_envelope.codecs.pgp._load", "keys_from_pgp"),
    "to_pgp": ("gpay_envelope.codecs.pgp._load", "key_to_pgp"),
}


def handler(operation: str) -> Callable[..., Any]:
    """The codec function behind a key-model loader or exporter (``"from_pgp"``, ...)."""
    module, name = _HANDLERS[operation]
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function
