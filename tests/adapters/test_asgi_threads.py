"""Where the ASGI middleware seals and opens: on the event loop for bodies up to its
``inline_max`` (INLINE_MAX unless given), in a worker thread beyond (docs/adapters.md, "Crypto
on the event loop for small bodies")."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from adapter_harness import (
    JOSE,
    ASGICall,
    EchoASGI,
    client_view,
    middleware,
    open_from_server,
    seal_for_server,
    server_view,
)
from conftest import JWEParty

from gpay_envelope.adapters import _exchange
from gpay_envelope.adapters._common import INLINE_MAX, run_blocking


def test_run_blocking_inline_up_to_the_limit_then_in_a_thread() -> None:
    async def where() -> tuple[int, ...]:
        here = threading.get_ident()
        return (
            here,
            await run_blocking(threading.get_ident, size=0),
            await run_blocking(threading.get_ident, size=INLINE_MAX),
            await run_blocking(threading.get_ident, size=INLINE_MAX + 1),
            await run_blocking(threading.get_ident),
        )

    loop, empty, at_limit, over, unknown = asyncio.run(where())
    assert empty == at_limit == loop
    assert over != loop and unknown != loop


def test_run_blocking_follows_the_limit_it_is_given() -> None:
    async def where() -> tuple[int, ...]:
        return (
            threading.get_ident(),
            await run_blocking(threading.get_ident, size=0, inline_max=0),
            await run_blocking(threading.get_ident, size=1, inline_max=0),
            await run_blocking(threading.get_ident, size=INLINE_MAX + 1, inline_max=INLINE_MAX + 1),
        )

    loop, empty, one_byte, raised = asyncio.run(where())
    assert empty == raised == loop
    assert one_byte != loop


def _threads_of_one_exchange(
    partner: JWEParty,
    google: JWEParty,
    monkeypatch: pytest.MonkeyPatch,
    response: bytes,
    **options: Any,
) -> tuple[int, dict[str, int]]:
    """One request through the ASGI middleware (``options`` passed on) to an app answering
    ``response``: the event loop's thread, and the thread each of open and seal ran in."""
    server, client = server_view(partner, google), client_view(partner, google)
    threads: dict[str, int] = {}
    for name in ("open_detailed", "seal"):
        real = getattr(_exchange, name)

        def record(*args: Any, _name: str = name, _real: Any = real, **kwargs: Any) -> Any:
            threads[_name] = threading.get_ident()
            return _real(*args, **kwargs)

        monkeypatch.setattr(_exchange, name, record)
    loop_thread: list[int] = []

    class App(EchoASGI):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            loop_thread.append(threading.get_ident())
            await super().__call__(scope, receive, send)

    call = ASGICall([seal_for_server(client)], headers=[(b"content-type", JOSE.encode())]).run(
        middleware(App(body=response), server, **options)
    )
    assert call.status == 200
    assert open_from_server(client, call.body).plaintext == response
    (loop,) = loop_thread
    return loop, threads


@pytest.mark.parametrize("response_size", [100, INLINE_MAX + 1])
def test_middleware_opens_small_requests_on_the_loop_and_seals_by_response_size(
    partner: JWEParty, google: JWEParty, monkeypatch: pytest.MonkeyPatch, response_size: int
) -> None:
    response = b"x" * response_size
    loop, threads = _threads_of_one_exchange(partner, google, monkeypatch, response)
    assert threads["open_detailed"] == loop  # a 1 KiB request: opened on the loop
    assert (threads["seal"] == loop) is (response_size <= INLINE_MAX)


def test_inline_max_zero_hands_small_bodies_to_a_thread(
    partner: JWEParty, google: JWEParty, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop, threads = _threads_of_one_exchange(
        partner, google, monkeypatch, b"x" * 100, inline_max=0
    )
    assert threads["open_detailed"] != loop and threads["seal"] != loop


@pytest.mark.parametrize(
    ("bad", "error"),
    [(-1, ValueError), (True, TypeError), (1.5, TypeError), ("64", TypeError), (None, TypeError)],
)
def test_inline_max_must_be_a_byte_count(
    partner: JWEParty, google: JWEParty, bad: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match="inline_max"):
        middleware(EchoASGI(), server_view(partner, google), inline_max=bad)
