"""Revocations count wherever they stand in a transferable key, as gpg counts them.

gpg moves misplaced signatures when it imports a key: a key revocation after the user ID or
after the last subkey (``cat key.gpg rev.gpg``: the key with gpg's own revocation certificate
appended), or a subkey revocation after another subkey, still revokes. So do we: a key
revocation anywhere refuses the key at load ("key <FPR> is revoked"), a subkey revocation
anywhere marks the subkey it verifies for, and a revocation certificate given as its own
block (armored or binary) with the key applies to that key.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import require_peer
from pgp_fixtures import (
    Gpg,
    Spec,
    Sub,
    build_key,
    have_gpg,
    key_revocation,
    keyset,
    load,
    subkey_revocation,
)

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import key_to_pgp, keys_from_pgp
from gpay_envelope.codecs.pgp import wire as op

MSG = b'{"amount": "1000"}'
#: A primary (certify, sign) with an encryption subkey and a signing subkey.
SPEC = Spec(
    uid="Rev <rev@example.com>",
    slot=60,
    subkeys=(Sub(slot=61), Sub(slot=62, flags=op.FLAG_SIGN)),
)
IDENTITY = Spec(uid="Id <id@example.com>", slot=63, subkeys=(Sub(slot=64),))


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    return op.read_packets(data, max_packets=100)


def _join(packets: list[tuple[int, bytes]]) -> bytes:
    return b"".join(op.packet(tag, body) for tag, body in packets)


def _insert_after(data: bytes, after: int, sig: bytes) -> bytes:
    """``data`` with the signature packet ``sig`` inserted after the packet at index ``after``
    and the signatures that follow it."""
    packets = _packets(data)
    at = after + 1
    while at < len(packets) and packets[at][0] == op.TAG_SIGNATURE:
        at += 1
    return _join([*packets[:at], *_packets(sig), *packets[at:]])


def _index(data: bytes, tag: int, nth: int = 0) -> int:
    return [i for i, (t, _) in enumerate(_packets(data)) if t == tag][nth]


def _fpr_hex(spec: Spec) -> str:
    return load(spec, secret=False).kid


def _subkey_fprs(key: ge.Key) -> list[bytes]:
    return [p.fingerprint for p in key.material.parts[1:]]  # type: ignore[attr-defined]


def _revoked(key: ge.Key) -> list[bool]:
    return [p.revoked for p in key.material.parts]  # type: ignore[attr-defined]


# -- a key revocation anywhere refuses the key ---------------------------------------------
def _key_revoked_at(place: str) -> bytes:
    key = build_key(SPEC, secret=False)
    rev = key_revocation(SPEC)
    if place == "after-primary":
        return _insert_after(key, 0, rev)
    if place == "after-user-id":
        return _insert_after(key, _index(key, op.TAG_USER_ID), rev)
    if place == "after-first-subkey":
        return _insert_after(key, _index(key, op.TAG_PUBLIC_SUBKEY), rev)
    assert place == "after-last-subkey"
    return key + rev  # cat key.gpg rev.gpg


@pytest.mark.parametrize(
    "place", ["after-primary", "after-user-id", "after-first-subkey", "after-last-subkey"]
)
def test_a_key_revocation_anywhere_refuses_the_key(place: str) -> None:
    with pytest.raises(ge.KeySetError, match=f"key {_fpr_hex(SPEC)} is revoked"):
        keys_from_pgp(_key_revoked_at(place))


def test_a_revocation_by_another_key_revokes_nothing() -> None:
    other = replace(SPEC, uid="Other <o@example.com>", slot=65, subkeys=())
    data = build_key(SPEC, secret=False) + key_revocation(other)
    (key,) = keys_from_pgp(data)
    assert not any(_revoked(key))


def test_a_revoked_secret_key_is_refused_too() -> None:
    data = build_key(SPEC) + key_revocation(SPEC)
    with pytest.raises(ge.KeySetError, match="is revoked"):
        keys_from_pgp(data)


# -- a revocation certificate given with the key -------------------------------------------
def _armored(data: bytes) -> bytes:
    return op.armor("PUBLIC KEY BLOCK", data)


@pytest.mark.parametrize(
    "layout",
    ["armored-after", "armored-before", "two-items", "binary-items", "binary-first"],
)
def test_a_revocation_certificate_with_the_key_revokes_it(layout: str) -> None:
    key, rev = build_key(SPEC, secret=False), key_revocation(SPEC)
    data: bytes | list[bytes] = {
        "armored-after": _armored(key) + _armored(rev),
        "armored-before": _armored(rev) + b"\n" + _armored(key),
        "two-items": [_armored(key), _armored(rev)],
        "binary-items": [key, rev],
        "binary-first": rev + key,
    }[layout]
    with pytest.raises(ge.KeySetError, match=f"key {_fpr_hex(SPEC)} is revoked"):
        keys_from_pgp(data)


def test_a_revocation_certificate_applies_to_its_key_among_others() -> None:
    other = replace(IDENTITY, uid="Other <o@example.com>")
    data = _armored(build_key(other, secret=False)) + _armored(build_key(SPEC, secret=False))
    assert len(keys_from_pgp(data)) == 2
    with pytest.raises(ge.KeySetError, match=f"key {_fpr_hex(SPEC)} is revoked"):
        keys_from_pgp(data + _armored(key_revocation(SPEC)))


def test_a_revocation_certificate_for_no_key_given_is_refused() -> None:
    stray = replace(SPEC, uid="Gone <g@example.com>", slot=66, subkeys=())
    data = _armored(build_key(SPEC, secret=False)) + _armored(key_revocation(stray))
    with pytest.raises(ge.KeySetError, match="revokes no key"):
        keys_from_pgp(data)
    with pytest.raises(ge.KeySetError, match="revokes no key"):
        keys_from_pgp(_armored(key_revocation(SPEC)))


def test_a_lone_signature_that_is_no_revocation_is_refused() -> None:
    packets = _packets(build_key(SPEC, secret=False))
    cert = next(body for tag, body in packets if tag == op.TAG_SIGNATURE)
    data = _armored(_join(packets)) + _armored(op.packet(op.TAG_SIGNATURE, cert))
    with pytest.raises(ge.KeySetError, match="revokes no key"):
        keys_from_pgp(data)


def test_too_many_lone_signatures_are_refused() -> None:
    rev = key_revocation(replace(SPEC, slot=66))
    with pytest.raises(ge.KeySetError, match="signatures given apart"):
        keys_from_pgp([build_key(SPEC, secret=False), rev * 65])


# -- a subkey revocation anywhere marks its subkey -----------------------------------------
def _subkey_revoked_at(index: int, place: str) -> bytes:
    """SPEC with a revocation of ``SPEC.subkeys[index]`` at ``place``."""
    key = build_key(SPEC, secret=False)
    rev = subkey_revocation(SPEC, index)
    if place == "after-primary":
        return _insert_after(key, 0, rev)
    if place == "after-user-id":
        return _insert_after(key, _index(key, op.TAG_USER_ID), rev)
    if place == "after-other-subkey":
        return _insert_after(key, _index(key, op.TAG_PUBLIC_SUBKEY, 1 - index), rev)
    assert place == "apart"
    return _armored(key) + _armored(rev)


@pytest.mark.parametrize("place", ["after-primary", "after-user-id", "after-other-subkey", "apart"])
@pytest.mark.parametrize("index", [0, 1], ids=["encryption-subkey", "signing-subkey"])
def test_a_subkey_revocation_anywhere_revokes_its_subkey(index: int, place: str) -> None:
    (key,) = keys_from_pgp(_subkey_revoked_at(index, place))
    expected = [False, False, False]
    expected[1 + index] = True
    assert _revoked(key) == expected


def test_a_subkey_revocation_after_the_next_subkey_stops_encryption() -> None:
    (key,) = keys_from_pgp(_subkey_revoked_at(0, "after-other-subkey"))
    with pytest.raises(ge.SealError, match=key.kid):
        ge.seal(MSG, recipients=keyset(key), signer=keyset(load(IDENTITY)))


def test_a_signing_subkey_revoked_after_another_subkey_verifies_nothing() -> None:
    """A message the signing subkey signed while it was good: it verifies by the key as it
    was, and not by the key with the subkey's revocation placed after the other subkey."""
    signer, identity = load(SPEC), load(IDENTITY)
    env = ge.seal(MSG, recipients=keyset(identity.public()), signer=keyset(signer))
    opened = ge.open_detailed(env, identities=keyset(identity), senders=keyset(signer.public()))
    assert opened.verified_by == (signer.kid,)
    (revoked,) = keys_from_pgp(_subkey_revoked_at(1, "after-other-subkey"))
    assert _revoked(revoked) == [False, False, True]
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=keyset(identity), senders=keyset(revoked))


