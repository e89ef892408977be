"""What the ASGI and WSGI middleware share: their arguments, and which requests they protect."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from ..codecs import DEFAULT_LIMITS, CodecRegistry, Limits
from ._common import KeyProvider
from ._exchange import PLAINTEXT_CONTENT_TYPE, Engine

__all__ = ["PathFilter", "ServerMiddleware"]

_App = TypeVar("_App")


class PathFilter:
    """Which request paths a middleware protects: an entry ending in ``/`` is a prefix, any
    other entry an exact path; None protects every path."""

    __slots__ = ("_paths",)

    def __init__(self, paths: Iterable[str] | None) -> None:
        self._paths = None if paths is None else tuple(paths)

    def __call__(self, path: str) -> bool:
        if self._paths is None:
            return True
        return any(path.startswith(p) if p.endswith("/") else path == p for p in self._paths)


class ServerMiddleware(Generic[_App]):
    """The arguments of both server middlewares (``asgi.EnvelopeMiddleware`` and
    ``wsgi.EnvelopeMiddleware``).

    Args:
        app: the application to wrap.
        keys: a `Keys` bundle or a zero-argument callable returning the current one (a
            `KeyHolder`); called once per protected request.
        paths: the paths to protect (ASGI ``scope["path"]``, WSGI ``SCRIPT_NAME + PATH_INFO``):
            an entry ending in ``/`` is a prefix, any other entry an exact path. None protects
            every request.
        limits: size bounds; ``max_envelope`` caps the request body read.
        profile: seal profile (None: the codec's default).
        registry: codec registry (None: the default one).
        content_type: content type the application sees on the opened request.
    """

    def __init__(
        self,
        app: _App,
        *,
        keys: KeyProvider,
        paths: Iterable[str] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        profile: str | None = None,
        registry: CodecRegistry | None = None,
        content_type: str = PLAINTEXT_CONTENT_TYPE,
    ) -> None:
        self.app = app
        self._engine = Engine(
            keys, limits=limits, profile=profile, registry=registry, content_type=content_type
        )
        self._protects = PathFilter(paths)
