"""Memory per PGP envelope, measured in a child process: compression bombs and armor of many
short lines are refused with little memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pgp_fixtures import (
    BOMB_MIB,
    Party,
    bomb_inner,
    encrypt_raw,
)

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_encode
from gpay_envelope.codecs.pgp import key_to_pgp

# Peak RSS of the child itself. Not ru_maxrss: Linux carries the parent's high-water mark
# across execve into it, so a child of a big pytest process would start "over the limit".
_BOMB_CHILD = textwrap.dedent(
    """
    import re, sys
    import gpay_envelope as ge

    def peak_kib():
        with open("/proc/self/status") as f:
            return int(re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1))

    ids = ge.KeySet.from_pgp(open(sys.argv[1], "rb").read())
    env = open(sys.argv[2], "rb").read()
    before = peak_kib()
    try:
        ge.open(env, identities=ids, senders=ids.public())
    except ge.InvalidEnvelope:
        outcome = "InvalidEnvelope"
    else:
        outcome = "opened"
    print(outcome, before, peak_kib())
    """
)


@pytest.mark.parametrize("kind", ["zip", "zlib", "bzip2", "nested"])
def test_compression_bombs_are_refused_with_little_memory(
    pgp_keys: Party, tmp_path: Path, kind: str
) -> None:
    """A bomb inflating to 256 MiB, encrypted to us with a valid MDC: refused while
    inflating, and the whole process stays under 64 MiB (measured in a child)."""
    if not Path("/proc/self/status").exists():
        pytest.skip("peak RSS is read from /proc (Linux)")
    g1 = pgp_keys.keys["g1"]
    p1_keyid = pgp_keys.keys["p1"].material.parts[0].keyid  # type: ignore[attr-defined]
    envelope = b64url_encode(encrypt_raw(bomb_inner(kind, p1_keyid), [g1]))
    assert len(envelope) < ge.DEFAULT_LIMITS.max_envelope
    (tmp_path / "key").write_bytes(key_to_pgp(g1, include_private=True))
    (tmp_path / "env").write_bytes(envelope)
    out = subprocess.run(
        [sys.executable, "-c", _BOMB_CHILD, str(tmp_path / "key"), str(tmp_path / "env")],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout.split()
    outcome, _before, after = out[0].decode(), int(out[1]), int(out[2])
    assert outcome == "InvalidEnvelope"
    assert after < 64 * 1024, f"peak RSS {after} KiB while refusing a {BOMB_MIB} MiB bomb"


_ARMOR_CHILD = textwrap.dedent(
    """
    import re, sys
    import gpay_envelope as ge

    def peak_kib():
        with open("/proc/self/status") as f:
            return int(re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1))

    ids = ge.KeySet.from_pgp(open(sys.argv[1], "rb").read())
    line = sys.argv[2].encode().replace(b"\\\\n", b"\\n")
    size = (8 << 20) - 100
    env = (
        b"-----BEGIN PGP MESSAGE-----\\n"
        + line * ((size - 60) // len(line))
        + b"-----END PGP MESSAGE-----\\n"
    )
    assert len(env) <= ge.DEFAULT_LIMITS.max_envelope
    before = peak_kib()
    try:
        ge.open(env, identities=ids, senders=ids.public())
    except ge.InvalidEnvelope:
        pass
    print(before, peak_kib())
    """
)


@pytest.mark.parametrize("line", ["AAA\\n", "a:\\n"], ids=["short-data-lines", "many-headers"])
def test_armor_with_many_short_lines_stays_under_64_mib(
    pgp_keys: Party, tmp_path: Path, line: str
) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("peak RSS is read from /proc (Linux)")
    (tmp_path / "key").write_bytes(key_to_pgp(pgp_keys.keys["g1"], include_private=True))
    out = subprocess.run(
        [sys.executable, "-c", _ARMOR_CHILD, str(tmp_path / "key"), line],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout.split()
    before, after = int(out[0]), int(out[1])
    # The parser still holds the text, its base64 and the decoded bytes (~25 MiB).
    assert after - before < 48 * 1024, (before, after)