def test_the_export_puts_a_moved_subkey_revocation_after_its_subkey() -> None:
    (key,) = keys_from_pgp(_subkey_revoked_at(0, "after-other-subkey"))
    packets = _packets(op.dearmor(key_to_pgp(key), max_blocks=1, strict=False)[0][1])
    first, second = (i for i, (t, _) in enumerate(packets) if t == op.TAG_PUBLIC_SUBKEY)
    rev = _packets(subkey_revocation(SPEC, 0))[0]
    assert rev in packets[first:second] and rev not in packets[second:]
    (again,) = keys_from_pgp(key_to_pgp(key))
    assert _revoked(again) == [False, True, False]


def test_too_many_subkey_revocations_to_check_refuse_the_key() -> None:
    """Every subkey revocation is tried against every subkey: a key that would need more
    than 4096 tries is refused rather than judged with a revocation left unchecked."""
    pub = build_key(replace(SPEC, subkeys=()), secret=False)
    sub_key = _packets(build_key(SPEC, secret=False))[3][1]
    subkeys = [(op.TAG_PUBLIC_SUBKEY, sub_key[:1] + (i).to_bytes(4, "big") + sub_key[5:])
               for i in range(1, 70)]  # fmt: skip
    junk = [
        (op.TAG_SIGNATURE, bytes((4, 0x28, 1, op.HASH_SHA256, 0, 0, 0, 0, i, i, 0, 8, 0x55)))
        for i in range(60)
    ]
    data = pub + _join(subkeys) + _join(junk)
    with pytest.raises(ge.KeySetError, match="too many subkey revocations"):
        keys_from_pgp(data)
    assert keys_from_pgp(pub + _join(subkeys[:10]) + _join(junk))


