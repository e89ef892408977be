"""`gpay-envelope demo`: the rotation it walks through, and the files it can keep."""

from __future__ import annotations

import re
from pathlib import Path

from cli_run import mode, run

from gpay_envelope.keystore import load_manifest


def _table(section: str) -> dict[str, str]:
    return {line.split("  ")[0]: line for line in section.splitlines() if line[:1].isdigit()}


def test_demo_walks_the_rotation_and_succeeds() -> None:
    r = run("demo")
    assert r.code == 0, r.out
    assert "every envelope behaved as expected" in r.out
    assert "refused (InvalidSignature -> HTTP 401)" in r.out
    jwe_part, pgp_part = r.out.split("\nPGP:")
    jwe = _table(jwe_part)
    assert "opened by partner-enc-2026" in jwe["3 promote k2"].rsplit("  ", 1)[-1]
    assert jwe["4 disable k1"].endswith("refused (InvalidEnvelope)")
    assert jwe["5 remove k1"].endswith("refused (InvalidEnvelope)")
    assert "opened by partner-enc-2027, signed by google-sig-1" in jwe["5 remove k1"]
    pgp = _table(pgp_part)
    assert "verify-rotation ok" in pgp["2 add"]
    assert "to p1+p2, opened by p1" in pgp["3 exchange"]
    assert "to p1+p2, opened by p2" in pgp["4 promote"]
    assert "signed p2+p1, Google accepts p2+p1" in pgp["4 promote"]
    assert "reload refused, old set kept" in pgp["5 typo"]
    assert pgp["5 typo"].endswith("opened by p1")
    assert pgp["6 disable"].endswith("refused (InvalidEnvelope)")
    assert re.split(r"\s{2,}", pgp["7 remove"])[2] == "p2*"


def test_demo_can_keep_its_files(tmp_path: Path) -> None:
    r = run("demo", "--workdir", tmp_path / "demo")
    assert r.code == 0
    manifest = tmp_path / "demo" / "partner.keyset.json"
    assert len(load_manifest(manifest)) == 1
    assert mode(tmp_path / "demo" / "partner-2027.secret.asc") == 0o600
    assert run("keys", "check", manifest).code == 0
