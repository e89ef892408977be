"""The OpenPGP codec: Google's PGP rules on a strict, bounded RFC 4880 subset.

`PGPCodec` seals and opens; `keys_from_pgp`, `key_to_pgp` and `generate_pgp_key` read, write
and make the keys it uses. The wire format lives in `wire`, key parsing and policy in
`_keys`, the key material in `_material`, and pgpy (secret key material only) in `_pgpy`.
"""

from __future__ import annotations

from ._advertised import advertised_findings
from ._codec import PROFILES, PGPCodec
from ._keys import KeyPart, build_public_key
from ._load import OPENPGP, generate_pgp_key, key_to_pgp, keys_from_pgp, split_revoked
from ._material import PGPMaterial

__all__ = [
    "OPENPGP",
    "PROFILES",
    "KeyPart",
    "PGPCodec",
    "PGPMaterial",
    "advertised_findings",
    "build_public_key",
    "generate_pgp_key",
    "key_to_pgp",
    "keys_from_pgp",
    "split_revoked",
]
