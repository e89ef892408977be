"""Key files of every format, read by `read_key_file`."""

from __future__ import annotations

import json
from pathlib import Path

import keystore_fixtures as kf
import pytest
from keystore_fixtures import write as _write

import gpay_envelope as ge
from gpay_envelope.keystore import init_manifest, read_key_file


@pytest.fixture
def pgp_pair() -> tuple[ge.Key, ge.Key]:
    return kf.pgp_pair()


def test_key_files_of_every_format(tmp_path: Path, pgp_pair: tuple[ge.Key, ge.Key]) -> None:
    a, _ = pgp_pair
    enc = ge.generate_key(kid="e1", use="enc", size=2048)
    _write(tmp_path / "a.pgp", a.material.export(include_private=False))  # type: ignore[attr-defined]
    _write(tmp_path / "e.jwks.json", json.dumps(ge.KeySet([enc], primary="e1").to_jwks()).encode())
    _write(tmp_path / "e.jwk.json", json.dumps(enc.to_jwk()).encode())
    from cryptography.hazmat.primitives import serialization

    native = enc.material.native.public_key()  # type: ignore[attr-defined]
    pem = native.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write(tmp_path / "google-enc.pub.pem", pem)
    assert read_key_file(tmp_path / "a.pgp")[0].kid == a.kid
    assert read_key_file(tmp_path / "e.jwks.json")[0].kid == "e1"
    assert read_key_file(tmp_path / "e.jwk.json")[0].use == "enc"
    pem_key = read_key_file(tmp_path / "google-enc.pub.pem", use="enc")[0]
    assert (pem_key.kid, pem_key.use) == ("google-enc", "enc")
    with pytest.raises(ge.KeySetError, match="holds 'jwe' keys, not 'pgp'"):
        read_key_file(tmp_path / "e.jwk.json", codec="pgp")
    _write(tmp_path / "junk.txt", b"hello")
    with pytest.raises(ge.KeySetError, match="not a key file"):
        read_key_file(tmp_path / "junk.txt")
    m = tmp_path / "m.json"
    init_manifest(m, tmp_path / "e.jwks.json")
    with pytest.raises(ge.KeySetError, match="is a keyset manifest"):
        read_key_file(m)
