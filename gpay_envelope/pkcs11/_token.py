"""One PKCS#11 token: the module, one login, a pool of sessions, and what a fault means.

python-pkcs11 initialises a module with ``C_Initialize(NULL)``: the module may then assume
that one thread calls it at a time (PKCS#11 v2.40 section 5.4). Every call into a module
therefore holds that module's lock; the pool gives each request its own session (an
operation in progress belongs to one session), and the login made by the first session
covers every session of the process (PKCS#11 logs in per application, not per session).

A fault of the device (removed, reset, re-initialised, session or handle gone) is raised as
`KeyUnavailable` and drops every session of the module; the next operation initialises the
module again and logs in anew, so a token that came back is used again without a restart.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pkcs11
from pkcs11 import exceptions as px

from ..errors import KeySetError, KeyUnavailable
from ._uri import TokenURI

__all__ = ["DEFAULT_PIN_ENV", "NotOffered", "Token", "is_bad_input"]

DEFAULT_PIN_ENV = "GPAY_PKCS11_PIN"
_T = TypeVar("_T")

# Errors that the input (a ciphertext) causes, not the device: a decryption failure.
_BAD_INPUT = (px.EncryptedDataInvalid, px.EncryptedDataLenRange, px.DataLenRange, px.DataInvalid)
_NOT_OFFERED = (
    px.MechanismInvalid,
    px.MechanismParamInvalid,
    px.ArgumentsBad,
    px.FunctionNotSupported,
)


def is_bad_input(exc: BaseException) -> bool:
    """True for a token error that the ciphertext caused (bad padding, wrong length)."""
    return isinstance(exc, _BAD_INPUT)


class _Module:
    """A loaded PKCS#11 module: its lock and a generation bumped at every re-initialisation."""

    _loaded: dict[str, _Module] = {}  # noqa: RUF012 - process-wide by design
    _guard = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.lib = pkcs11.lib(path)
        self.generation = 0

    @classmethod
    def get(cls, path: str) -> _Module:
        with cls._guard:
            module = cls._loaded.get(path)
            if module is None:
                if not Path(path).is_file():
                    raise KeySetError(f"PKCS#11 module {path!r} does not exist")
                try:
                    module = cls(path)
                except (OSError, RuntimeError, px.PKCS11Error) as exc:
                    raise KeySetError(
                        f"PKCS#11 module {path!r} could not be loaded ({type(exc).__name__})"
                    ) from None
                cls._loaded[path] = module
            return module

    def reset(self, seen: int) -> None:
        """Finalise and initialise again, once per fault (``seen``: the generation that
        failed), so every session handle of the old generation is gone for good."""
        with self.lock:
            if self.generation != seen:
                return
            try:
                self.lib.reinitialize()
            except px.PKCS11Error:
                pass  # still gone; the next attempt tries again
            self.generation += 1


class NotOffered(KeyUnavailable):
    """The token works but does not offer the mechanism or its parameters."""


class _Stale(Exception):
    """The module failed to open the token: it may know a token that was replaced."""


def _read_pin(pin_env: str | None, pin_file: str | None) -> str:
    """The PIN, read at login and handed straight to it (never kept)."""
    if pin_file is not None:
        path = pin_file.removeprefix("file:")
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError):
            raise KeySetError(f"the PIN file {path!r} could not be read") from None
    name = pin_env or DEFAULT_PIN_ENV
    if name not in os.environ:
        raise KeySetError(f"no PIN: the environment variable {name} is not set")
    return os.environ[name]


