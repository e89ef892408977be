"""The pgp codec on hostile edge cases: armor memory, checksums before authentication,
duplicate subkeys, expired bindings, intended recipients, junk after a key, secrets after a
failed load; and behaviour pinned because it is easy to get wrong.
"""

from __future__ import annotations

import base64
import os
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pgp_fixtures import DAY, Party, Spec, Sub, build_key, encrypt_raw, keyset, load, pgp_party

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode, b64url_encode
from gpay_envelope.codecs.pgp import _codec as pgp
from gpay_envelope.codecs.pgp import key_to_pgp, keys_from_pgp
from gpay_envelope.codecs.pgp import wire as op
from gpay_envelope.codecs.pgp._keys import fingerprint, public_key_body

MSG = b'{"requestHeader": {"requestId": "edge"}, "amount": "1"}'
NOW = int(time.time())
T0 = NOW - DAY


def _now() -> int:
    # Not NOW: the session's keys may be made after this module is imported, and a
    # signature older than its key does not count.
    return int(time.time())


@pytest.fixture(scope="module")
def party() -> Party:
    return pgp_party()


def _rsa(slot: int) -> rsa.RSAPrivateKey:
    """The cached builder key of pgp_fixtures, 2048 bits."""
    from pgp_fixtures import rsa_key

    return rsa_key(slot, 2048)  # always pass the size: rsa_key(5) and rsa_key(5, 2048) differ


def _framed(body: bytes) -> bytes:
    return b"\x99" + struct.pack(">H", len(body)) + body


def _sig(
    key: rsa.RSAPrivateKey,
    issuer: bytes,
    sigtype: int,
    created: int,
    data: Sequence[bytes],
    extra: bytes = b"",
) -> bytes:
    hashed = (
        op.subpacket(op.SUB_CREATED, struct.pack(">I", created))
        + extra
        + op.subpacket(op.SUB_ISSUER_FINGERPRINT, b"\x04" + issuer)
    )
    return op.signature_body(
        key, sigtype=sigtype, hashalg=op.HASH_SHA384, hashed=hashed, unhashed=b"", data=data
    )


def _signed_by(
    private: rsa.RSAPrivateKey, part_fpr: bytes, data: bytes = MSG, *, extra: bytes = b""
) -> bytes:
    """OPS, literal, signature: the inner content an attacker holding ``private`` can make."""
    body = _sig(private, part_fpr, op.SIG_BINARY, _now(), (data,), extra)
    return (
        op.ops_packet(hashalg=op.HASH_SHA384, keyid=part_fpr[-8:], last=True)
        + op.literal_packet(data, when=_now())
        + op.packet(op.TAG_SIGNATURE, body)
    )


def _open(party: Party, inner: bytes, senders: ge.KeySet) -> ge.OpenResult:
    env = encrypt_raw(inner, [party.keys["g1"]])
    return ge.open_detailed(env, identities=party.secret("g1"), senders=senders)


