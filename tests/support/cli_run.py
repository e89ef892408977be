"""Running the command line in-process for the tests under tests/cli: main([...]) with its
output captured, a file's permission bits, and key files made once per session through
`keys generate` (key generation is the slow part; test modules wrap `generated_keys` in a
session fixture)."""

from __future__ import annotations

import io
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpay_envelope.cli import main


@dataclass
class Run:
    """One command's exit code and what it wrote to stdout and stderr."""

    code: int
    out: str
    err: str


def run(*argv: str | Path, stdin: bytes | None = None) -> Run:
    """Run ``gpay-envelope ARGV...`` in this process; ``stdin`` is its binary standard input."""
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [str(a) for a in argv],
        out=out,
        err=err,
        stdin=io.BytesIO(stdin) if stdin is not None else None,
    )
    return Run(code, out.getvalue(), err.getvalue())


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


_KEYDIR: list[Path] = []


def generated_keys(factory: pytest.TempPathFactory) -> Path:
    """A folder of keys made once per session through `keys generate` (RSA-2048): partner
    p1, p2 (PGP), Google g1 (PGP), and JWE partner/google sets jp1, jg1 (enc and sig)."""
    if not _KEYDIR:
        d = factory.mktemp("keys")
        for name in ("p1", "p2", "g1"):
            r = run(
                "keys", "generate", "--codec", "pgp", "--bits", "2048", "--out-dir", d,
                "--name", name, "--uid", f"{name} <{name}@example.com>",
            )  # fmt: skip
            assert r.code == 0, r.err
        for name in ("jp1", "jg1"):
            r = run(
                "keys", "generate", "--codec", "jwe", "--bits", "2048", "--out-dir", d,
                "--name", name,
            )  # fmt: skip
            assert r.code == 0, r.err
        _KEYDIR.append(d)
    return _KEYDIR[0]
