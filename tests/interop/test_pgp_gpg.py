"""gpg 2.2 <-> the pgp codec, both directions (Google's own GPG example is gpg).

gpg runs in a private home with loopback pinentry; its verdicts are read from --status-fd
(VALIDSIG carries the primary fingerprint), never from the exit code alone: gpg exits 2 as soon
as any signature is by a key it does not have, even when another one is good.
These tests skip without gpg unless GPAY_REQUIRE_PEERS=1.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

import pytest
from pgp_fixtures import (
    YEAR,
    GpgPeer,
    Party,
    gpg_peer_session,
    import_ours,
    keyset,
)

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode
from gpay_envelope.codecs.pgp import keys_from_pgp
from gpay_envelope.codecs.pgp import wire as op

pytestmark = pytest.mark.interop

MSG = b'{"requestHeader": {"requestId": "interop"}, "amount": "1000"}\n'
#: Big enough that gpg, reading stdin, writes partial body lengths.
BIG = os.urandom(30_000)


@pytest.fixture(scope="session")
def gpg_peer(tmp_path_factory: pytest.TempPathFactory) -> GpgPeer:
    return gpg_peer_session(tmp_path_factory.getbasetemp())


# -- gpg opens ours ------------------------------------------------------------------------
@pytest.mark.parametrize("peer_key", ["ga", "gb", "gc"], ids=["rsa2048", "rsa3072", "rsa4096"])
@pytest.mark.parametrize("profile", ["default", "zip"])
def test_gpg_decrypts_and_verifies_ours(
    gpg_peer: GpgPeer, pgp_keys: Party, peer_key: str, profile: str
) -> None:
    import_ours(gpg_peer, pgp_keys.keys["p1"], pgp_keys.keys["p2"])
    env = ge.seal(
        MSG,
        recipients=keyset(gpg_peer.public(peer_key), pgp_keys.keys["g1"].public()),
        signer=pgp_keys.secret("p1", "p2"),
        profile=profile,
    )
    r = gpg_peer.gpg.decrypt(b64url_decode(env))
    assert r.rc == 0, r.status
    assert r.stdout == MSG
    assert r.good_signers() == {pgp_keys.kid("p1"), pgp_keys.kid("p2")}
    assert all(s.split()[8] == str(op.HASH_SHA384) for s in r.lines("VALIDSIG"))
    # DECRYPTION_INFO <mdc_method> <sym_algo>: 2 = SHA-1 MDC, 9 = AES256.
    assert r.lines("DECRYPTION_INFO")[0].split()[1:3] == ["2", "9"]
    assert len(r.lines("ENC_TO")) == 2
    assert r.lines("DECRYPTION_OKAY") and not r.lines("BADSIG")


def test_gpg_sees_our_unknown_signer_and_still_verifies_the_known_one(
    gpg_peer: GpgPeer, pgp_keys: Party
) -> None:
    import_ours(gpg_peer, pgp_keys.keys["p1"])
    env = ge.seal(MSG, recipients=keyset(gpg_peer.public("ga")), signer=pgp_keys.secret("u1", "p1"))
    r = gpg_peer.gpg.decrypt(b64url_decode(env))
    assert r.rc == 2  # gpg's verdict when any signature is unknown
    assert r.stdout == MSG
    assert r.good_signers() == {pgp_keys.kid("p1")}
    u1_keyid = pgp_keys.kid("u1")[-16:]
    assert any(u1_keyid in s for s in r.lines("NO_PUBKEY"))


def test_gpg_accepts_our_keys_as_exported(gpg_peer: GpgPeer, pgp_keys: Party) -> None:
    """gpg imports our armored public key with both self-signatures valid, and sees the key
    the way generate_pgp_key means it: [SC] primary, [E] subkey, both expiring."""
    key = pgp_keys.keys["p1"]
    import_ours(gpg_peer, key)
    out = gpg_peer.gpg.check("--with-colons", "--list-keys", key.kid).decode()
    rows = [line.split(":") for line in out.splitlines()]
    pub = next(r for r in rows if r[0] == "pub")
    sub = next(r for r in rows if r[0] == "sub")
    assert pub[1] not in ("i", "r", "e") and pub[11].startswith("sc") and pub[6]
    assert sub[1] not in ("i", "r", "e") and sub[11] == "e" and sub[6]


# -- we open gpg's --------------------------------------------------------------------------
def _gpg_encrypt(
    peer: GpgPeer,
    party: Party,
    data: bytes,
    *,
    to: list[str],
    by: list[str],
    extra: tuple[str, ...] = (),
) -> bytes:
    ours = [party.keys[n] for n in to if n in party.keys]
    import_ours(peer, *ours)
    recipients = [party.kid(n) if n in party.keys else peer.fprs[n] for n in to]
    return peer.gpg.encrypt(
        data,
        recipients=recipients,
        signers=[peer.fprs[n] for n in by],
        extra=("--digest-algo", "SHA384", "--cipher-algo", "AES256", *extra),
    )


@pytest.mark.parametrize("signer", ["ga", "gb", "gc"], ids=["rsa2048", "rsa3072", "rsa4096"])
def test_we_open_gpg_messages_by_each_key_size(
    gpg_peer: GpgPeer, pgp_keys: Party, signer: str
) -> None:
    msg = _gpg_encrypt(gpg_peer, pgp_keys, MSG, to=[signer, "g1"], by=[signer])
    result = ge.open_detailed(
        msg, identities=pgp_keys.secret("g1"), senders=keyset(gpg_peer.public(signer))
    )
    assert result.plaintext == MSG
    assert result.verified_by == (gpg_peer.fprs[signer],)
    # ... and the peer's own secret key, loaded from gpg's export, opens it too.
    mine = ge.open(
        msg, identities=keyset(gpg_peer.ours(signer)), senders=keyset(gpg_peer.public(signer))
    )
    assert mine == MSG


@pytest.mark.parametrize(
    ("extra", "compression"),
    [
        (("-z", "0"), None),
        (("-z", "6"), "ZLIB"),  # gpg's default pick from our preferences is ZIP; forced below
        (("--compress-algo", "zip"), "ZIP"),
        (("--compress-algo", "zlib"), "ZLIB"),
        (("--compress-algo", "bzip2"), "BZIP2"),
        (("--armor",), "any"),
        (("--textmode",), "any"),
        (("--throw-keyids",), "any"),
    ],
    ids=["z0", "z6", "zip", "zlib", "bzip2", "armor", "textmode", "throw-keyids"],
)
def test_we_open_gpg_messages_multi_recipient_multi_signer(
    gpg_peer: GpgPeer, pgp_keys: Party, extra: tuple[str, ...], compression: str | None
) -> None:
    data = BIG if "--textmode" not in extra else MSG * 400
    if extra == ("-z", "6"):
        extra = ("-z", "6", "--compress-algo", "zlib")
    msg = _gpg_encrypt(
        gpg_peer, pgp_keys, data, to=["ga", "g1", "g2"], by=["ga", "gb"], extra=extra
    )
    senders = keyset(gpg_peer.public("ga"), gpg_peer.public("gb"))
    result = ge.open_detailed(msg, identities=pgp_keys.secret("g2", "g1"), senders=senders)
    # In text mode gpg writes the literal data with CRLF line endings; we return it as sent.
    assert result.plaintext == (data.replace(b"\n", b"\r\n") if "--textmode" in extra else data)
    assert result.decrypted_with == pgp_keys.kid("g2")
    assert set(result.verified_by) == {gpg_peer.fprs["ga"], gpg_peer.fprs["gb"]}
    algs = result.algorithms
    if compression is None:
        assert not {"ZIP", "ZLIB", "BZIP2"} & set(algs)
    elif compression != "any":
        assert compression in algs


def test_gpg_streams_partial_body_lengths(gpg_peer: GpgPeer, pgp_keys: Party) -> None:
    """gpg reading stdin does not know the size: SEIPD and literal data use partial lengths."""
    msg = _gpg_encrypt(gpg_peer, pgp_keys, BIG, to=["g1"], by=["ga"], extra=("-z", "0"))
    pos = 0
    while msg[pos] == 0x85:  # gpg's PKESKs: old format, two-octet length
        pos += 3 + int.from_bytes(msg[pos + 1 : pos + 3], "big")
    assert msg[pos] == 0xC0 | op.TAG_SEIPD
    assert 0xE0 <= msg[pos + 1] < 0xFF  # a partial first chunk
    result = ge.open_detailed(
        msg, identities=pgp_keys.secret("g1"), senders=keyset(gpg_peer.public("ga"))
    )
    assert result.plaintext == BIG


def test_one_unknown_gpg_signer_among_known_ones(gpg_peer: GpgPeer, pgp_keys: Party) -> None:
    msg = _gpg_encrypt(gpg_peer, pgp_keys, MSG, to=["g1"], by=["gu", "ga"])
    result = ge.open_detailed(
        msg, identities=pgp_keys.secret("g1"), senders=keyset(gpg_peer.public("ga"))
    )
    assert result.verified_by == (gpg_peer.fprs["ga"],)
    with pytest.raises(ge.InvalidSignature):
        ge.open(msg, identities=pgp_keys.secret("g1"), senders=keyset(gpg_peer.public("gb")))


def test_only_unknown_gpg_signers(gpg_peer: GpgPeer, pgp_keys: Party) -> None:
    msg = _gpg_encrypt(gpg_peer, pgp_keys, MSG, to=["g1"], by=["gu"])
    with pytest.raises(ge.InvalidSignature):
        ge.open(msg, identities=pgp_keys.secret("g1"), senders=keyset(gpg_peer.public("ga")))


def test_gpg_encrypt_only_needs_allow_unsigned(gpg_peer: GpgPeer, pgp_keys: Party) -> None:
    msg = _gpg_encrypt(gpg_peer, pgp_keys, MSG, to=["g1"], by=[])
    with pytest.raises(ge.InvalidSignature):
        ge.open(msg, identities=pgp_keys.secret("g1"), senders=keyset(gpg_peer.public("ga")))
    assert ge.open(msg, identities=pgp_keys.secret("g1"), senders=None, allow_unsigned=True) == MSG


# -- gpg-made keys under our policy ---------------------------------------------------------
def ge_now() -> datetime:
    return datetime.now(timezone.utc)


def _ago(seconds: int) -> str:
    return str(int(time.time()) - seconds)


def test_gpg_passphrase_protected_and_stub_keys(gpg_peer: GpgPeer, pgp_keys: Party) -> None:
    gpg = gpg_peer.gpg
    fpr = gpg.gen("prot <prot@peer.example>", passphrase="correct horse")
    secret = gpg.export_secret(fpr, "correct horse")
    with pytest.raises(ge.KeySetError, match=fpr):
        keys_from_pgp(secret, passphrase="wrong")
    (key,) = keys_from_pgp(secret, passphrase="correct horse")
    env = ge.seal(MSG, recipients=keyset(key.public()), signer=keyset(key))
    assert ge.open(env, identities=keyset(key), senders=keyset(key.public())) == MSG
    # --export-secret-subkeys: the primary is a stub; the subkey still decrypts, nothing signs.
    stub = gpg.check("--export-secret-subkeys", fpr, passphrase="correct horse")
    (sub_only,) = keys_from_pgp(stub, passphrase="correct horse")
    assert sub_only.has_secret
    assert ge.open(env, identities=keyset(sub_only), senders=keyset(key.public())) == MSG
    with pytest.raises(ge.SealError, match=fpr):
        ge.seal(MSG, recipients=keyset(key.public()), signer=keyset(sub_only))


def test_gpg_expired_keys(gpg_peer: GpgPeer, pgp_keys: Party) -> None:
    gpg = gpg_peer.gpg
    expired = gpg.gen("xexp <xexp@peer.example>", expire="1y", faked_time=_ago(2 * YEAR))
    (key,) = keys_from_pgp(gpg.export(expired))
    assert key.not_after is not None and not key.usable_at(ge_now())
    with pytest.raises(ge.SealError):
        ge.seal(MSG, recipients=keyset(key), signer=pgp_keys.secret("p1"))
    sub_expired = gpg.gen(
        "xsub <xsub@peer.example>", expire="5y", sub_expire="1d", faked_time=_ago(10 * 86400)
    )
    (key,) = keys_from_pgp(gpg.export(sub_expired))
    assert key.usable_at(ge_now())
    with pytest.raises(ge.SealError, match=sub_expired):
        ge.seal(MSG, recipients=keyset(key), signer=pgp_keys.secret("p1"))
    # gpg agrees: neither key is usable for encryption.
    for fpr in (expired, sub_expired):
        assert gpg.run("-e", "-r", fpr, "-o", "-", data=MSG).rc != 0


def test_gpg_revoked_subkey(gpg_peer: GpgPeer, pgp_keys: Party) -> None:
    gpg = gpg_peer.gpg
    fpr = gpg.gen("xrev <xrev@peer.example>")
    script = b"key 1\nrevkey\ny\n0\n\ny\nsave\n"
    gpg.check("--command-fd", "0", "--edit-key", fpr, data=script)
    (key,) = keys_from_pgp(gpg.export(fpr))
    assert key.material.parts[1].revoked  # type: ignore[attr-defined]
    with pytest.raises(ge.SealError, match=fpr):
        ge.seal(MSG, recipients=keyset(key), signer=pgp_keys.secret("p1"))


def test_gpg_keys_with_a_forged_subkey(gpg_peer: GpgPeer, pgp_keys: Party) -> None:
    """ga's primary with gu's encryption subkey under ga's copied binding signature: pgpy
    would encrypt to gu (pgpy checks no binding); we drop the subkey."""
    ga = op.read_packets(gpg_peer.gpg.export(gpg_peer.fprs["ga"]), max_packets=20)
    gu = op.read_packets(gpg_peer.gpg.export(gpg_peer.fprs["gu"]), max_packets=20)
    sub_at = next(i for i, (t, _) in enumerate(ga) if t == op.TAG_PUBLIC_SUBKEY)
    gu_sub = next(p for p in gu if p[0] == op.TAG_PUBLIC_SUBKEY)
    forged = [*ga[:sub_at], gu_sub, *ga[sub_at + 1 :]]
    corrupt = [*ga[: sub_at + 1], (op.TAG_SIGNATURE, ga[sub_at + 1][1][:-3] + b"\x00\x00\x00")]
    for packets in (forged, corrupt):
        (key,) = keys_from_pgp(b"".join(op.packet(t, b) for t, b in packets))
        assert key.kid == gpg_peer.fprs["ga"] and len(key.material.parts) == 1  # type: ignore[attr-defined]
        with pytest.raises(ge.SealError, match=key.kid):
            ge.seal(MSG, recipients=keyset(key), signer=pgp_keys.secret("p1"))


@pytest.mark.parametrize(("algo", "message"), [("rsa1024", "RSA-1024"), ("ed25519", "only RSA")])
def test_gpg_keys_we_refuse(gpg_peer: GpgPeer, algo: str, message: str) -> None:
    gpg = gpg_peer.gpg
    r = gpg.run("--quick-gen-key", f"weak-{algo} <w@peer.example>", algo, "sign,cert", "1y")
    if r.rc != 0:
        pytest.skip(f"this gpg does not make {algo} keys")
    fpr = gpg.fingerprint(f"weak-{algo}")
    with pytest.raises(ge.KeySetError, match=message):
        keys_from_pgp(gpg.export(fpr))
