"""OpenPGP interop with sqop, rnp and BouncyCastle, both directions.

Peers (tests/interop/pgp_peers.py): sqop (Sequoia's SOP tool), rnp (Ribose, Botan backend) and
BouncyCastle 1.72 through tests/interop/bc/BcPeer.java, a small program of ours that plays
Google's side (Google's partner samples are BouncyCastle programs). gpg makes the test keys; the
gpg peer itself is covered by tests/interop/test_pgp_gpg.py.

Keys: one session-wide set made by gpg, each an RSA [C,S] primary with an RSA [E] subkey and a
1-year expiry: k2048a, k2048b, k3072a, k3072b, k4096 (the only 4096 key: slow to make), and
"stranger" (RSA-2048), a signer nobody is ever told about. The roles rotate across the cases
so that every size is used to decrypt and to sign, on our side and on the peer's.

- we seal, peer opens (`TO_PEER`): ``ge.seal`` to two recipients, signed by two of our keys,
  with the ``zip`` profile (compressed) and the ``default`` one (uncompressed). The peer holds
  the secret key of one recipient only, decrypts the binary message (our base64url decoded),
  and must report exactly the expected signers good (all of ours that it was given; sqop and
  rnp cannot report more than that, see pgp_peers' docstring for what each one reports).
- peer seals, we open (`FROM_PEER`): the peer encrypts to two recipients (one ours) and signs
  with two keys, one of them unknown to us in most cases; compressed (ZIP, ZLIB) and not, where
  the peer can (sqop cannot compress); armored and binary output; binary output is opened raw,
  as padded base64url and as unpadded base64url (how Google sends it). ``verified_by`` must
  be exactly the known signers.
- `test_peer_to_peer`: the peers against each other, without our codec, so a failure above can
  be told apart from a harness problem.

Each peer process runs once per case; every process has a timeout. Missing peers skip, or fail
when GPAY_REQUIRE_PEERS=1. CI packages (Debian): gnupg sqop rnp libbcprov-java libbcpg-java
openjdk-17-jdk-headless.
"""

from __future__ import annotations

import base64
import functools
import importlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import require_peer
from pgp_peers import BouncyCastle, Decrypted, Peer, PeerFailed, PeerKey, Rnp, Sqop, generate_keys

import gpay_envelope as ge

pytestmark = pytest.mark.interop

KEY_SPECS = (
    ("k4096", 4096),
    ("k3072a", 3072),
    ("k3072b", 3072),
    ("k2048a", 2048),
    ("k2048b", 2048),
    ("stranger", 2048),
)
PEERS = ("sqop", "rnp", "bc")
#: What to install when a peer is missing.
PEER_NEEDS = {
    "sqop": "sqop (Debian package sqop)",
    "rnp": "rnp (Debian package rnp)",
    "bc": "BouncyCastle 1.72 and a JDK (Debian: libbcprov-java libbcpg-java, javac)",
}
COMPRESSION_NAMES = {"zip": "ZIP", "zlib": "ZLIB"}
ALL_COMPRESSION_NAMES = {"ZIP", "ZLIB", "BZIP2", "UNCOMPRESSED"}
WEB_SAFE_PADDED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def payload(case_id: str) -> bytes:
    """A JSON body with non-ASCII text, a CR LF, a NUL and trailing spaces (so text-mode
    canonicalisation or a charset conversion anywhere shows), unique per case."""
    body = {
        "requestHeader": {"requestId": f"req-{case_id}", "protocolVersion": {"major": 1}},
        "amount": "1234.50",
        "memo": "café ✓ Zürich ¥€ " * 40,
    }
    return json.dumps(body, ensure_ascii=False).encode() + b"\r\n\x00 tail  \n"


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture
def pgp_codec() -> None:
    """Tests of our codec skip without it (the one skip besides missing peers); the
    peer-to-peer tests do not need it."""
    try:
        importlib.import_module("gpay_envelope.codecs.pgp")
    except ImportError as exc:
        pytest.skip(f"gpay_envelope.codecs.pgp cannot be imported yet: {exc}")


