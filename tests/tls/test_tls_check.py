"""``gpay-envelope tls-check``: the table, the JSON, the exit codes (gpay_envelope/cli/tls.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from tls_certs import NOW, PKI, make_leaf, make_pki, serve

from gpay_envelope.cli.tls import _render, tls_check_main
from gpay_envelope.tls._grading import assess
from gpay_envelope.tls.probe import ProtocolResult, TLSReport


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _report(der: bytes) -> TLSReport:
    """The verdicts on a compliant-looking endpoint whose leaf certificate is ``der``."""
    return assess(
        "h",
        443,
        "partner.test",
        "system trust store",
        protocols=(
            ProtocolResult("TLSv1", False),
            ProtocolResult("TLSv1.1", False),
            ProtocolResult("TLSv1.2", True),
            ProtocolResult("TLSv1.3", True),
        ),
        tls12_ciphers=("ECDHE-RSA-AES128-GCM-SHA256",),
        cipher_scan_complete=True,
        der=der,
        chain_trusted=True,
        chain_error=None,
        now=NOW,
    )


def test_cli_human_and_json_output(pki: PKI, capsys: pytest.CaptureFixture[str]) -> None:
    with serve(pki) as server:
        base = [f"https://127.0.0.1:{server.port}", "--servername", "partner.test"]
        assert tls_check_main([*base, "--cafile", str(pki.ca.certfile)]) == 0
        human = capsys.readouterr().out
        assert tls_check_main([*base, "--cafile", str(pki.ca.certfile), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert tls_check_main([*base, "--cafile", str(pki.other_ca.certfile)]) == 1
        untrusted = capsys.readouterr().out
    for rid in ("T1", "T2", "T3", "T4"):
        assert f"\n{rid} " in human
    assert human.rstrip().endswith("\nCOMPLIANT")
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in human
    assert data["compliant"] is True and data["server_name"] == "partner.test"
    assert "T3   SHOULD       FAIL" in untrusted
    assert untrusted.rstrip().endswith("NOT COMPLIANT")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["http://partner.test"],
        ["127.0.0.1:1", "--timeout", "0"],
        ["127.0.0.1:1", "--timeout", "soon"],
        ["127.0.0.1:1", "--cafile", "/nonexistent/ca.pem"],
        ["127.0.0.1:1", "--bogus"],
    ],
)
def test_cli_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert tls_check_main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_cli_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert tls_check_main(["--help"]) == 0
    assert "--servername" in capsys.readouterr().out


def test_human_output_escapes_control_characters(pki: PKI, tmp_path: Path) -> None:
    leaf = make_leaf(tmp_path, "evil", issuer=pki.ca, cn="evil\x1b[2J.test", dns=["evil.test"])
    text = _render(_report(leaf.cert.public_bytes(serialization.Encoding.DER)))
    assert "\x1b" not in text
    assert "evil\\x1b[2J.test" in text
