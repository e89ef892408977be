"""The command line as a whole: usage errors exit 2, `python -m gpay_envelope`, and the
tls-check wiring."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cli_run import run

from gpay_envelope.cli import main


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["demo", "--bits", "1024"]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["keys"]) == 2
    assert main(["keys", "generate", "--codec", "pgp", "--bits", "1024"]) == 2
    assert main(["keys", "generate", "--codec", "jwe", "--days", "800"]) == 2
    assert main(["keys", "rotate", "m.json"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 7 and all(" error: " in line and "--help)" in line for line in lines)
    assert run("keys", "generate", "--codec", "pgp").code == 2  # no --uid
    r = run("keys", "generate", "--codec", "jwe", "--kid", "k")
    assert r.code == 2 and "--use enc or --use sig" in r.err
    r = run("keys", "generate", "--codec", "jwe", "--passphrase-env", "X")
    assert r.code == 2 and "no encryption" in r.err


def test_python_dash_m_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpay_envelope", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.startswith("gpay-envelope ")


def test_tls_check_is_wired(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 9 on loopback: nothing listens, so the probe reports unreachable and exits 1.
    assert main(["tls-check", "https://127.0.0.1:9", "--json", "--timeout", "2"]) == 1
    assert '"compliant": false' in capsys.readouterr().out
    assert main(["tls-check"]) == 2
