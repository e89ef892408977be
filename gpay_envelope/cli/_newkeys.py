"""The files a new key is written as (``keys generate`` and the demo): a secret file, 0600,
that stays on the partner's servers, and a public file, 0644, to send to Google."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .._keys import Key
from ..codecs.jwe import generate_key
from ._common import Output

SECRET_MODE, PUBLIC_MODE = 0o600, 0o644


def generate_pgp(
    *, uid: str, bits: int, days: int, passphrase: str | None
) -> tuple[Key, bytes, bytes]:
    """A new OpenPGP key, its armored secret key (protected when ``passphrase`` is given) and
    its armored public key."""
    from ..codecs.pgp import generate_pgp_key, key_to_pgp  # pgpy loads slowly: only when needed

    key = generate_pgp_key(uid=uid, size=bits, expires=timedelta(days=days), passphrase=passphrase)
    return key, key_to_pgp(key, include_private=True), key_to_pgp(key)


def pgp_paths(folder: Path, name: str) -> list[Path]:
    """Where `pgp_outputs` writes: the secret file, then the public file."""
    return [folder / f"{name}.secret.asc", folder / f"{name}.public.asc"]


def pgp_outputs(
    folder: Path, name: str, *, uid: str, bits: int, days: int, passphrase: str | None
) -> tuple[Key, list[Output]]:
    """A new OpenPGP key and its two files, named after ``name`` in ``folder``."""
    key, secret, public = generate_pgp(uid=uid, bits=bits, days=days, passphrase=passphrase)
    protection = "passphrase-protected" if passphrase else "not passphrase-protected"
    secret_path, public_path = pgp_paths(folder, name)
    return key, [
        Output(
            secret_path,
            secret,
            SECRET_MODE,
            f"secret key ({protection}): stays on your servers",
        ),
        Output(public_path, public, PUBLIC_MODE, "public key: send it to Google"),
    ]


def _jwk_json(keys: Sequence[dict[str, Any]]) -> bytes:
    return (json.dumps({"keys": list(keys)}, indent=2) + "\n").encode("ascii")


def jwe_kid(name: str, use: str, kid: str | None) -> str:
    """The kid of a new JWE key: the one asked for, else ``NAME-USE``."""
    return kid or f"{name}-{use}"


def jwe_paths(folder: Path, name: str, *, uses: Sequence[str], kid: str | None) -> list[Path]:
    """Where `jwe_outputs` writes: a secret JWK Set per key, then the public JWK Set."""
    paths = [folder / f"{jwe_kid(name, use, kid)}.secret.jwks.json" for use in uses]
    paths.append(folder / f"{name}.public.jwks.json")
    return paths


def jwe_outputs(
    folder: Path,
    name: str,
    *,
    uses: Sequence[str],
    kid: str | None,
    bits: int,
    days: int,
    legacy: bool,
    now: datetime,
) -> tuple[list[Key], list[Output]]:
    """New JWE keys, one per use, and their files: a secret JWK Set per key and one public
    JWK Set holding them all."""
    *secret_paths, public_path = jwe_paths(folder, name, uses=uses, kid=kid)
    keys: list[Key] = []
    outputs: list[Output] = []
    for use, path in zip(uses, secret_paths, strict=True):
        key = generate_key(
            kid=jwe_kid(name, use, kid),
            use=use,
            size=bits,
            algorithms=("RSA1_5",) if legacy and use == "enc" else None,
            not_after=now + timedelta(days=days),
        ).with_validity(not_before=now.replace(microsecond=0))
        keys.append(key)
        outputs.append(
            Output(
                path,
                _jwk_json([key.to_jwk(include_private=True)]),
                SECRET_MODE,
                f"secret {use} key: stays on your servers",
            )
        )
    outputs.append(
        Output(
            public_path,
            _jwk_json([k.to_jwk() for k in keys]),
            PUBLIC_MODE,
            "public keys (JWK Set): send it to Google",
        )
    )
    return keys, outputs
