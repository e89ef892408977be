"""EAX (wire/aead.py) against the known answers published with the EAX paper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from gpay_envelope.codecs.pgp import wire as op

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "eax" / "eax_paper.json").read_text()
)["vectors"]


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["nonce"][:8])
def test_known_answer(v: dict[str, str]) -> None:
    key, nonce, header = (bytes.fromhex(v[k]) for k in ("key", "nonce", "header"))
    msg, cipher = bytes.fromhex(v["msg"]), bytes.fromhex(v["cipher"])
    eax = op.EAX(key)
    assert eax.encrypt(nonce, msg, header) == cipher
    assert eax.decrypt(nonce, cipher, header) == msg


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["nonce"][:8])
def test_any_change_to_a_known_answer_fails(v: dict[str, str]) -> None:
    key, nonce, header = (bytes.fromhex(v[k]) for k in ("key", "nonce", "header"))
    cipher = bytes.fromhex(v["cipher"])
    eax = op.EAX(key)
    for i in range(len(cipher)):
        with pytest.raises(InvalidTag):
            eax.decrypt(nonce, cipher[:i] + bytes((cipher[i] ^ 1,)) + cipher[i + 1 :], header)
    for bad_nonce, bad_header in ((nonce[::-1], header), (nonce, header + b"\x00")):
        with pytest.raises(InvalidTag):
            eax.decrypt(bad_nonce, cipher, bad_header)
    with pytest.raises(InvalidTag):
        eax.decrypt(nonce, cipher[:15], header)
