"""What the framework-glue tests share: the partner's keys as key files and manifests on disk
(the glue's settings name manifests), and a rotation step on them.

The keys are conftest's JWE parties; the server view is adapter_harness's.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import JWEParty

import gpay_envelope as ge
from gpay_envelope.adapters import Keys
from gpay_envelope.keystore import add_key, init_manifest

ROLES = ("identities", "senders", "signer", "recipients")


def _write_jwks(path: Path, keys: list[ge.Key]) -> Path:
    jwks = {"keys": [k.to_jwk(include_private=k.has_secret) for k in keys]}
    path.write_text(json.dumps(jwks))
    path.chmod(0o600)
    return path


def write_manifests(folder: Path, keys: Keys) -> dict[str, Path]:
    """One key file and one manifest per role of ``keys``, holding that set's primary alone;
    returns role -> manifest path."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for role in ROLES:
        primary = getattr(keys, role).primary
        key_file = _write_jwks(folder / f"{role}.jwks.json", [primary])
        out[role] = folder / f"{role}.keyset.json"
        init_manifest(out[role], key_file, kid=primary.kid)
    return out


def add_identity(manifests: dict[str, Path], partner: JWEParty, kid: str) -> None:
    """Rotation step "add": the partner's identity key ``kid`` joins its identities manifest."""
    key = next(k for k in partner.identities if k.kid == kid)
    folder = manifests["identities"].parent
    add_key(manifests["identities"], _write_jwks(folder / f"{kid}.jwks.json", [key]), kid=kid)


def config_of(manifests: dict[str, Path]) -> dict[str, str]:
    """The four manifest settings, named as the glue's settings name them."""
    return {role.upper(): str(path) for role, path in manifests.items()}
