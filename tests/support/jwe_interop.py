"""What the JWE interop tests share: the profiles, the payloads, and the checks run on a
token a peer made (tests/interop/test_jwe_node.py, tests/interop/test_jwe_jwcrypto.py)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import JWEParty

import gpay_envelope as ge


@dataclass(frozen=True)
class Profile:
    alg: str
    enc: str
    zip: bool
    signed: bool
    #: The `ge.seal` profile that produces this, or None for a peer-only variant.
    seal_as: str | None


PROFILES = {
    "signed": Profile("RSA-OAEP-256", "A256GCM", zip=False, signed=True, seal_as="signed"),
    "legacy": Profile("RSA1_5", "A256CBC-HS512", zip=True, signed=True, seal_as="legacy"),
    "legacy-a128": Profile("RSA1_5", "A128CBC-HS256", zip=True, signed=True, seal_as="legacy-a128"),
    "legacy-unsigned": Profile("RSA1_5", "A256CBC-HS512", zip=True, signed=False, seal_as="legacy"),
    # Not a seal profile, but open accepts it: the current profile with zip, from the peer.
    "signed-zip": Profile("RSA-OAEP-256", "A256GCM", zip=True, signed=True, seal_as=None),
}


def _big_payload() -> bytes:
    """About 100 KiB of JSON with non-ASCII text, the same on every run."""
    rows: list[str] = []
    size = 0
    while size < 100 * 1024:
        i = len(rows)
        row = {
            "id": f"txn-{i:05d}",
            "amount": f"{i * 7 % 10000}.{i % 100:02d}",
            "memo": "café ✓ Zürich ¥€",
            "n": i,
        }
        rows.append(json.dumps(row, ensure_ascii=False))
        size += len(rows[-1].encode())
    return ("[" + ",".join(rows) + "]").encode()


PAYLOADS = {
    "small": json.dumps(
        {
            "requestHeader": {"requestId": "r-1", "protocolVersion": {"major": 1}},
            "amount": "12.34",
            "note": "naïve ✓",
        },
        ensure_ascii=False,
    ).encode(),
    "big": _big_payload(),
}


def jwe_header(token: str | bytes) -> dict[str, Any]:
    seg = (token.decode("ascii") if isinstance(token, bytes) else token).split(".")[0]
    head: dict[str, Any] = json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))
    return head


def check_we_open(
    token: str,
    *,
    profile: str,
    payload: str,
    sig_alg: str,
    kids: bool,
    second: bool,
    partner: JWEParty,
    google: JWEParty,
) -> None:
    """Open a token the peer (as Google) made for the partner, and check everything about it:
    header, bytes, which of our keys decrypted, which of Google's verified, and refusals."""
    prof = PROFILES[profile]
    head = jwe_header(token)
    assert head["alg"] == prof.alg and head["enc"] == prof.enc
    assert ("kid" in head) is kids
    idx = 1 if second else 0
    res = ge.open_detailed(
        token, identities=partner.identities, senders=google.public_sig, allow_unsigned=True
    )
    assert res.plaintext == PAYLOADS[payload]
    assert res.decrypted_with == list(partner.identities)[idx].kid
    algs = (prof.alg, prof.enc, *(("DEF",) if prof.zip else ()))
    if prof.signed:
        assert res.verified_by == (list(google.signer)[idx].kid,)
        assert res.algorithms == (*algs, sig_alg)
        # Signed: allow_unsigned is not needed, and a sender we do not trust is refused.
        opened = ge.open(token, identities=partner.identities, senders=google.public_sig)
        assert opened == PAYLOADS[payload]
        with pytest.raises(ge.InvalidSignature):
            ge.open(token, identities=partner.identities, senders=partner.public_sig)
    else:
        assert res.verified_by == ()
        assert res.algorithms == algs
        with pytest.raises(ge.InvalidSignature):
            ge.open(token, identities=partner.identities, senders=google.public_sig)
    # Not ours: a key set without the recipient key cannot open it.
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(token, identities=google.identities, senders=google.public_sig)