class Token:
    """A token reached through a module: sessions from a pool, logged in once.

    Thread-safe. The PIN is read from ``pin_file`` (or the URI's ``pin-source``) or from the
    environment variable ``pin_env`` (default ``GPAY_PKCS11_PIN``) at each login and never
    stored. ``repr`` names the token and the module only.
    """

    def __init__(
        self,
        uri: TokenURI,
        *,
        module_path: str | None = None,
        pin_env: str | None = None,
        pin_file: str | None = None,
        pool_size: int = 4,
        wait: float = 30.0,
    ) -> None:
        path = module_path or uri.module_path
        if path is None:
            raise KeySetError("no PKCS#11 module: give module-path in the URI or module_path")
        if pool_size < 1:
            raise KeySetError("pool_size must be at least 1")
        self.uri = uri
        self._module = _Module.get(path)
        self._pin_env = pin_env
        self._pin_file = pin_file or uri.pin_source
        self._pool_size = pool_size
        self._wait = wait
        self._cond = threading.Condition(threading.Lock())
        self._idle: list[Any] = []
        self._open = 0
        self._anchor: Any = None  # the logged-in session; the login lasts while it is open
        self._generation = -1
        #: Set once the token refused CKM_RSA_PKCS_OAEP with a SHA-2 hash (SoftHSM 2.6).
        self.lacks_sha2_oaep = False

    def __repr__(self) -> str:
        return f"<Token {self.uri} module={self._module.path!r}>"

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("a token connection is not pickled")

    # -- sessions -----------------------------------------------------------------------------
    def _login(self) -> None:
        """Find the token and open the logged-in session (under the module lock); once more
        after re-initialising the module when the module still knew an older token."""
        try:
            self._login_once()
        except _Stale:
            self._module.reset(self._module.generation)
            try:
                self._login_once()
            except _Stale as exc:
                raise KeyUnavailable(str(exc)) from None

    def _login_once(self) -> None:
        failure: str | None = None
        stale = False
        try:
            token = self._module.lib.get_token(**self.uri.token_match())
            try:
                self._anchor = token.open(
                    user_pin=_read_pin(self._pin_env, self._pin_file), rw=True
                )
            except px.UserAlreadyLoggedIn:
                # Another Token of this process logged in: the login covers us too.
                self._anchor = token.open(rw=True)
        except px.PinIncorrect:
            failure = "the token refused the PIN"
        except (px.PinLocked, px.PinExpired):
            failure = "the token's user PIN is locked or expired"
        except px.NoSuchToken:
            failure = f"no token matches {self.uri}"
            stale = True  # the module reads its slots at initialisation only
        except px.MultipleTokensReturned:
            failure = f"several tokens match {self.uri}"
        except px.PKCS11Error as exc:
            failure = f"the token could not be opened ({type(exc).__name__})"
            stale = True
        if failure is not None:
            # Raised afresh outside the except block: no frame of the login travels with it.
            raise _Stale(failure) if stale else KeyUnavailable(failure)
        self._generation = self._module.generation
        self._open = 1

    def _acquire(self) -> Any:
        with self._cond:
            if self._generation != self._module.generation:
                self._idle.clear()
                self._open = 0
                self._anchor = None
            if self._anchor is None:
                with self._module.lock:
                    self._login()
                return self._anchor
            if not self._idle and self._open >= self._pool_size:
                if not self._cond.wait_for(
                    lambda: bool(self._idle) or self._open < self._pool_size, self._wait
                ):
                    raise KeyUnavailable(f"no free session on {self.uri} within {self._wait}s")
            if self._idle:
                return self._idle.pop()
            with self._module.lock:
                session = self._anchor.token.open(rw=True)
            self._open += 1
            return session

    def _release(self, session: Any, generation: int) -> None:
        with self._cond:
            if generation == self._module.generation and generation == self._generation:
                self._idle.append(session)
            self._cond.notify()

    @contextmanager
    def _session(self) -> Iterator[tuple[Any, int]]:
        session = self._acquire()
        generation = self._generation
        try:
            yield session, generation
        finally:
            self._release(session, generation)

    def call(self, operation: Callable[[Any], _T], *, decrypting: bool = False) -> _T:
        """Run ``operation(session)`` on a pooled session under the module lock.

        A ciphertext the token refuses raises `ValueError`; a device fault raises
        `KeyUnavailable` and resets the module, so the next call reconnects.
        """
        fault: str | None = None
        with self._session() as (session, generation):
            try:
                with self._module.lock:
                    return operation(session)
            except _BAD_INPUT:
                raise ValueError("the token could not decrypt the ciphertext") from None
            except px.GeneralError:
                if not decrypting:
                    raise
                # SoftHSM 2.6 answers a bad PKCS#1 v1.5 padding with CKR_GENERAL_ERROR: in a
                # decryption it is a refused ciphertext, like the in-memory ValueError.
                raise ValueError("the token could not decrypt the ciphertext") from None
            except _NOT_OFFERED as exc:
                # The token works but lacks the mechanism (SoftHSM 2.6 has OAEP with SHA-1
                # only): a lasting answer, so no reconnect.
                raise NotOffered(
                    f"the token {self.uri} does not offer this operation ({type(exc).__name__})"
                ) from None
            except px.PKCS11Error as exc:
                fault = type(exc).__name__
            except KeyUnavailable:
                # The key object is gone (a reset or replaced token): look again afresh.
                self._module.reset(generation)
                raise
        self._module.reset(generation)
        raise KeyUnavailable(f"the token {self.uri} failed ({fault}); it is reconnected on use")
