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

__all__ = ["INLINE_MAX", "KeyHolder", "KeyProvider", "Keys", "current_keys", "run_blocking"]

_T = TypeVar("_T")

#: Bodies up to this many bytes are sealed and opened on the event loop itself. `cryptography`
#: holds the GIL through the RSA operations that are most of the work, so a worker thread buys
#: no parallelism and never saves CPU: a 1 KiB signed JWE exchange under uvicorn costs 1.075 ms
#: of server CPU inline and 1.275 ms with both steps handed off, 815 against 731 requests/s
#: (benchmarks/bench_server.py, apps middleware-inline and middleware-thread; loaded machine).
#: Larger bodies still go to a thread: not for CPU, but so that one long base64 and cipher pass
#: does not hold up every other connection, since the interpreter's switch interval lets the
#: loop run between them.
INLINE_MAX = 64 * 1024


def current_keys(provider: KeyProvider) -> Keys:
    """Ask ``provider`` for the bundle to use for one whole exchange."""
    keys = provider if isinstance(provider, Keys) else provider()
    if not isinstance(keys, Keys):
        raise TypeError(f"the key provider returned {type(keys).__name__}, not Keys")
    return keys


async def run_blocking(fn: Callable[[], _T], *, size: int | None = None) -> _T:
    """Run CPU-bound ``fn`` (RSA) on a body of ``size`` bytes: inline when the body is at
    most `INLINE_MAX`, else off the event loop under asyncio (inline elsewhere). A ``size``
    of None always hands off."""
    if size is not None and size <= INLINE_MAX:
        return fn()
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (e.g. trio): no portable thread pool without anyio
        return fn()
    return await asyncio.to_thread(fn)