@pytest.fixture(scope="session")
def peer_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PeerKey]:
    require_peer(
        all(shutil.which(t) for t in ("gpg", "gpgconf")), "gpg (Debian package gnupg) for keys"
    )
    return generate_keys(tmp_path_factory.mktemp("pgp-peer-keys"), KEY_SPECS)


@pytest.fixture(scope="session")
def bc_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BcPeer.java compiled once per session."""
    return BouncyCastle.compile(tmp_path_factory.mktemp("bcpeer-classes"))


@pytest.fixture(scope="session")
def peers(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[[str], Peer]:
    """Peer by name, made once; skips (or fails under GPAY_REQUIRE_PEERS=1) if not installed."""
    made: dict[str, Peer] = {}

    def get(name: str) -> Peer:
        if name not in made:
            workdir = tmp_path_factory.mktemp(f"peer-{name}")
            if name == "sqop":
                require_peer(Sqop.available(), PEER_NEEDS[name])
                made[name] = Sqop(workdir)
            elif name == "rnp":
                require_peer(Rnp.available(), PEER_NEEDS[name])
                made[name] = Rnp(workdir)
            else:
                require_peer(BouncyCastle.available(), PEER_NEEDS[name])
                made[name] = BouncyCastle(workdir, request.getfixturevalue("bc_classes"))
        return made[name]

    return get


@functools.cache
def _loaded(key: PeerKey, secret: bool) -> ge.Key:
    """One key loaded once per session (loading a secret RSA-4096 key takes ~0.4 s)."""
    loaded = ge.KeySet.from_pgp(key.secret if secret else key.public)
    assert loaded.kids == (key.fpr,), loaded
    return loaded.primary


def keyset(keys: dict[str, PeerKey], names: tuple[str, ...], *, secret: bool) -> ge.KeySet:
    """A key set of the named keys, the first one primary."""
    loaded = [_loaded(keys[n], secret) for n in names]
    return ge.KeySet(loaded, primary=loaded[0].kid)


def fprs(keys: dict[str, PeerKey], names: tuple[str, ...]) -> list[str]:
    return sorted(keys[n].fpr for n in names)


# -- we seal, the peer opens ----------------------------------------------------------------
@dataclass(frozen=True)
class ToPeer:
    id: str
    profile: str  # our seal profile: "zip" (compressed) or "default" (uncompressed)
    recipients: tuple[str, ...]  # we seal to these
    peer_holds: str  # the only secret key the peer gets
    signers: tuple[str, ...]  # we sign with these
    peer_trusts: tuple[str, ...]  # certificates the peer verifies with

    @property
    def expected_good(self) -> tuple[str, ...]:
        return tuple(n for n in self.signers if n in self.peer_trusts)


TO_PEER = (
    ToPeer("zip-rsa4096-both-sigs", "zip", ("k4096", "k2048b"), "k4096",
           ("k2048a", "k3072a"), ("k2048a", "k3072a")),
    ToPeer("plain-rsa3072-both-sigs", "default", ("k2048b", "k3072b"), "k3072b",
           ("k3072a", "k4096"), ("k3072a", "k4096")),
    # The peer knows only one of our two signers (a key rotation on its side not done yet).
    ToPeer("zip-rsa2048-one-known-sig", "zip", ("k3072b", "k2048b"), "k2048b",
           ("k4096", "k2048a"), ("k2048a",)),
)  # fmt: skip


@pytest.mark.parametrize("case", TO_PEER, ids=lambda c: c.id)
@pytest.mark.parametrize("peer_name", PEERS)
@pytest.mark.usefixtures("pgp_codec")
def test_peer_opens_ours(
    peer_name: str, case: ToPeer, peer_keys: dict[str, PeerKey], peers: Callable[[str], Peer]
) -> None:
    peer = peers(peer_name)
    plaintext = payload(f"to-{peer_name}-{case.id}")
    envelope = ge.seal(
        plaintext,
        recipients=keyset(peer_keys, case.recipients, secret=False),
        signer=keyset(peer_keys, case.signers, secret=True),
        codec="pgp",
        profile=case.profile,
    )
    # Padded web-safe base64 (RFC 4648 section 5) of a binary OpenPGP message.
    assert isinstance(envelope, bytes)
    assert len(envelope) % 4 == 0
    assert set(envelope.rstrip(b"=")) <= WEB_SAFE_PADDED
    message = base64.urlsafe_b64decode(envelope)
    assert message[0] & 0x80, "not binary OpenPGP"

    got = peer.decrypt(
        message,
        keys=[peer_keys[case.peer_holds]],
        verify=[peer_keys[n] for n in case.peer_trusts],
    )
    assert got.plaintext == plaintext
    # Exactly the known signers, each once; sqop lists only good signatures, rnp and BC also
    # count the unknown ones.
    assert sorted(got.good) == fprs(peer_keys, case.expected_good), got.report
    if got.unknown is not None:
        assert got.unknown == len(case.signers) - len(case.expected_good), got.report
    if got.bad is not None:
        assert got.bad == 0, got.report
    if peer_name == "bc":
        assert got.facts["SYM"] == "AES256", got.report
        assert got.facts["INTEGRITY"] == "OK", got.report
        assert got.facts["COMPRESSION"] == ("ZIP" if case.profile == "zip" else "NONE")
        assert got.facts["DECRYPT-WITH"] == peer_keys[case.peer_holds].enc_fpr
        assert got.report.count("bcpeer: PKESK ") == len(case.recipients), got.report
        ops_hashes = [w.split()[3] for w in got.report.splitlines() if w.startswith("bcpeer: OPS")]
        assert ops_hashes == ["SHA384"] * len(case.signers), got.report


@pytest.mark.parametrize("peer_name", PEERS)
@pytest.mark.usefixtures("pgp_codec")
def test_peer_rejects_ours_without_known_signer(
    peer_name: str, peer_keys: dict[str, PeerKey], peers: Callable[[str], Peer]
) -> None:
    """Both our signers unknown to the peer: sqop and BC refuse (exit 3); rnp exits 0 with
    the plaintext and "2 unknown signatures", so a caller of rnp must read its report."""
    peer = peers(peer_name)
    plaintext = payload(f"to-{peer_name}-unknown-signers")
    envelope = ge.seal(
        plaintext,
        recipients=keyset(peer_keys, ("k2048b",), secret=False),
        signer=keyset(peer_keys, ("k2048a", "k3072a"), secret=True),
        codec="pgp",
    )
    message = base64.urlsafe_b64decode(envelope)
    holds, trusts = [peer_keys["k2048b"]], [peer_keys["k3072b"]]
    if peer_name == "rnp":
        got = peer.decrypt(message, keys=holds, verify=trusts)
        assert (got.good, got.unknown, got.bad) == ((), 2, 0), got.report
        assert "Signature verification failure: 2 unknown signatures" in got.report
        return
    with pytest.raises(PeerFailed) as failed:
        peer.decrypt(message, keys=holds, verify=trusts)
    assert failed.value.returncode == 3, failed.value.stderr


# -- the peer seals, we open ----------------------------------------------------------------
@dataclass(frozen=True)
class FromPeer:
    id: str
    compression: str  # "none", "zip" or "zlib"
    armor: bool
    recipients: tuple[str, ...]  # the peer encrypts to these
    identities: tuple[str, ...]  # our secret keys
    decrypted_with: str
    signers: tuple[str, ...]  # the peer signs with these ("stranger" is unknown to us)
    senders: tuple[str, ...]  # the certificates we trust
    hash_name: str = "SHA384"
    layout: str = "google"  # BouncyCastle only: Google's sample layout or RFC nesting

    @property
    def expected(self) -> tuple[str, ...]:
        return tuple(n for n in self.signers if n in self.senders)


def _from_peer_cases(peer_name: str) -> list[FromPeer]:
    def comp(wanted: str) -> str:
        return wanted if peer_name != "sqop" else "none"  # SOP has no compression option

    return [
        FromPeer("known+unknown-binary", comp("zip"), False, ("k2048b", "k4096"),
                 ("k4096", "k3072a"), "k4096", ("k3072b", "stranger"), ("k3072b", "k2048a")),
        FromPeer("unknown+known-armored", "none", True, ("k3072a", "k2048b"),
                 ("k3072a", "k2048a"), "k3072a", ("stranger", "k4096"), ("k4096",)),
        FromPeer("two-known-binary", comp("zlib"), False, ("k3072b", "k2048a"),
                 ("k2048a",), "k2048a", ("k2048b", "k3072b"), ("k3072b", "k2048b", "k4096"),
                 hash_name="SHA256"),
        FromPeer("known+unknown-binary-nested", comp("zip") if peer_name == "bc" else "none",
                 False, ("k4096", "k3072b"), ("k4096",), "k4096", ("k2048a", "stranger"),
                 ("k2048a",), layout="nested"),
    ] + ([  # Google's sample layout with three signers, the unknown one first (BC only).
        FromPeer("unknown+2known-google-layout", "zip", False, ("k2048a", "k3072b"),
                 ("k3072b",), "k3072b", ("stranger", "k2048a", "k4096"), ("k4096", "k2048a"),
                 hash_name="SHA256"),
    ] if peer_name == "bc" else [])  # fmt: skip


FROM_PEER = [(p, c) for p in PEERS for c in _from_peer_cases(p)]


def _seal_by(peer: Peer, case: FromPeer, keys: dict[str, PeerKey], plaintext: bytes) -> bytes:
    return peer.encrypt(
        plaintext,
        to=[keys[n] for n in case.recipients],
        sign=[keys[n] for n in case.signers],
        armor=case.armor,
        compression=case.compression,
        hash_name=case.hash_name,
        layout=case.layout,
    )


@pytest.mark.parametrize(
    ("peer_name", "case"), FROM_PEER, ids=[f"{p}-{c.id}-{c.compression}" for p, c in FROM_PEER]
)
@pytest.mark.usefixtures("pgp_codec")
def test_we_open_peers(
    peer_name: str, case: FromPeer, peer_keys: dict[str, PeerKey], peers: Callable[[str], Peer]
) -> None:
    peer = peers(peer_name)
    plaintext = payload(f"from-{peer_name}-{case.id}")
    message = _seal_by(peer, case, peer_keys, plaintext)
    identities = keyset(peer_keys, case.identities, secret=True)
    senders = keyset(peer_keys, case.senders, secret=False)

    spellings: dict[str, bytes | str]
    if case.armor:
        assert message.startswith(b"-----BEGIN PGP MESSAGE-----"), message[:40]
        spellings = {"armor-bytes": message, "armor-str": message.decode("ascii")}
    else:
        assert message[0] & 0x80, "peer output is not binary OpenPGP"
        padded = base64.urlsafe_b64encode(message)
        spellings = {
            "raw": message,
            "b64url-padded": padded,
            "b64url-unpadded": padded.rstrip(b"=").decode("ascii"),
        }
    for how, envelope in spellings.items():
        res = ge.open_detailed(envelope, identities=identities, senders=senders)
        assert res.plaintext == plaintext, how
        assert res.codec == "pgp"
        assert res.decrypted_with == peer_keys[case.decrypted_with].fpr, how
        assert len(set(res.verified_by)) == len(res.verified_by), res
        assert sorted(res.verified_by) == fprs(peer_keys, case.expected), (how, res)
        assert "AES256" in res.algorithms, res
        seen = ALL_COMPRESSION_NAMES & set(res.algorithms)
        if case.compression == "none":
            assert not seen, res
        else:
            assert seen == {COMPRESSION_NAMES[case.compression]}, res
        if peer_name != "sqop":  # sqop takes the hash from the key preferences (SHA512)
            assert case.hash_name in res.algorithms, res


@pytest.mark.parametrize("peer_name", PEERS)
@pytest.mark.usefixtures("pgp_codec")
def test_we_reject_peers_without_known_signer(
    peer_name: str, peer_keys: dict[str, PeerKey], peers: Callable[[str], Peer]
) -> None:
    """A message from the peer signed only by keys we do not know decrypts, but does not open."""
    peer = peers(peer_name)
    message = peer.encrypt(
        payload(f"from-{peer_name}-unknown-signer"),
        to=[peer_keys["k2048a"], peer_keys["k3072b"]],
        sign=[peer_keys["stranger"]],
        armor=False,
        compression="none",
    )
    with pytest.raises(ge.InvalidSignature):
        ge.open_detailed(
            base64.urlsafe_b64encode(message),
            identities=keyset(peer_keys, ("k2048a",), secret=True),
            senders=keyset(peer_keys, ("k3072b", "k4096"), secret=False),
        )


# -- the harness itself: peer to peer ------------------------------------------------------
PAIRS = [(a, b) for a in PEERS for b in PEERS if a != b]


@pytest.mark.parametrize(("producer", "consumer"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_peer_to_peer(
    producer: str, consumer: str, peer_keys: dict[str, PeerKey], peers: Callable[[str], Peer]
) -> None:
    """Two known signers and an unknown one, two recipients: checks the harness, not our code."""
    src, dst = peers(producer), peers(consumer)
    plaintext = payload(f"p2p-{producer}-{consumer}")
    message = src.encrypt(
        plaintext,
        to=[peer_keys["k3072a"], peer_keys["k2048b"]],
        sign=[peer_keys["k2048a"], peer_keys["stranger"], peer_keys["k3072b"]],
        armor=producer == "rnp",
        compression="zip" if "zip" in src.compressions else "none",
        layout="nested",  # see test_google_layout_with_strict_peers for the other one
    )
    got: Decrypted = dst.decrypt(
        message,
        keys=[peer_keys["k2048b"]],
        verify=[peer_keys["k2048a"], peer_keys["k3072b"]],
    )
    assert got.plaintext == plaintext
    assert sorted(got.good) == fprs(peer_keys, ("k2048a", "k3072b")), got.report
    assert got.unknown in (None, 1), got.report
    assert got.bad in (None, 0), got.report


@pytest.mark.parametrize("consumer", ["sqop", "rnp"])
def test_google_layout_with_strict_peers(
    consumer: str, peer_keys: dict[str, PeerKey], peers: Callable[[str], Peer]
) -> None:
    """What sqop and rnp make of Google's sample layout, which our codec opens (above).

    Google's BouncyCastle sample writes every one-pass signature with the "last" flag set and
    the signatures in the same order as the one-pass packets. RFC 4880 reads that as nested
    signatures, so the strict parsers pair the first signature with the innermost one-pass
    packet and see only one signature. Characterisation of the Debian 12 versions (sqop 0.27,
    rnp 0.16): if this starts failing, the peer changed; update docs and this test.
    """
    bc, dst = peers("bc"), peers(consumer)
    plaintext = payload(f"google-layout-{consumer}")
    message = bc.encrypt(
        plaintext,
        to=[peer_keys["k2048b"]],
        sign=[peer_keys["k2048a"], peer_keys["k3072b"]],
        armor=False,
        compression="zip",
        layout="google",
    )
    both = [peer_keys["k2048a"], peer_keys["k3072b"]]
    if consumer == "sqop":
        # Only the first signer is reported good, though both signatures are valid.
        got = dst.decrypt(message, keys=[peer_keys["k2048b"]], verify=both)
        assert got.plaintext == plaintext
        assert got.good == (peer_keys["k2048a"].fpr,), got.report
    else:
        # rnp reports the first signature good, then fails: "signature doesn't match one-pass".
        with pytest.raises(PeerFailed) as failed:
            dst.decrypt(message, keys=[peer_keys["k2048b"]], verify=both)
        assert failed.value.returncode == 1
        assert "doesn't match one-pass" in failed.value.stderr
        assert failed.value.stderr.count("Good signature") == 1
