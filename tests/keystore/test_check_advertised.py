"""`keys check` on what an OpenPGP key advertises: features and preferences next to what seal
sends and open reads."""

from __future__ import annotations

import pytest
from pgp_fixtures import Spec, build_key

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import generate_pgp_key
from gpay_envelope.codecs.pgp import wire as op
from gpay_envelope.keystore.check import check_key


def _findings(extra: bytes) -> list[tuple[str, str]]:
    [key] = list(ge.KeySet.from_pgp([build_key(Spec(slot=41, extra=extra), secret=False)]))
    return [(f.level, f.message) for f in check_key(key) if "never expires" not in f.message]


def _features(flags: int) -> bytes:
    return op.subpacket(op.SUB_FEATURES, bytes((flags,)))


def test_what_we_send_and_read_draws_no_finding() -> None:
    extra = (
        _features(op.FEATURE_SEIPD_V1)
        + op.subpacket(op.SUB_PREFERRED_SYMMETRIC, bytes((9, 8, 7)))
        + op.subpacket(op.SUB_PREFERRED_HASH, bytes((9, 10, 8)))
    )
    assert _findings(extra) == []


def test_seipd_v2_is_a_note_that_we_open_it() -> None:
    [(level, message)] = _findings(_features(op.FEATURE_SEIPD_V1 | op.FEATURE_SEIPD_V2))
    assert level == "note"
    assert message.startswith("advertises SEIPDv2: peers may send RFC 9580 messages")


def test_librepgp_ocb_is_a_warning() -> None:
    [(level, message)] = _findings(_features(op.FEATURE_SEIPD_V1 | op.FEATURE_LIBREPGP_OCB))
    assert level == "warning" and "OCB-encrypted data" in message


@pytest.mark.parametrize(
    ("extra", "level", "words"),
    [
        (op.subpacket(op.SUB_PREFERRED_SYMMETRIC, bytes((9, 3, 10))), "note", "CAST5, Twofish"),
        (op.subpacket(op.SUB_PREFERRED_SYMMETRIC, bytes((3, 9))), "warning", "prefers CAST5"),
        (op.subpacket(op.SUB_PREFERRED_SYMMETRIC, bytes((7, 9))), "note", "prefers AES128"),
        (op.subpacket(op.SUB_PREFERRED_HASH, bytes((9, 14, 2))), "note", "SHA3-512, SHA1"),
        (op.subpacket(op.SUB_PREFERRED_HASH, bytes((10, 9))), "note", "prefers SHA512"),
        (op.subpacket(op.SUB_PREFERRED_AEAD, bytes((9, 2, 13, 2, 9, 7))), "warning",
         "Camellia256/OCB, AES256/unknown algorithm 7"),
        (_features(0), "note", "does not advertise SEIPD v1"),
    ],
)
def test_preferences_we_refuse_or_do_not_follow(extra, level, words) -> None:
    [(got_level, message)] = _findings(extra)
    assert got_level == level and words in message


def test_a_gpg_key_draws_only_notes(tmp_path) -> None:
    """gpg 2.2's own preferences (SHA512 first, SHA1 and SHA224 listed) are notes, never a
    finding that fails `keys check`."""
    from conftest import have, require_peer
    from pgp_fixtures import Gpg

    require_peer(have("gpg"), "gpg")
    gpg = Gpg(tmp_path)
    fpr = gpg.gen("Peer <peer@example.com>")
    [key] = list(ge.KeySet.from_pgp([gpg.export(fpr)]))
    levels = {f.level for f in check_key(key)}
    assert levels <= {"note"}, check_key(key)


def test_a_key_we_generate_advertises_only_what_we_read() -> None:
    key = generate_pgp_key(uid="Partner <p@example.com>", size=2048)
    prefs = key.material.preferences  # type: ignore[attr-defined]
    assert prefs[op.SUB_FEATURES] == bytes((op.FEATURE_SEIPD_V1,))
    assert set(prefs[op.SUB_PREFERRED_SYMMETRIC]) <= set(op.SYMMETRIC_KEY_SIZES)
    assert [m for _, m in check_key(key) if "expires" not in m] == []
