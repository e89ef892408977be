"""Key loading that leaves no secret where a traceback reaches.

Error trackers record the locals of every frame of a traceback and the exceptions chained to
it. A loader's frames hold the key text, the PEM password or passphrase and the parsed private
keys (a good key's too, when a later key of the same set fails), and a lower-level exception
chained to the error holds the same in its own frames. So a loader runs its work through
`attempt`, drops its own secret arguments (``del``), and only then lets `settle` raise: the
error is a fresh one, with no ``__context__``, and the frames its traceback keeps hold none of
them. `Key.from_jwk`, `Key.from_pem`, `KeySet.from_jwks`, `KeySet.from_pem` and
`KeySet.from_pgp` work this way, and so do the JWE codec's own loaders (`codecs.jwe._keyio`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ._formats import handler
from .errors import KeySetError

if TYPE_CHECKING:
    from ._keys import Key, KeySet

__all__ = ["LoadFailure", "attempt", "codec_call", "loaded_set", "settle"]

T = TypeVar("T")


class LoadFailure:
    """What a failed load leaves behind: the error's type and message, nothing else."""

    __slots__ = ("kind", "message")

    def __init__(self, kind: type[Exception], message: str) -> None:
        self.kind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"LoadFailure({self.kind.__name__}: {self.message})"


def attempt(load: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | LoadFailure:
    """``load(*args, **kwargs)``, or a `LoadFailure` when it raises.

    `KeySetError`, `TypeError` and `ImportError` keep their type and message (this library
    writes them, and puts no key material in them); any other error, whose text might quote
    the input, becomes a `KeySetError` naming only its type.
    """
    try:
        return load(*args, **kwargs)
    except (KeySetError, ImportError) as exc:
        return LoadFailure(type(exc), str(exc))
    except TypeError as exc:
        return LoadFailure(TypeError, str(exc))
    except Exception as exc:
        return LoadFailure(KeySetError, f"the key could not be loaded ({type(exc).__name__})")


def settle(outcome: T | LoadFailure) -> T:
    """The loaded value, or the failure raised afresh: call it once the secrets are dropped."""
    if isinstance(outcome, LoadFailure):
        raise outcome.kind(outcome.message)
    return outcome


def codec_call(operation: str, /, *args: Any, **kwargs: Any) -> Any:
    """Call the codec function behind a key-model loader (imported on first use, here inside
    `attempt`, so that even an import error leaves the caller's secrets behind)."""
    return handler(operation)(*args, **kwargs)


_NONE_LOADED = {
    "from_jwks": "the JWK Set holds no keys",
    "from_pems": "no keys given",
    "from_pgp": "no OpenPGP keys found",
}


def _pem_keys(pems: Mapping[str, bytes], **kwargs: Any) -> list[Key]:
    load = handler("from_pem")
    return [load(pem, kid=kid, **kwargs) for kid, pem in pems.items()]


def loaded_set(
    cls: type[KeySet], operation: str, primary: str | None, /, *args: Any, **kwargs: Any
) -> KeySet:
    """A key set of what a loader returns (``"from_jwks"``, ``"from_pgp"``, or
    ``"from_pems"``: PEM keys given as ``{kid: pem}``), the first key primary unless
    ``primary``."""
    keys: list[Key] = (
        _pem_keys(*args, **kwargs)
        if operation == "from_pems"
        else codec_call(operation, *args, **kwargs)
    )
    if not keys:
        raise KeySetError(_NONE_LOADED[operation])
    return cls(keys, primary=primary if primary is not None else keys[0].kid)
