"""What the ASGI and WSGI middleware share: their arguments, and which requests they protect.

The path rule (docs/adapters.md, "Protected paths under a mount point"): ``paths`` entries are
written as the wrapped application routes them, below any mount point. The mount point is
ASGI's ``root_path`` (a Starlette ``Mount``, a FastAPI sub-application, a server's root path)
or WSGI's ``SCRIPT_NAME`` (a dispatcher, a server's mount point). So an application protects
the same routes however it is mounted, and a route it serves under a listed path is never
reached by an unauthenticated request.

An entry that overlaps the mount point of a request cannot be told apart from one written from
the server's root, which would cover other routes: such entries are refused on every request
(`PathConfigError`), never guessed at. Entries that can never match are refused when the
middleware is built.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from ..codecs import DEFAULT_LIMITS, CodecRegistry, Limits
from ..errors import EnvelopeError
from ._common import KeyProvider
from ._exchange import PLAINTEXT_CONTENT_TYPE, Engine

__all__ = ["PathConfigError", "PathFilter", "ServerMiddleware", "route_below"]

_App = TypeVar("_App")


class PathConfigError(EnvelopeError, ValueError):
    """A middleware's ``paths`` cannot be matched as written: an entry does not start with
    ``/``, or overlaps the mount point the application is served under."""


def route_below(path: str, mount: str) -> str:
    """The part of ``path`` below ``mount`` when ``path`` starts with it at a ``/`` boundary
    (ASGI servers and recent Starlette keep the mount point in ``scope["path"]``), else
    ``path`` itself (older Starlette ``Mount`` strips it from the child's path).

    An older-style path that itself starts with the mount point's name is cut too; the entries
    that could tell the two apart overlap the mount point and are refused, so at worst a
    route is protected that was not listed.
    """
    mount = mount.rstrip("/")
    if mount and (path == mount or path.startswith(mount + "/")):
        return path[len(mount) :]
    return path


def _overlaps(entry: str, mount: str) -> bool:
    """``entry`` names ``mount``, a path below it, or is a prefix (other than ``/``) that
    contains it."""
    if entry == mount or entry.startswith(mount + "/"):
        return True
    return entry != "/" and entry.endswith("/") and (mount + "/").startswith(entry)


def _refuse_overlaps(paths: Iterable[str], mount: str) -> None:
    """Raise on the first entry overlapping ``mount``: guessing which reading was meant could
    leave a route unprotected, so the request goes no further."""
    for entry in paths:
        if mount and _overlaps(entry, mount):
            raise PathConfigError(
                f"paths entry {entry!r} overlaps the mount point {mount!r} this application "
                "is served under (ASGI root_path, WSGI SCRIPT_NAME); paths are matched below "
                "the mount point, as the application routes them: write the entry without "
                "the mount point (docs/adapters.md)"
            )


class PathFilter:
    """Which requests a middleware protects: an entry ending in ``/`` is a prefix, any other
    entry an exact path; None protects every request.

    Raises:
        TypeError: ``paths`` is a single string (it would be read as one path per character).
        PathConfigError: an entry does not start with ``/``, so no request can match it.
    """

    __slots__ = ("_paths",)

    def __init__(self, paths: Iterable[str] | None) -> None:
        if isinstance(paths, (str, bytes)):
            raise TypeError("paths must be a list of paths, not a single string")
        self._paths = None if paths is None else tuple(paths)
        for entry in self._paths or ():
            if not isinstance(entry, str):
                raise TypeError(f"paths entries must be str, not {type(entry).__name__}")
            if not entry.startswith("/"):
                raise PathConfigError(
                    f"paths entry {entry!r} must start with '/': the paths an application "
                    "routes on all do, so it would never match"
                )

    def __call__(self, route: str, mount: str = "") -> bool:
        """Whether the request the application routes as ``route``, served under ``mount``
        (empty: not mounted), is protected.

        Raises:
            PathConfigError: an entry overlaps ``mount`` (see the module docstring).
        """
        if self._paths is None:
            return True
        _refuse_overlaps(self._paths, mount.rstrip("/"))
        route = route or "/"
        return any(route.startswith(p) if p.endswith("/") else route == p for p in self._paths)


class ServerMiddleware(Generic[_App]):
    """The arguments of both server middlewares (``asgi.EnvelopeMiddleware`` and
    ``wsgi.EnvelopeMiddleware``).

    Args:
        app: the application to wrap.
        keys: a `Keys` bundle or a zero-argument callable returning the current one (a
            `KeyHolder`); called once per protected request.
        paths: the paths to protect, as the application routes them, below any mount point
            (ASGI ``scope["path"]`` less ``root_path``, WSGI ``PATH_INFO``): an entry ending in
            ``/`` is a prefix, any other an exact path; each must start with ``/``. None
            protects every request.
        limits: size bounds; ``max_envelope`` caps the request body read.
        profile: seal profile (None: the codec's default).
        registry: codec registry (None: the default one).
        content_type: content type the application sees on the opened request.

    Raises:
        PathConfigError: a ``paths`` entry that can never match; on a request, an entry that
            overlaps its mount point (the request goes no further).
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
