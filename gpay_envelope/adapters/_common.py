"""What every web adapter shares besides the exchange rules: asking for the key bundle
(`Keys`, `KeyHolder`, which live in `gpay_envelope.keystore.holder`) and running blocking work.

Nothing here imports a web framework; each adapter module imports its own, so that
``import gpay_envelope`` and ``import gpay_envelope.adapters`` never need one. The HTTP side of
an exchange (headers, statuses, sizes) is in ``_exchange.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from ..keystore.holder import KeyHolder, KeyProvider, Keys

__all__ = ["KeyHolder", "KeyProvider", "Keys", "current_keys", "run_blocking"]

_T = TypeVar("_T")


def current_keys(provider: KeyProvider) -> Keys:
    """Ask ``provider`` for the bundle to use for one whole exchange."""
    keys = provider if isinstance(provider, Keys) else provider()
    if not isinstance(keys, Keys):
        raise TypeError(f"the key provider returned {type(keys).__name__}, not Keys")
    return keys


async def run_blocking(fn: Callable[[], _T]) -> _T:
    """Run CPU-bound ``fn`` (RSA) off the event loop under asyncio; inline elsewhere."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (e.g. trio): no portable thread pool without anyio
        return fn()
    return await asyncio.to_thread(fn)
