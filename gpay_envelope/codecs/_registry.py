"""CodecRegistry: codec names to codec factories, per instance; the default registry."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UnsupportedCodec
from ._protocol import Codec

__all__ = ["CodecRegistry", "default_registry"]


class CodecRegistry:
    """Codec names to codec factories, per instance (no class-level state).

    Factories run on first use, so a codec whose dependency is missing costs nothing until
    somebody asks for it.
    """

    def __init__(self) -> None:
        self._factories: dict[str, Callable[[], Codec]] = {}
        self._codecs: dict[str, Codec] = {}

    def register(self, name: str, factory: Callable[[], Codec]) -> None:
        """Register (or replace) the codec called ``name``."""
        self._factories[name] = factory
        self._codecs.pop(name, None)

    def names(self) -> tuple[str, ...]:
        """Registered codec names."""
        return tuple(self._factories)

    def get(self, name: str) -> Codec:
        """The codec called ``name``. Raises `UnsupportedCodec`."""
        codec = self._codecs.get(name)
        if codec is None:
            factory = self._factories.get(name)
            if factory is None:
                raise UnsupportedCodec(f"unknown codec {name!r}; known: {sorted(self._factories)}")
            codec = self._codecs[name] = factory()
        return codec


def _jwe() -> Codec:
    from .jwe import JWECodec

    return JWECodec()


def _pgp() -> Codec:
    from .pgp import PGPCodec

    return PGPCodec()


def _default() -> CodecRegistry:
    reg = CodecRegistry()
    reg.register("jwe", _jwe)
    reg.register("pgp", _pgp)
    return reg


default_registry = _default()
