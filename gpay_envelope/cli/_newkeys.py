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
from ._common import Output, UsageError

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


def token_outputs(
    folder: Path,
    name: str,
    *,
    codec: str,
    uri: str,
    uid: str | None,
    uses: Sequence[str],
    kid: str | None,
    bits: int,
    days: int,
    legacy: bool,
    pin_env: str | None,
    pin_file: str | None,
) -> tuple[list[Key], list[Output]]:
    """New keys made in the PKCS#11 token ``uri`` (non-extractable) and their one public
    file; there is no secret file, the private halves stay in the token."""
    try:
        from ..pkcs11 import generate_token_key
    except ImportError:
        raise UsageError(
            "--pkcs11 needs the pkcs11 extra: pip install 'gpay-envelope[pkcs11]'"
        ) from None
    if codec == "pgp":
        key, public = generate_token_key(
            uri,
            codec="pgp",
            uid=uid,
            size=bits,
            expires=timedelta(days=days),
            pin_env=pin_env,
            pin_file=pin_file,
        )
        path = pgp_paths(folder, name)[1]
        return [key], [Output(path, public, PUBLIC_MODE, "public key: send it to Google")]
    keys = [
        generate_token_key(
            uri,
            codec="jwe",
            kid=jwe_kid(name, use, kid),
            size=bits,
            use=use,
            legacy=legacy and use == "enc",
            expires=timedelta(days=days),
            pin_env=pin_env,
            pin_file=pin_file,
        )[0]
        for use in uses
    ]
    path = jwe_paths(folder, name, uses=uses, kid=kid)[-1]
    text = _jwk_json([k.to_jwk() for k in keys])
    return keys, [Output(path, text, PUBLIC_MODE, "public keys (JWK Set): send it to Google")]


def token_entry_text(path: Path, uri: str, pin_env: str | None, pin_file: str | None) -> str:
    """What ``keys generate --pkcs11`` prints: the keyset manifest entry of the token key."""
    pin = {"env": pin_env} if pin_env else {"file": pin_file}
    entry = {"file": str(path), "pkcs11": uri, "pin": pin}
    return (
        "\nthe private halves stay in the token; a keyset manifest entry for them "
        f"(docs/hsm.md):\n  {json.dumps(entry)}\n"
    )