# -- gpg's own keys and revocation certificates, and gpg's verdict on the same bytes -------
@pytest.fixture(scope="module")
def gpg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gpg]:
    require_peer(have_gpg(), "gpg")
    home = Gpg(tmp_path_factory.mktemp("revocation") / "gnupg")
    yield home
    _stop(home)


def _stop(gpg: Gpg) -> None:
    subprocess.run(
        ["gpgconf", "--homedir", str(gpg.home), "--kill", "all"], capture_output=True, check=False
    )


def _gpg_verdict(tmp_path: Path, data: bytes) -> dict[str, str]:
    """What a fresh gpg makes of ``data``: fingerprint -> validity letter."""
    # A short name: gpg-agent's sockets live in the home, and a socket path is at most 107
    # bytes (pytest-xdist's per-worker folder alone adds 10).
    fresh = Gpg(Path(tempfile.mkdtemp(prefix="f", dir=tmp_path)))
    try:
        fresh.import_keys(data)
        return fresh.validity()
    finally:
        _stop(fresh)


def _gpg_key(gpg: Gpg, name: str) -> str:
    """A gpg key: [SC] primary, [E] subkey, [S] subkey; its fingerprint."""
    fpr = gpg.gen(f"{name} <{name}@peer.example>")
    gpg.check("--quick-add-key", fpr, "rsa2048", "sign", "1y")
    return fpr