# -- armor parser memory -----------------------------------------------------------
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
    party: Party, tmp_path: Path, line: str
) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("peak RSS is read from /proc (Linux)")
    (tmp_path / "key").write_bytes(key_to_pgp(party.keys["g1"], include_private=True))
    out = subprocess.run(
        [sys.executable, "-c", _ARMOR_CHILD, str(tmp_path / "key"), line],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout.split()
    before, after = int(out[0]), int(out[1])
    # A fixed parser still holds the text, its base64 and the decoded bytes (~25 MiB).
    assert after - before < 48 * 1024, (before, after)


# -- CRC24 in pure Python before anything is authenticated -------------------------
def test_armored_junk_costs_about_what_base64url_junk_costs(party: Party) -> None:
    raw = op.packet(op.TAG_PKESK, b"\x03" + b"\x11" * 8 + b"\x01" + op.mpi(12345))
    raw += op.packet(op.TAG_SEIPD, b"\x01" + os.urandom(((8 << 20) * 3 // 4) - 150_000))
    armored, b64 = op.armor("MESSAGE", raw), b64url_encode(raw)
    assert len(armored) <= ge.DEFAULT_LIMITS.max_envelope

    def cost(env: bytes) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            with pytest.raises(ge.InvalidEnvelope):
                ge.open(env, identities=party.secret("g1"), senders=party.public("p1"))
            best = min(best, time.perf_counter() - start)
        return best

    assert cost(armored) < 4 * cost(b64) + 0.05


def test_armor_as_real_writers_make_it_still_opens(party: Party) -> None:
    """64 or 76 columns, CRLF, trailing whitespace, headers, no blank line, no checksum."""
    env = ge.seal(MSG, recipients=party.public("g1"), signer=party.secret("p1"))
    body = base64.b64encode(b64url_decode(env))

    def wrap(width: int, eol: bytes = b"\n", headers: bytes = b"\n") -> bytes:
        lines = [body[i : i + width] for i in range(0, len(body), width)]
        return (
            b"-----BEGIN PGP MESSAGE-----"
            + eol
            + headers
            + eol.join(lines)
            + eol
            + b"-----END PGP MESSAGE-----"
            + eol
        )

    forms = [
        wrap(64),
        wrap(76),
        wrap(64, b"\r\n", b"Version: x\r\nComment: y\r\n\r\n"),
        wrap(64, b" \t\n"),
        wrap(64, headers=b"Comment: no blank line\n"),
        b"\n  " + wrap(64) + b"\n\n",
    ]
    for form in forms:
        assert ge.open(form, identities=party.secret("g1"), senders=party.public("p1")) == MSG


def test_armor_bounds() -> None:
    data = os.urandom(3000)
    good = op.armor("MESSAGE", data)
    assert op.dearmor(good, max_blocks=1, strict=True) == [("MESSAGE", data)]
    head, rest = good.split(b"\n\n", 1)
    cases = {
        "17 headers": head + b"\n" + b"A: b\n" * 17 + b"\n" + rest,
        "long header": head + b"\nComment: " + b"x" * 5000 + b"\n\n" + rest,
        "short lines": head + b"\n\n" + _rewrap(rest, 8),
        "text on the END line": good.replace(b"-----END", b"AAAA-----END"),
        "text after END": good.replace(b"MESSAGE-----\n", b"MESSAGE----- x\n").replace(
            b"BEGIN PGP MESSAGE----- x", b"BEGIN PGP MESSAGE-----"
        ),
        "checksum not last": good.replace(b"\n-----END", b"\nAAAA\n-----END"),
        "unterminated": good.replace(b"-----END PGP MESSAGE-----", b""),
        "BEGIN inside a line": b"x " + good,
    }
    assert cases["short lines"].count(b"\n") > len(cases["short lines"]) // 48 + 64
    for name, text in cases.items():
        with pytest.raises(op.Malformed):
            op.dearmor(text, max_blocks=1, strict=True)
            pytest.fail(name)
    # Key files: text around the blocks is skipped (a BEGIN inside a line is not a block),
    # and the checksum is checked.
    assert op.dearmor(
        b"x -----BEGIN PGP MESSAGE-----\n" + good + b"x\n", max_blocks=2, strict=False
    ) == [("MESSAGE", data)]
    crc = good.rsplit(b"\n=", 1)[1][:4]
    with pytest.raises(op.Malformed):
        op.dearmor(good.replace(b"=" + crc, b"=AAAA"), max_blocks=1, strict=False)


def _rewrap(armor_body: bytes, width: int) -> bytes:
    """The base64 lines of an armor body (after the blank line) re-wrapped at ``width``."""
    data, tail = armor_body.split(b"\n=", 1)
    flat = data.replace(b"\n", b"")
    lines = [flat[i : i + width] for i in range(0, len(flat), width)]
    return b"\n".join(lines) + b"\n=" + tail


# -- duplicate subkey packets are not merged ---------------------------------------
def _signing_subkey_key(*, revoked: bool) -> bytes:
    sign = Sub(slot=24, flags=op.FLAG_SIGN, revoked=revoked)
    return build_key(
        Spec(slot=23, created=T0, flags=op.FLAG_CERTIFY, subkeys=(Sub(slot=22), sign)),
        secret=False,
    )


def test_a_revoked_subkey_stays_revoked_when_an_old_copy_is_present(party: Party) -> None:
    revoked = _signing_subkey_key(revoked=True)
    old = op.read_packets(_signing_subkey_key(revoked=False), max_packets=20)
    # Key data as published after the revocation, with the old copy of the subkey (packet and
    # binding) still in the file, e.g. from merging an old export by concatenation.
    merged = revoked + b"".join(op.packet(t, b) for t, b in old[-2:])
    (key,) = keys_from_pgp(merged)
    fpr = fingerprint(public_key_body(_rsa(24).public_key(), T0))
    parts = key.material.parts  # type: ignore[attr-defined]
    assert all(p.revoked for p in parts if p.fingerprint == fpr)
    with pytest.raises(ge.InvalidSignature):
        _open(party, _signed_by(_rsa(24), fpr), keyset(key))


def test_a_revoked_user_id_stays_revoked_when_an_old_copy_is_present() -> None:
    created = NOW - 10 * DAY
    pk = _rsa(2)
    pub = public_key_body(pk.public_key(), created)
    fpr = fingerprint(pub)
    gone, kept = b"Gone <gone@example.com>", b"Kept <kept@example.com>"

    def uid_sig(uid: bytes, sigtype: int, when: int) -> bytes:
        prefix = b"\xb4" + struct.pack(">I", len(uid)) + uid
        flags = (
            op.subpacket(op.SUB_KEY_FLAGS, b"\x03") if sigtype != op.SIG_CERT_REVOCATION else b""
        )
        return op.packet(
            op.TAG_SIGNATURE, _sig(pk, fpr, sigtype, when, (_framed(pub), prefix), flags)
        )

    old_copy = op.packet(op.TAG_USER_ID, gone) + uid_sig(gone, op.SIG_CERT_POSITIVE, created)
    blob = b"".join(
        (
            op.packet(op.TAG_PUBLIC_KEY, pub),
            old_copy,
            uid_sig(gone, op.SIG_CERT_REVOCATION, created + 60),
            op.packet(op.TAG_USER_ID, kept),
            uid_sig(kept, op.SIG_CERT_POSITIVE, created),
            old_copy,
        )
    )
    (key,) = keys_from_pgp(blob)
    assert key.material.user_ids == ("Kept <kept@example.com>",)  # type: ignore[attr-defined]
    # The export holds each user ID once, with every signature once.
    exported = op.read_packets(key.material.export(include_private=False), max_packets=20)  # type: ignore[attr-defined]
    assert [t for t, _ in exported].count(op.TAG_USER_ID) == 2
    assert len(exported) == 1 + 3 + 2


def test_two_copies_of_one_key_in_the_input_are_refused() -> None:
    blob = build_key(Spec(slot=2), secret=False)
    with pytest.raises(ge.KeySetError, match="more than once"):
        keys_from_pgp(blob + blob)
    with pytest.raises(ge.KeySetError, match="more than once"):
        keys_from_pgp([blob, build_key(Spec(slot=2))])


def test_a_revoked_signing_subkey_does_not_count(party: Party) -> None:
    (key,) = keys_from_pgp(_signing_subkey_key(revoked=True))
    fpr = fingerprint(public_key_body(_rsa(24).public_key(), T0))
    with pytest.raises(ge.InvalidSignature):
        _open(party, _signed_by(_rsa(24), fpr), keyset(key))
    (good,) = keys_from_pgp(_signing_subkey_key(revoked=False))
    assert _open(party, _signed_by(_rsa(24), fpr), keyset(good)).verified_by == (good.kid,)


# -- an expired binding signature still binds ---------------------------------------
def test_a_subkey_whose_binding_signature_expired_is_not_used(party: Party) -> None:
    created = NOW - 10 * DAY
    pk, sk = _rsa(2), _rsa(3)
    pub = public_key_body(pk.public_key(), created)
    sub = public_key_body(sk.public_key(), created)
    fpr = fingerprint(pub)
    uid = b"Binding <b@example.com>"
    cert = _sig(
        pk,
        fpr,
        op.SIG_CERT_POSITIVE,
        created,
        (_framed(pub), b"\xb4" + struct.pack(">I", len(uid)) + uid),
        op.subpacket(op.SUB_KEY_FLAGS, b"\x03"),
    )
    expired_binding = _sig(
        pk,
        fpr,
        op.SIG_SUBKEY_BINDING,
        created,
        (_framed(pub), _framed(sub)),
        op.subpacket(op.SUB_KEY_FLAGS, bytes((op.FLAG_ENCRYPT,)))
        + op.subpacket(op.SUB_SIG_EXPIRES, struct.pack(">I", DAY)),  # expired 9 days ago
    )
    blob = b"".join(
        (
            op.packet(op.TAG_PUBLIC_KEY, pub),
            op.packet(op.TAG_USER_ID, uid),
            op.packet(op.TAG_SIGNATURE, cert),
            op.packet(op.TAG_PUBLIC_SUBKEY, sub),
            op.packet(op.TAG_SIGNATURE, expired_binding),
        )
    )
    (key,) = keys_from_pgp(blob)
    with pytest.raises(ge.SealError):
        ge.seal(MSG, recipients=keyset(key), signer=party.secret("p1"))


def _binding_key(bindings: Sequence[tuple[int, int | None]]) -> bytes:
    """A key whose encryption subkey has one binding per (created, signature lifetime)."""
    created = NOW - 10 * DAY
    pk, sk = _rsa(2), _rsa(3)
    pub = public_key_body(pk.public_key(), created)
    sub = public_key_body(sk.public_key(), created)
    fpr = fingerprint(pub)
    uid = b"Binding <b@example.com>"
    cert = _sig(
        pk,
        fpr,
        op.SIG_CERT_POSITIVE,
        created,
        (_framed(pub), b"\xb4" + struct.pack(">I", len(uid)) + uid),
        op.subpacket(op.SUB_KEY_FLAGS, b"\x03"),
    )
    out = [
        op.packet(op.TAG_PUBLIC_KEY, pub),
        op.packet(op.TAG_USER_ID, uid),
        op.packet(op.TAG_SIGNATURE, cert),
        op.packet(op.TAG_PUBLIC_SUBKEY, sub),
    ]
    for when, lifetime in bindings:
        extra = op.subpacket(op.SUB_KEY_FLAGS, bytes((op.FLAG_ENCRYPT,)))
        if lifetime is not None:
            extra += op.subpacket(op.SUB_SIG_EXPIRES, struct.pack(">I", lifetime))
        body = _sig(pk, fpr, op.SIG_SUBKEY_BINDING, when, (_framed(pub), _framed(sub)), extra)
        out.append(op.packet(op.TAG_SIGNATURE, body))
    return b"".join(out)


def test_binding_signature_expiry_is_the_subkey_expiry() -> None:
    created = NOW - 10 * DAY
    # Still valid: the subkey is usable until the binding expires, and not after.
    (key,) = keys_from_pgp(_binding_key([(created, 20 * DAY)]))
    (sub,) = key.material.encryption_parts(_now())  # type: ignore[attr-defined]
    assert sub.expires == created + 20 * DAY
    assert not sub.valid_at(created + 20 * DAY)
    # A newer binding that has expired gives way to an older one that has not.
    (key,) = keys_from_pgp(_binding_key([(created, None), (created + DAY, DAY)]))
    (sub,) = key.material.encryption_parts(_now())  # type: ignore[attr-defined]
    assert sub.expires is None
    # Every binding expired: the subkey is kept (our own secret still decrypts late mail)
    # but expired, so nobody encrypts to it or counts its signatures.
    (key,) = keys_from_pgp(_binding_key([(created, DAY)]))
    parts = key.material.parts  # type: ignore[attr-defined]
    assert len(parts) == 2 and parts[1].expires == created + DAY
    assert not key.material.encryption_parts(_now())  # type: ignore[attr-defined]


def test_an_expired_user_id_certification_expires_the_key() -> None:
    created = NOW - 10 * DAY
    pk = _rsa(2)
    pub = public_key_body(pk.public_key(), created)
    fpr = fingerprint(pub)
    uid = b"Lapsed <l@example.com>"
    cert = _sig(
        pk,
        fpr,
        op.SIG_CERT_POSITIVE,
        created,
        (_framed(pub), b"\xb4" + struct.pack(">I", len(uid)) + uid),
        op.subpacket(op.SUB_KEY_FLAGS, b"\x03")
        + op.subpacket(op.SUB_SIG_EXPIRES, struct.pack(">I", DAY)),
    )
    blob = (
        op.packet(op.TAG_PUBLIC_KEY, pub)
        + op.packet(op.TAG_USER_ID, uid)
        + op.packet(op.TAG_SIGNATURE, cert)
    )
    (key,) = keys_from_pgp(blob)
    assert key.material.parts[0].expires == created + DAY  # type: ignore[attr-defined]
    assert key.not_after is not None and key.not_after.timestamp() == created + DAY


# -- "understood" critical intended-recipient subpacket is not applied -------------
def test_a_critical_intended_recipient_naming_someone_else_voids_the_signature(
    party: Party,
) -> None:
    p1 = party.keys["p1"]
    part, private = p1.material.signing_part(_now())  # type: ignore[attr-defined]
    other = bytes.fromhex(party.kid("g2"))
    scoped = op.subpacket(35, b"\x04" + other, critical=True)
    with pytest.raises(ge.InvalidSignature):
        _open(party, _signed_by(private, part.fingerprint, extra=scoped), party.public("p1"))


def test_intended_recipient_fingerprints_are_checked_critical_or_not(party: Party) -> None:
    p1 = party.keys["p1"]
    part, private = p1.material.signing_part(_now())  # type: ignore[attr-defined]
    g1 = party.keys["g1"]
    ours = bytes.fromhex(g1.kid)
    our_sub = g1.material.encryption_parts(_now())[0].fingerprint  # type: ignore[attr-defined]
    other = bytes.fromhex(party.kid("g2"))

    def irf(*fprs: bytes, critical: bool = False) -> bytes:
        return b"".join(op.subpacket(35, b"\x04" + f, critical=critical) for f in fprs)

    for extra in (
        irf(ours),
        irf(ours, critical=True),
        irf(other, ours),
        irf(our_sub),  # the decrypting subkey names the same key
    ):
        result = _open(
            party, _signed_by(private, part.fingerprint, extra=extra), party.public("p1")
        )
        assert result.verified_by == (p1.kid,)
    for extra in (
        irf(other),  # non-critical, names somebody else: forwarded, not for us
        op.subpacket(35, b"\x05" + ours + b"\0" * 12),  # not a v4 value
        op.subpacket(35, b"\x04" + ours[:10]),  # truncated
    ):
        with pytest.raises(ge.InvalidSignature):
            _open(party, _signed_by(private, part.fingerprint, extra=extra), party.public("p1"))
    # In the unhashed area it is not signed, so not applied.
    body = _sig(private, part.fingerprint, op.SIG_BINARY, _now(), (MSG,))
    hlen = int.from_bytes(body[4:6], "big")
    unhashed = irf(other)
    body = (
        body[: 6 + hlen]
        + struct.pack(">H", len(unhashed))
        + unhashed
        + body[6 + hlen + 2 + int.from_bytes(body[6 + hlen : 8 + hlen], "big") :]
    )
    inner = (
        op.ops_packet(hashalg=op.HASH_SHA384, keyid=part.keyid, last=True)
        + op.literal_packet(MSG, when=_now())
        + op.packet(op.TAG_SIGNATURE, body)
    )
    assert _open(party, inner, party.public("p1")).verified_by == (p1.kid,)


# -- unbound junk after a key refuses the whole key --------------------------------
def test_unbound_junk_subkey_is_dropped_not_fatal() -> None:
    n = _rsa(3).public_key().public_numbers().n
    junk = op.packet(
        op.TAG_PUBLIC_SUBKEY,
        b"\x04" + NOW.to_bytes(4, "big") + b"\x01" + op.mpi(n) + op.mpi(1),  # e = 1, no binding
    )
    (key,) = keys_from_pgp(build_key(Spec(slot=2), secret=False) + junk)
    assert len(key.material.parts) == 2  # type: ignore[attr-defined]


def test_unreadable_subkey_packets_are_dropped_but_a_bound_broken_subkey_refuses() -> None:
    base = build_key(Spec(slot=2), secret=False)
    for junk in (
        b"\x05" + NOW.to_bytes(4, "big") + b"\x01" + b"\0" * 40,  # v5
        b"\x04" + NOW.to_bytes(4, "big") + b"\x01\x08\x00",  # truncated MPI
        b"\x04" + NOW.to_bytes(4, "big") + b"\x16" + b"\0" * 40,  # EdDSA: never read
    ):
        (key,) = keys_from_pgp(base + op.packet(op.TAG_PUBLIC_SUBKEY, junk))
        assert len(key.material.parts) == 2  # type: ignore[attr-defined]
    # A subkey the primary did bind is the owner's statement: broken numbers refuse the key.
    created = NOW - DAY
    pk = _rsa(2)
    pub = public_key_body(pk.public_key(), created)
    fpr = fingerprint(pub)
    bad = (
        b"\x04"
        + created.to_bytes(4, "big")
        + b"\x01"
        + op.mpi(_rsa(3).public_key().public_numbers().n)
        + op.mpi(1)
    )
    uid = b"U <u@example.com>"
    cert = _sig(
        pk,
        fpr,
        op.SIG_CERT_POSITIVE,
        created,
        (_framed(pub), b"\xb4" + struct.pack(">I", len(uid)) + uid),
    )
    binding = _sig(
        pk,
        fpr,
        op.SIG_SUBKEY_BINDING,
        created,
        (_framed(pub), _framed(bad)),
        op.subpacket(op.SUB_KEY_FLAGS, bytes((op.FLAG_ENCRYPT,))),
    )
    blob = b"".join(
        (
            op.packet(op.TAG_PUBLIC_KEY, pub),
            op.packet(op.TAG_USER_ID, uid),
            op.packet(op.TAG_SIGNATURE, cert),
            op.packet(op.TAG_PUBLIC_SUBKEY, bad),
            op.packet(op.TAG_SIGNATURE, binding),
        )
    )
    with pytest.raises(ge.KeySetError, match="invalid RSA public key"):
        keys_from_pgp(blob)


# -- secrets reachable after a failed key load -------------------------------------
def _reachable_library_frames(exc: BaseException) -> list[Any]:
    """Frames of this library on the traceback of ``exc`` and of any exception chained to it."""
    frames = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        tb = e.__traceback__
        while tb is not None:
            if "gpay_envelope" in tb.tb_frame.f_code.co_filename:
                frames.append(tb.tb_frame)
            tb = tb.tb_next
        todo += [e.__context__, e.__cause__]
    return frames


def _printed(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return ""


def test_a_failed_key_load_leaves_no_passphrase_reachable(party: Party) -> None:
    from gpay_envelope.codecs.pgp._pgpy import protect

    secret = "right " + os.urandom(8).hex()
    protected = protect(party.keys["g1"].material.export(include_private=True), secret)  # type: ignore[attr-defined]
    for wrong in (
        "wrong " + os.urandom(8).hex(),
        {party.kid("g1"): "wrong " + os.urandom(8).hex()},
    ):
        with pytest.raises(ge.KeySetError, match="wrong passphrase") as info:
            keys_from_pgp(protected, passphrase=wrong)
        exc = info.value
        assert exc.__context__ is None and exc.__cause__ is None
        frames = _reachable_library_frames(exc)
        assert frames  # the raise site is in the library
        text = wrong if isinstance(wrong, str) else next(iter(wrong.values()))
        for frame in frames:
            for name, value in frame.f_locals.items():
                assert text not in _printed(value), (frame.f_code.co_name, name)
    with pytest.raises(ge.KeySetError, match="passphrase-protected") as info:
        keys_from_pgp(protected)
    assert info.value.__context__ is None
    (key,) = keys_from_pgp(protected, passphrase=secret)
    assert key.has_secret


def test_internal_key_objects_do_not_print_secret_material() -> None:
    from gpay_envelope.codecs.pgp._keys import _read_public, secret_key_body, split_keys

    pub = public_key_body(_rsa(2).public_key(), T0)
    sub = public_key_body(_rsa(3).public_key(), T0)
    marker = b"SECRET-MATERIAL-" * 4
    raw = _read_public(pub + marker, "test")
    (group,) = split_keys(
        [
            (op.TAG_SECRET_KEY, pub + marker),
            (op.TAG_USER_ID, b"u"),
            (op.TAG_SECRET_SUBKEY, sub + marker),
        ]
    )
    for obj in (raw, group):
        assert "SECRET-MATERIAL" not in repr(obj)
    # And with real secret key packets: no more than the public numbers are printed.
    real = secret_key_body(_rsa(2), T0)
    assert len(repr(_read_public(real, "test"))) < len(repr(real[: len(pub)])) + 1000


def test_open_failures_carry_no_context(party: Party) -> None:
    from datetime import datetime, timezone

    from gpay_envelope.codecs import OpenRequest

    g1 = party.keys["g1"]
    request = OpenRequest(
        envelope=encrypt_raw(op.literal_packet(MSG, when=0) + b"\xff", [g1]),  # malformed inside
        identities=(g1,),
        senders=(),
        allow_unsigned=True,
        now=datetime.now(timezone.utc),
        limits=ge.DEFAULT_LIMITS,
    )
    with pytest.raises(ge.InvalidEnvelope) as info:
        pgp.PGPCodec().open(request)
    assert info.value.__context__ is None and info.value.__cause__ is None


# -- pinned behaviour ------------------------------------------------
def test_pkesk_failures_end_alike_with_one_private_operation(
    party: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad padding (wrong key), bad checksum, non-AES algorithm octet, short payload and a
    valid session key whose SEIPD fails the MDC: one private-key operation each, the same
    error (timing medians measured within ~2 us of each other at ~300 us)."""
    calls: list[int] = []
    real = pgp._rsa_decrypt

    def counting(k: rsa.RSAPrivateKey, v: bytes) -> bytes | None:
        calls.append(1)
        return real(k, v)

    monkeypatch.setattr(pgp, "_rsa_decrypt", counting)
    g1, p1 = party.keys["g1"], party.keys["p1"]
    part = g1.material.encryption_parts(_now())[0]  # type: ignore[attr-defined]
    other = p1.material.encryption_parts(_now())[0]  # type: ignore[attr-defined]
    key = os.urandom(32)
    good = op.session_key_payload(op.SYM_AES256, key)
    seipd = op.encrypt_seipd(key, op.literal_packet(MSG, when=0))

    def pkesk(public: rsa.RSAPublicKey, payload: bytes) -> bytes:
        ct = int.from_bytes(public.encrypt(payload, pgp._PKCS1), "big")
        return op.packet(op.TAG_PKESK, b"\x03" + part.keyid + b"\x01" + op.mpi(ct))

    cases = [
        pkesk(other.public_key, good) + seipd,
        pkesk(part.public_key, good[:-1] + bytes((good[-1] ^ 1,))) + seipd,
        pkesk(part.public_key, b"\x03" + good[1:]) + seipd,
        pkesk(part.public_key, b"\x09") + seipd,
        pkesk(part.public_key, good) + op.encrypt_seipd(os.urandom(32), b"x"),
    ]
    for env in cases:
        calls.clear()
        with pytest.raises(ge.InvalidEnvelope) as info:
            ge.open(env, identities=party.secret("g1"), senders=None, allow_unsigned=True)
        assert len(calls) == 1
        assert info.value.__context__ is None and info.value.__cause__ is None


def test_quick_check_octets_are_not_an_early_exit(party: Party) -> None:
    import hashlib

    from cryptography.hazmat.decrepit.ciphers.modes import CFB
    from cryptography.hazmat.primitives.ciphers import Cipher
    from cryptography.hazmat.primitives.ciphers.algorithms import AES

    key = os.urandom(32)
    p1 = party.keys["p1"]
    part, private = p1.material.signing_part(_now())  # type: ignore[attr-defined]
    inner = _signed_by(private, part.fingerprint)
    prefix = os.urandom(16)
    prefix += bytes((prefix[-2] ^ 0xFF, prefix[-1]))  # wrong quick check
    mdc = hashlib.sha1(prefix + inner + b"\xd3\x14").digest()
    enc = Cipher(AES(key), CFB(b"\0" * 16)).encryptor()
    seipd = b"\x01" + enc.update(prefix + inner + b"\xd3\x14" + mdc) + enc.finalize()
    env = b"".join(
        op.pkesk_packet(p.keyid, p.public_key, op.session_key_payload(op.SYM_AES256, key))
        for p in party.keys["g1"].material.encryption_parts(_now())  # type: ignore[attr-defined]
    ) + op.packet(op.TAG_SEIPD, seipd)
    assert ge.open(env, identities=party.secret("g1"), senders=party.public("p1")) == MSG


def test_signatures_by_unusable_parts_of_a_sender_do_not_count(party: Party) -> None:
    # An encryption-only subkey's private half signs: not a signing key.
    sender = load(Spec(slot=21, created=T0, subkeys=(Sub(slot=22),)), secret=False)
    enc = sender.material.parts[1]  # type: ignore[attr-defined]
    with pytest.raises(ge.InvalidSignature):
        _open(party, _signed_by(_rsa(22), enc.fingerprint), keyset(sender))
    primary = sender.material.parts[0]  # type: ignore[attr-defined]
    assert _open(party, _signed_by(_rsa(21), primary.fingerprint), keyset(sender)).verified_by
    # A primary without the sign flag (certify only) does not sign messages.
    certify_only = load(
        Spec(slot=23, created=T0, flags=op.FLAG_CERTIFY, subkeys=(Sub(slot=22),)), secret=False
    )
    fpr = certify_only.material.parts[0].fingerprint  # type: ignore[attr-defined]
    with pytest.raises(ge.InvalidSignature):
        _open(party, _signed_by(_rsa(23), fpr), keyset(certify_only))
    # Signing subkeys that are expired, forged (foreign or corrupt binding) or lack a back-sig.
    fpr24 = fingerprint(public_key_body(_rsa(24).public_key(), T0))
    for sub in (
        Sub(slot=24, flags=op.FLAG_SIGN, expires_after=3600),
        Sub(slot=24, flags=op.FLAG_SIGN, forge="foreign"),
        Sub(slot=24, flags=op.FLAG_SIGN, forge="corrupt"),
        Sub(slot=24, flags=op.FLAG_SIGN, backsig=False),
    ):
        k = load(
            Spec(slot=23, created=T0, flags=op.FLAG_CERTIFY, subkeys=(Sub(slot=22), sub)),
            secret=False,
        )
        with pytest.raises(ge.InvalidSignature):
            _open(party, _signed_by(_rsa(24), fpr24), keyset(k))


def test_verification_work_is_bounded(party: Party, monkeypatch: pytest.MonkeyPatch) -> None:
    """16 signatures naming no issuer, 4 senders: at most max_trials verifications each."""
    calls: list[int] = []
    real = op.rsa_verify

    def counting(*args: Any) -> bool:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(op, "rsa_verify", counting)
    hashed = op.subpacket(op.SUB_CREATED, _now().to_bytes(4, "big"))
    sigs = b"".join(
        op.packet(
            op.TAG_SIGNATURE,
            bytes((4, 0, 1, op.HASH_SHA384))
            + struct.pack(">H", len(hashed))
            + hashed
            + b"\0\0\0\0"
            + op.mpi(1000 + i),
        )
        for i in range(pgp.MAX_SIGNATURES)
    )
    ops_ = op.ops_packet(hashalg=op.HASH_SHA384, keyid=b"\0" * 8, last=True)
    inner = ops_ * pgp.MAX_SIGNATURES + op.literal_packet(MSG, when=0) + sigs
    with pytest.raises(ge.InvalidSignature):
        _open(party, inner, party.public("p1", "p2", "g2", "g3"))
    assert len(calls) <= pgp.MAX_SIGNATURES * ge.DEFAULT_LIMITS.max_trials


def test_text_signatures_accept_only_line_ending_variants(party: Party) -> None:
    """A text signature (0x01) over "a\\r\\nb" also covers "a\\nb" (RFC 4880 5.2.1), nothing
    else: a lone CR is not a line ending."""
    p1 = party.keys["p1"]
    part, private = p1.material.signing_part(_now())  # type: ignore[attr-defined]
    signed = b"pay 1\r\nto x"
    body = _sig(private, part.fingerprint, op.SIG_TEXT, _now(), (signed,))

    def inner(literal: bytes) -> bytes:
        return (
            op.ops_packet(hashalg=op.HASH_SHA384, keyid=part.keyid, last=True)
            + op.literal_packet(literal, when=0)
            + op.packet(op.TAG_SIGNATURE, body)
        )

    assert _open(party, inner(b"pay 1\nto x"), party.public("p1")).plaintext == b"pay 1\nto x"
    for other in (b"pay 1\rto x", b"pay 1\r\r\nto x", b"pay 1\n\nto x"):
        with pytest.raises(ge.InvalidSignature):
            _open(party, inner(other), party.public("p1"))
