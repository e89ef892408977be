"""The settings the framework glue reads: Flask's ``app.config`` (``GPAY_ENVELOPE_*`` keys) and
Django's ``settings.GPAY_ENVELOPE`` (a dict). One set of names, read and checked here once:

==================  =====================================================================
name                value
==================  =====================================================================
``KEYS``            a `Keys` bundle or a key provider (a `KeyHolder`); or else:
``IDENTITIES``      the manifest (or key file) of your decryption keys; required without
                    ``KEYS``, and then so is ``SENDERS``
``SENDERS``         the manifest of the peer's signature keys
``SIGNER``          the manifest of your signing keys (default: ``IDENTITIES``, as PGP has it)
``RECIPIENTS``      the manifest of the peer's encryption keys (default: ``SENDERS``)
``POLL_INTERVAL``   seconds between checks of the manifests for a change (default 10; 0:
                    on every request)
``PATHS``           the paths to protect, as the middleware's ``paths`` (default: all)
``LIMITS``          a `Limits`, or a dict of its fields
``PROFILE``         the seal profile (default: the codec's)
``CONTENT_TYPE``    the content type the application sees (default ``application/json``)
``REGISTRY``        a codec registry (default: the default one)
==================  =====================================================================

Manifests are followed by `KeySetWatcher`s that check for a change in the request that finds
``POLL_INTERVAL`` gone by (one request at a time; the others keep the bundle they have), not in
a thread: a thread started before a pre-forking server (gunicorn ``--preload``) forks would not
run in its workers, and an inline check does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..codecs import DEFAULT_LIMITS, CodecRegistry, Limits
from ..errors import EnvelopeError
from ..keystore import KeySetWatcher, watched_keys
from ._common import KeyProvider, Keys
from ._exchange import PLAINTEXT_CONTENT_TYPE

__all__ = ["NAMES", "ManifestKeys", "ServerSettings", "SettingsError", "read_settings"]

NAMES = (
    "KEYS",
    "IDENTITIES",
    "SENDERS",
    "SIGNER",
    "RECIPIENTS",
    "POLL_INTERVAL",
    "PATHS",
    "LIMITS",
    "PROFILE",
    "CONTENT_TYPE",
    "REGISTRY",
)
_ROLES = ("IDENTITIES", "SENDERS", "SIGNER", "RECIPIENTS")
DEFAULT_POLL_INTERVAL = 10.0


class SettingsError(EnvelopeError, ValueError):
    """A setting of the framework glue is missing, unknown, or of the wrong kind. The message
    names the setting as it is written in the framework's configuration."""


