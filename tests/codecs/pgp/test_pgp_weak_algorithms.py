"""Messages gpg makes with weak or legacy algorithms (SHA-1, MD5, CAST5, 3DES, IDEA, Camellia,
SED without MDC) are refused, the strong variants open. gpg is a real producer here: these
tests skip without gpg unless GPAY_REQUIRE_PEERS=1."""

from __future__ import annotations

import pytest
from pgp_fixtures import (
    GpgPeer,
    Party,
    gpg_peer_session,
    import_ours,
    keyset,
)
from pgp_messages import (
    MSG,
)

import gpay_envelope as ge


@pytest.fixture(scope="session")
def gpg_peer(tmp_path_factory: pytest.TempPathFactory) -> GpgPeer:
    return gpg_peer_session(tmp_path_factory.getbasetemp())


@pytest.mark.interop
@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (("--digest-algo", "SHA1"), ge.InvalidSignature),
        (("--digest-algo", "MD5"), ge.InvalidSignature),
        (("--cipher-algo", "CAST5"), ge.InvalidEnvelope),
        (("--cipher-algo", "3DES"), ge.InvalidEnvelope),
        (("--cipher-algo", "IDEA"), ge.InvalidEnvelope),
        (("--cipher-algo", "CAMELLIA256"), ge.InvalidEnvelope),
        (("--rfc2440",), ge.InvalidEnvelope),  # SED, tag 9: no MDC
        (("--digest-algo", "SHA256"), None),
        (("--digest-algo", "SHA512", "--cipher-algo", "AES128"), None),
    ],
)
def test_weak_algorithms_made_by_gpg(
    gpg_peer: GpgPeer, pgp_keys: Party, extra: tuple[str, ...], error: type[Exception] | None
) -> None:
    import_ours(gpg_peer, pgp_keys.keys["g1"])
    r = gpg_peer.gpg.run(
        "--sign",
        "--encrypt",
        "-r",
        pgp_keys.kid("g1"),
        "-u",
        gpg_peer.fprs["ga"],
        "--allow-weak-digest-algos",
        *extra,
        "-o",
        "-",
        data=MSG,
    )
    if r.rc != 0:
        pytest.skip(f"this gpg cannot make {extra}")
    ids, senders = pgp_keys.secret("g1"), keyset(gpg_peer.public("ga"))
    if error is None:
        assert ge.open(r.stdout, identities=ids, senders=senders) == MSG
    else:
        with pytest.raises(error):
            ge.open(r.stdout, identities=ids, senders=senders)
