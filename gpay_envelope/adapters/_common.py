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

__all__ = [
    "INLINE_MAX",
    "KeyHolder",
    "KeyProvider",
    "Keys",
    "checked_inline_max",
    "current_keys",
    "run_blocking",
]

_T = TypeVar("_T")

#: Bodies up to this many bytes are sealed and opened on the event loop itself, by default
#: (the ASGI middleware's ``inline_max``). `cryptography` releases the GIL during RSA, so a
#: worker thread does run in parallel with the loop, but the hand-off costs CPU: with as many
#: uvicorn workers as cores, a 1 KiB signed JWE exchange costs 3.45 ms of server CPU inline
#: and 3.75 ms handed off, 544 against 497 requests/s; with one worker on two cores the thread
#: wins, 406 against 289 requests/s (benchmarks/bench_server.py, apps middleware-inline and
#: middleware-thread, ``--workers 2`` and 1). Larger bodies go to a thread so that one long
#: base64 and cipher pass does not hold up every other connection.
INLINE_MAX = 64 * 1024


def checked_inline_max(value: object) -> int:
    """``value`` as an ``inline_max`` (a byte count of 0 or more), or TypeError / ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"inline_max must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"inline_max must be 0 or more bytes, not {value}")
    return value


def current_keys(provider: KeyProvider) -> Keys:
    """Ask ``provider`` for the bundle to use for one whole exchange."""
    keys = provider if isinstance(provider, Keys) else provider()
    if not isinstance(keys, Keys):
        raise TypeError(f"the key provider returned {type(keys).__name__}, not Keys")
    return keys


async def run_blocking(
    fn: Callable[[], _T], *, size: int | None = None, inline_max: int = INLINE_MAX
) -> _T:
    """Run CPU-bound ``fn`` (RSA) on a body of ``size`` bytes: inline when the body is at
    most ``inline_max`` bytes, else off the event loop under asyncio (inline elsewhere). A
    ``size`` of None always hands off."""
    if size is not None and size <= inline_max:
        return fn()
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (e.g. trio): no portable thread pool without anyio
        return fn()
    return await asyncio.to_thread(fn)
