"""Crafting JWEs and JWSs the codec would never make: any header, DEFLATE content sent as given,
and compact serialisations put together from raw segments."""

from __future__ import annotations

import json
from typing import Any

from joserfc import jwe, jws
from joserfc._rfc7516.models import JWEZipModel

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode, b64url_encode
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


def craft(header: dict[str, Any], payload: bytes, key: ge.Key) -> bytes:
    """Encrypt with exactly this header (our registry: all open algorithms, no warnings)."""
    registry = jx.registries(4 << 20, 8 << 20).jwe
    return jwe.encrypt_compact(header, payload, key.material.jose, registry=registry).encode()


def sign(header: dict[str, Any], payload: bytes, key: ge.Key) -> bytes:
    """A compact JWS with exactly this header, signed with ``key``."""
    registry = jx.registries(4 << 20, 8 << 20).jws
    return jws.serialize_compact(header, payload, key.material.jose, registry=registry).encode()


def header_of(token: bytes) -> dict[str, Any]:
    """The decoded protected header of a compact token."""
    seg = token.split(b".")[0]
    return json.loads(b64url_decode(seg))


def jws_compact(header: bytes, payload: bytes, sig: bytes) -> bytes:
    """A compact JWS from raw segments (header JSON, payload, signature), base64url-encoded."""
    return b".".join(b64url_encode(x, pad=False) for x in (header, payload, sig))
