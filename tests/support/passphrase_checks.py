"""Checks that a refused passphrase leaves no trace: not in the error, not chained to it, not in
a local of any library frame its traceback keeps alive."""

from __future__ import annotations

from types import FrameType

import pytest

import gpay_envelope as ge


def library_frames(exc: BaseException) -> list[FrameType]:
    """Frames of this library on the traceback of ``exc`` and of any exception chained to it."""
    frames = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        tb = e.__traceback__
        while tb is not None:
            if "gpay_envelope" in tb.tb_frame.f_code.co_filename:
                frames.append(tb.tb_frame)
            tb = tb.tb_next
        todo += [e.__context__, e.__cause__]
    return frames


def printed(value: object) -> str:
    """``repr(value)``, or "" when the object cannot print itself."""
    try:
        return repr(value)
    except Exception:
        return ""


def assert_passphrase_refused(secret: bytes | str, *, kid: str, wrong: str | None) -> None:
    """Loading ``secret`` with the passphrase ``wrong`` (None: with none) is a `KeySetError`
    naming ``kid``, with no exception chained, and the passphrase is nowhere in the error or
    in the locals of the library's frames."""
    with pytest.raises(ge.KeySetError, match=kid) as info:
        ge.KeySet.from_pgp([secret], passphrase=wrong)
    exc = info.value
    assert exc.__context__ is None and exc.__cause__ is None
    if wrong is None:
        return
    for text in (str(exc), repr(exc), repr(exc.args)):
        assert wrong not in text
    frames = library_frames(exc)
    assert frames  # the raise site is in the library
    encoded = wrong.encode("utf-8")
    for frame in frames:
        for name, value in frame.f_locals.items():
            assert wrong not in printed(value), (frame.f_code.co_name, name)
            if isinstance(value, (bytes, bytearray, memoryview)):
                assert encoded not in bytes(value), (frame.f_code.co_name, name)
