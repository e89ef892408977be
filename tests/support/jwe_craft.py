"""Crafting JWEs the codec would never make: any header, and DEFLATE content sent as given."""

from __future__ import annotations

from typing import Any

from joserfc import jwe
from joserfc._rfc7516.models import JWEZipModel

import gpay_envelope as ge
from gpay_envelope.codecs.jwe import _joserfc as jx


class PassThrough(JWEZipModel):
    """The content handed to encrypt_compact is already the DEFLATE stream (or garbage)."""

    name = "DEF"
    description = "pass-through, for crafting"

    def compress(self, s: bytes) -> bytes:
        return s

    def decompress(self, s: bytes) -> bytes:
        return s


def craft_raw(header: dict[str, Any], content: bytes, key: ge.Key) -> bytes:
    """A compact JWE with exactly this header; with ``zip`` the content is sent as it is."""
    registry = jx.OpenJWERegistry(max_ciphertext=1 << 24, inflate_cap=1 << 20)
    raw = PassThrough()
    registry.get_zip = lambda name: raw  # type: ignore[method-assign]
    return jwe.encrypt_compact(header, content, key.material.jose, registry=registry).encode()
