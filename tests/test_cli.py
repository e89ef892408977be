"""The command line, through main([...]): exit codes and what it prints."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from gpay_envelope._cli import main


def test_demo_walks_the_rotation_and_succeeds() -> None:
    out = io.StringIO()
    assert main(["demo"], out=out) == 0
    text = out.getvalue()
    assert "every envelope behaved as expected" in text
    assert "refused (InvalidSignature -> HTTP 401)" in text
    lines = {line.split("  ")[0]: line for line in text.splitlines() if line[:1].isdigit()}
    assert "opened by partner-enc-2026" in lines["3 promote k2"].rsplit("  ", 1)[-1]
    assert lines["4 disable k1"].endswith("refused (InvalidEnvelope)")
    assert lines["5 remove k1"].endswith("refused (InvalidEnvelope)")
    assert "opened by partner-enc-2027, signed by google-sig-1" in lines["5 remove k1"]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["demo", "--bits", "1024"]) == 2
    assert main(["no-such-command"]) == 2
    assert "usage:" in capsys.readouterr().err


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