class ManifestKeys:
    """A key provider fed by manifest watchers: each call lets every watcher look for a change
    (at most every ``poll_interval`` seconds, never waiting for another request's check), then
    returns the current bundle."""

    __slots__ = ("_holder", "watchers")

    def __init__(self, roles: Mapping[str, KeySetWatcher]) -> None:
        self.watchers = tuple(dict.fromkeys(roles.values()))
        self._holder = watched_keys(**roles)

    def __call__(self) -> Keys:
        for watcher in self.watchers:
            watcher.current()
        return self._holder.get()

    def __repr__(self) -> str:
        return f"ManifestKeys({', '.join(str(w.path) for w in self.watchers)})"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The checked settings: the server middleware's arguments, and the watchers (empty when
    the keys were given as ``KEYS``)."""

    keys: KeyProvider
    paths: tuple[str, ...] | None
    limits: Limits
    profile: str | None
    content_type: str
    registry: CodecRegistry | None
    watchers: tuple[KeySetWatcher, ...]

    def middleware_options(self) -> dict[str, Any]:
        """The keyword arguments of the ASGI / WSGI ``EnvelopeMiddleware`` (but ``app``)."""
        return {
            "keys": self.keys,
            "paths": self.paths,
            "limits": self.limits,
            "profile": self.profile,
            "registry": self.registry,
            "content_type": self.content_type,
        }


def read_settings(values: Mapping[str, object], *, label: Callable[[str], str]) -> ServerSettings:
    """Check ``values`` (upper-case `NAMES`; a missing name takes its default) and build the
    key provider, starting a `KeySetWatcher` per manifest named.

    ``label`` turns a name into the way the framework's configuration spells it, for messages
    (``GPAY_ENVELOPE_PATHS``, ``settings.GPAY_ENVELOPE['PATHS']``).

    Raises:
        SettingsError: an unknown name, a missing or conflicting key source, a value of the
            wrong kind.
        KeySetError: a manifest does not load (the service does not start without keys).
    """
    unknown = sorted(set(values) - set(NAMES))
    if unknown:
        raise SettingsError(
            f"unknown setting {label(unknown[0])}; the settings are "
            + ", ".join(label(n) for n in NAMES)
        )
    get = _Reader(values, label)
    keys, watchers = _key_source(get)
    return ServerSettings(
        keys=keys,
        paths=get.paths(),
        limits=get.limits(),
        profile=get.typed("PROFILE", str, None),
        content_type=get.typed("CONTENT_TYPE", str, PLAINTEXT_CONTENT_TYPE),
        registry=get.typed("REGISTRY", CodecRegistry, None),
        watchers=watchers,
    )


def _key_source(get: _Reader) -> tuple[KeyProvider, tuple[KeySetWatcher, ...]]:
    given = [name for name in _ROLES if get.has(name)]
    if get.has("KEYS"):
        clash = [*given, *(["POLL_INTERVAL"] if get.has("POLL_INTERVAL") else [])]
        if clash:
            raise SettingsError(f"give either {get.label('KEYS')} or manifests, not both "
                                f"(found {get.label(clash[0])})")
        keys = get.value("KEYS")
        if not (isinstance(keys, Keys) or callable(keys)):
            raise SettingsError(f"{get.label('KEYS')} must be Keys or a key provider "
                                f"(a KeyHolder), not {type(keys).__name__}")
        return keys, ()
    for required in ("IDENTITIES", "SENDERS"):
        if required not in given:
            raise SettingsError(
                f"{get.label(required)} is not set: name the manifests of your keys and the "
                f"peer's ({get.label('IDENTITIES')}, {get.label('SENDERS')}), or give "
                f"{get.label('KEYS')}"
            )
    interval = get.number("POLL_INTERVAL", DEFAULT_POLL_INTERVAL)
    by_path: dict[str, KeySetWatcher] = {}
    roles: dict[str, KeySetWatcher] = {}
    for name in given:
        path = os.fspath(get.path(name))
        if path not in by_path:
            by_path[path] = KeySetWatcher(path, poll_interval=interval)
        roles[name.lower()] = by_path[path]
    provider = ManifestKeys(roles)
    return provider, provider.watchers


class _Reader:
    """Typed reads of one settings mapping, with messages in the framework's spelling."""

    def __init__(self, values: Mapping[str, object], label: Callable[[str], str]) -> None:
        self._values = values
        self.label = label

    def has(self, name: str) -> bool:
        return self._values.get(name) is not None

    def value(self, name: str) -> object:
        return self._values.get(name)

    def typed(self, name: str, kind: type[Any], default: Any) -> Any:
        value = self._values.get(name)
        if value is None:
            return default
        if not isinstance(value, kind):
            raise SettingsError(
                f"{self.label(name)} must be {kind.__name__}, not {type(value).__name__}"
            )
        return value

    def path(self, name: str) -> str | os.PathLike[str]:
        value = self._values.get(name)
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            raise SettingsError(f"{self.label(name)} must be the path of a keyset manifest")
        return value

    def number(self, name: str, default: float) -> float:
        value = self._values.get(name, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise SettingsError(f"{self.label(name)} must be a number of seconds >= 0")
        return float(value)

    def paths(self) -> tuple[str, ...] | None:
        value = self._values.get("PATHS")
        if value is None:
            return None
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise SettingsError(f"{self.label('PATHS')} must be a list of paths, like ['/echo']")
        return tuple(value)

    def limits(self) -> Limits:
        value = self._values.get("LIMITS")
        if value is None:
            return DEFAULT_LIMITS
        if isinstance(value, Limits):
            return value
        if isinstance(value, Mapping):
            try:
                return Limits(**value)
            except (TypeError, ValueError) as exc:
                raise SettingsError(f"{self.label('LIMITS')}: {exc}") from None
        raise SettingsError(
            f"{self.label('LIMITS')} must be Limits or a dict of max_plaintext, max_envelope, "
            "max_trials"
        )