def _binary(armored: bytes) -> bytes:
    ((kind, blob),) = op.dearmor(armored, max_blocks=1, strict=False)
    assert kind == "PUBLIC KEY BLOCK"
    return blob


@pytest.mark.interop
@pytest.mark.parametrize(
    "layout", ["cat-binary", "armored-appended", "after-user-id", "after-first-subkey"]
)
def test_gpg_key_with_its_revocation_certificate(gpg: Gpg, tmp_path: Path, layout: str) -> None:
    """gpg's revocation certificate (the one it made with the key) with the key, in every
    order: gpg imports each as revoked, and we refuse each as revoked."""
    fpr = _gpg_key(gpg, f"r{layout.replace('-', '')}")
    key, cert = gpg.export(fpr), gpg.revocation_certificate(fpr)
    rev = _binary(cert)
    assert _packets(rev)[0][1][1] == op.SIG_KEY_REVOCATION
    (good,) = keys_from_pgp(key)
    assert good.kid == fpr
    if layout == "cat-binary":
        data = key + rev
    elif layout == "armored-appended":
        data = gpg.check("--armor", "--export", fpr) + cert
    elif layout == "after-user-id":
        data = _insert_after(key, _index(key, op.TAG_USER_ID), rev)
    else:
        data = _insert_after(key, _index(key, op.TAG_PUBLIC_SUBKEY), rev)
    with pytest.raises(ge.KeySetError, match=f"key {fpr} is revoked"):
        keys_from_pgp(data)
    assert _gpg_verdict(tmp_path, data)[fpr] == "r"


def _move_subkey_revocation(data: bytes, source: int, target: int) -> bytes:
    """``data`` with the subkey revocation after subkey ``source`` moved after subkey
    ``target`` (after its binding)."""
    packets = _packets(data)

    def signatures_of(nth: int) -> range:
        at = [i for i, (t, _) in enumerate(packets) if t == op.TAG_PUBLIC_SUBKEY][nth] + 1
        end = at
        while end < len(packets) and packets[end][0] == op.TAG_SIGNATURE:
            end += 1
        return range(at, end)

    found = [i for i in signatures_of(source) if packets[i][1][1] == op.SIG_SUBKEY_REVOCATION]
    rev = packets.pop(found[0])
    packets.insert(signatures_of(target).stop, rev)
    return _join(packets)


@pytest.mark.interop
@pytest.mark.parametrize("revoked", [0, 1], ids=["encryption-subkey", "signing-subkey"])
def test_gpg_subkey_revocation_after_the_other_subkey(
    gpg: Gpg, tmp_path: Path, revoked: int
) -> None:
    """gpg revokes one subkey; we move its revocation after the other subkey. gpg still
    sees that subkey, and only it, revoked; so do we, and a message the signing subkey
    signed before the revocation verifies only while that subkey is not revoked."""
    fpr = _gpg_key(gpg, f"sub{revoked}")
    (before,) = keys_from_pgp(gpg.export_secret(fpr))
    identity = load(IDENTITY)
    env = ge.seal(MSG, recipients=keyset(identity.public()), signer=keyset(before))
    script = f"key {revoked + 1}\nrevkey\ny\n0\n\ny\nsave\n".encode()
    gpg.check("--command-fd", "0", "--edit-key", fpr, data=script)
    data = _move_subkey_revocation(gpg.export(fpr), revoked, 1 - revoked)
    expected = [i == revoked for i in range(2)]
    (key,) = keys_from_pgp(data)
    assert _revoked(key) == [False, *expected]
    seen = _gpg_verdict(tmp_path, data)
    assert [seen[f.hex().upper()] == "r" for f in _subkey_fprs(key)] == expected
    assert seen[fpr] != "r"
    if revoked == 1:  # the signing subkey
        with pytest.raises(ge.InvalidSignature):
            ge.open(env, identities=keyset(identity), senders=keyset(key))
    else:
        opened = ge.open_detailed(env, identities=keyset(identity), senders=keyset(key))
        assert opened.verified_by == (fpr,)
