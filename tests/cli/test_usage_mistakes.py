"""Usage mistakes through the real entry point (``python -m gpay_envelope``): one line on
stderr, exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import generated_keys


@pytest.fixture(scope="session")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_keys(tmp_path_factory)


def _cli(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    env.pop("UNSET_PASSPHRASE_VAR", None)
    return subprocess.run(
        [sys.executable, "-m", "gpay_envelope", *map(str, argv)],
        input="x",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_usage_mistakes_are_one_line_and_exit_2(keydir: Path) -> None:
    mistakes = [
        # identity and sender keys of different codecs
        ("open", "--identity", keydir / "jg1-enc.secret.jwks.json",
         "--from", keydir / "p1.public.asc"),
        ("seal", "--to", keydir / "g1.public.asc",
         "--sign-with", keydir / "jp1-sig.secret.jwks.json"),
        ("open", "--identity", keydir / "g1.secret.asc"),  # no --from
        ("open", "--explain", "--identity", keydir / "g1.secret.asc",
         "--from", keydir / "p1.public.asc", "-o", keydir / "never"),
        ("keys", "list", keydir / "p1.secret.asc", "--passphrase-env", "UNSET_PASSPHRASE_VAR"),
        ("keys", "generate", "--codec", "pgp"),  # no --uid
        ("keys", "rotate"),
        ("nonsense",),
    ]  # fmt: skip
    for argv in mistakes:
        r = _cli(*argv)
        assert "Traceback" not in r.stderr, (argv, r.stderr)
        assert r.returncode == 2, (argv, r.returncode, r.stderr)
        assert r.stdout == "", argv
        assert r.stderr.count("\n") == 1 and "error: " in r.stderr, (argv, r.stderr)
    last = _cli(*mistakes[0])
    assert last.stderr.count("\n") == 1 and "jwe keys but --from holds pgp keys" in last.stderr
