"""Child processes of the tests: stopping one within a bound, whatever state it is in."""

from __future__ import annotations

import subprocess

__all__ = ["stop"]


def stop(proc: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """Terminate ``proc``, and kill it if it has not exited after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)
