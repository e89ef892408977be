"""JWE interop with node `jose` 4 and 6, both directions, through tests/interop/node/peer.mjs.

The peer plays Google (`google` fixture keys), we play the partner (`partner` fixture keys):

- peer produces -> we open: the peer encrypts (and signs) to the partner's keys; we open with
  `ge.open_detailed` and check the exact bytes, which identity key decrypted and which sender
  key verified.
- we produce -> peer opens: we seal to Google's keys; the peer picks its key by ``kid``,
  decrypts with only the expected algorithms allowed, verifies the nested JWS, and hands back
  the headers and the payload, which we compare byte for byte.

All jobs of one direction go to one node process (two when jose 4 must decrypt RSA1_5: Node 20
only allows PKCS#1 v1.5 private decryption with ``--security-revert=CVE-2023-46809``, and that
flag is given to that process alone).

jose 6 has no RSA1_5, so the legacy profiles are not run against it (see `_produce_cases`).
jose 6 does implement ``zip: "DEF"`` (``maxDecompressedLength``, default 250,000 bytes), checked
here with RSA-OAEP-256 + A256GCM + DEF.

Install the peers with ``npm ci --prefix tests/interop/node``. Without them these tests skip,
or fail when GPAY_REQUIRE_PEERS=1.
"""

from __future__ import annotations

import base64
import functools
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import JWEParty, require_peer
from jwe_interop import PAYLOADS, PROFILES, check_we_open

import gpay_envelope as ge

pytestmark = pytest.mark.interop

NODE_DIR = Path(__file__).resolve().parent / "node"
PEER = NODE_DIR / "peer.mjs"
LIBS = ("jose4", "jose6")
#: Seconds one node process may take (a whole batch; a batch normally takes well under 2 s).
NODE_TIMEOUT = 60
#: Node 20 refuses RSA_PKCS1_PADDING private decryption (Marvin) unless this is given.
SECURITY_REVERT = "--security-revert=CVE-2023-46809"


# -- encoding for the peer's JSON ----------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


# -- running the peer ----------------------------------------------------------------------
def _node() -> str | None:
    node = shutil.which("node")
    installed = all((NODE_DIR / "node_modules" / lib / "package.json").is_file() for lib in LIBS)
    return node if node and installed and PEER.is_file() else None


@functools.cache
def _revert_flag(node: str) -> tuple[str, ...]:
    """The flag that re-enables RSA1_5 decryption, if this Node knows it (Node 20 does)."""
    probe = subprocess.run(
        [node, SECURITY_REVERT, "-e", "0"], capture_output=True, timeout=NODE_TIMEOUT, check=False
    )
    return (SECURITY_REVERT,) if probe.returncode == 0 else ()


def run_peer(node: str, jobs: list[dict[str, Any]], *, revert: bool = False) -> dict[str, Any]:
    """Run a batch of jobs in one node process; results by job id."""
    if not jobs:
        return {}
    flags = _revert_flag(node) if revert else ()
    proc = subprocess.run(
        [node, *flags, str(PEER)],
        input=json.dumps({"jobs": jobs}).encode(),
        capture_output=True,
        timeout=NODE_TIMEOUT,
        cwd=NODE_DIR,
        check=False,
    )
    assert proc.returncode == 0, f"peer.mjs exited {proc.returncode}: {proc.stderr.decode()}"
    # The result is the last line; Node prints its --security-revert warning on stdout first.
    lines = proc.stdout.splitlines()
    assert lines, f"peer.mjs wrote nothing: {proc.stderr.decode()}"
    results = json.loads(lines[-1])["results"]
    assert [r["id"] for r in results] == [j["id"] for j in jobs]
    return {r["id"]: r for r in results}


@pytest.fixture(scope="module")
def node() -> str:
    found = _node()
    require_peer(
        found is not None,
        "node with tests/interop/node/node_modules (npm ci --prefix tests/interop/node)",
    )
    assert found is not None
    return found


# -- peer produces, we open ----------------------------------------------------------------
@dataclass(frozen=True)
class Produce:
    lib: str
    profile: str
    payload: str = "small"
    sig_alg: str = "RS256"
    #: kid on both the JWE and the JWS; without it, we must find the keys by bounded trial.
    kids: bool = True
    #: Encrypt to our second (non-primary) identity key, and sign with the peer's second key.
    second: bool = False
    cty: bool = True

    @property
    def id(self) -> str:
        p = PROFILES[self.profile]
        parts = [self.lib, self.profile, self.payload]
        if p.signed:
            parts.append(self.sig_alg)
        if not self.kids:
            parts.append("no-kid")
        if self.second:
            parts.append("second-key")
        if not self.cty:
            parts.append("no-cty")
        return "-".join(parts)


def _produce_cases() -> list[Produce]:
    cases = []
    for lib in LIBS:
        for name, prof in PROFILES.items():
            if lib == "jose6" and prof.alg == "RSA1_5":
                # Excluded, not faked: jose 6 removed RSA1_5 ("Invalid or unsupported JWK
                # "alg" (Algorithm) Parameter value"). jose 4 covers the legacy profiles.
                continue
            cases += [Produce(lib, name, "small"), Produce(lib, name, "big")]
            if prof.signed:
                cases.append(Produce(lib, name, sig_alg="PS256"))
            # Rotation: the peer already encrypts to our second, non-primary key, by kid.
            cases.append(Produce(lib, name, second=True))
            # No kid on the JWE nor the JWS, to our second keys: the bounded trial must
            # find both (primary first, then the second).
            cases.append(Produce(lib, name, kids=False, second=True))
    # Legacy nested JWS without cty (only the JWS shape says it is signed).
    cases.append(Produce("jose4", "legacy", cty=False))
    return cases


PRODUCE = _produce_cases()


def _produce_job(case: Produce, partner: JWEParty, google: JWEParty) -> dict[str, Any]:
    prof = PROFILES[case.profile]
    idx = 1 if case.second else 0
    to = list(partner.identities)[idx]
    job: dict[str, Any] = {
        "id": case.id,
        "lib": case.lib,
        "op": "encrypt",
        "plaintext": _b64(PAYLOADS[case.payload]),
        "jwe": {
            "jwk": to.public().to_jwk(),
            "alg": prof.alg,
            "enc": prof.enc,
            "kid": to.kid if case.kids else None,
            "zip": prof.zip,
            "cty": "JWT" if prof.signed and case.cty else None,
        },
        "jws": None,
    }
    if prof.signed:
        by = list(google.signer)[idx]
        job["jws"] = {
            "jwk": by.to_jwk(include_private=True),
            "alg": case.sig_alg,
            "kid": by.kid if case.kids else None,
        }
    return job


@pytest.fixture(scope="module")
def produced(node: str, partner: JWEParty, google: JWEParty) -> dict[str, Any]:
    """Every peer-made token, from one node process."""
    return run_peer(node, [_produce_job(c, partner, google) for c in PRODUCE])


@pytest.mark.parametrize("case", PRODUCE, ids=lambda c: c.id)
def test_peer_produces_we_open(
    case: Produce, produced: dict[str, Any], partner: JWEParty, google: JWEParty
) -> None:
    out = produced[case.id]
    assert out["ok"], out["error"]
    token = out["token"]
    check_we_open(
        token,
        profile=case.profile,
        payload=case.payload,
        sig_alg=case.sig_alg,
        kids=case.kids,
        second=case.second,
        partner=partner,
        google=google,
    )


# -- we produce, peer opens ----------------------------------------------------------------
@dataclass(frozen=True)
class Consume:
    lib: str
    profile: str
    payload: str = "small"
    sig_alg: str = "RS256"
    #: Seal to the peer's second key and sign with our second key (both promoted to primary).
    rotated: bool = False

    @property
    def id(self) -> str:
        parts = [self.lib, self.profile, self.payload]
        if PROFILES[self.profile].signed:
            parts.append(self.sig_alg)
        if self.rotated:
            parts.append("rotated")
        return "-".join(parts)


def _consume_cases() -> list[Consume]:
    cases = []
    for lib in LIBS:
        for name, prof in PROFILES.items():
            if prof.seal_as is None:
                continue  # seal has no OAEP + zip profile
            if lib == "jose6" and prof.alg == "RSA1_5":
                # Excluded, not faked: jose 6 cannot decrypt RSA1_5 (removed in jose 6).
                continue
            cases += [Consume(lib, name, "small"), Consume(lib, name, "big")]
            if prof.signed:
                cases.append(Consume(lib, name, sig_alg="PS256"))
            cases.append(Consume(lib, name, rotated=True))
    # We always write a kid (JWE and JWS), so there is no "we produce without kid" case.
    return cases


CONSUME = _consume_cases()


def _seal(case: Consume, partner: JWEParty, google: JWEParty) -> tuple[bytes, str, str | None]:
    """Seal for the case; return (token, kid it is sealed to, kid it is signed by)."""
    prof = PROFILES[case.profile]
    recipients = google.public_enc
    if case.rotated:
        recipients = recipients.with_primary(list(recipients)[1].kid)
    signer: ge.KeySet | None = None
    if prof.signed:
        signer = partner.signer
        if case.rotated:
            signer = signer.with_primary(list(signer)[1].kid)
        if case.sig_alg != "RS256":
            # A signing key bound to PS256 alone makes seal sign with PS256.
            key = signer.primary.with_algorithms([case.sig_alg])
            signer = ge.KeySet([key], primary=key.kid)
    token = ge.seal(
        PAYLOADS[case.payload],
        recipients=recipients,
        signer=signer,
        codec="jwe",
        profile=prof.seal_as,
        allow_unsigned=not prof.signed,
    )
    return token, recipients.primary.kid, None if signer is None else signer.primary.kid


@pytest.fixture(scope="module")
def consumed(node: str, partner: JWEParty, google: JWEParty) -> dict[str, Any]:
    """Every case sealed by us and opened by the peer: {id: (sealed_to, signed_by, result)}."""
    expect: dict[str, tuple[str, str | None]] = {}
    plain: list[dict[str, Any]] = []
    rsa1_5: list[dict[str, Any]] = []
    for case in CONSUME:
        prof = PROFILES[case.profile]
        token, sealed_to, signed_by = _seal(case, partner, google)
        expect[case.id] = (sealed_to, signed_by)
        job: dict[str, Any] = {
            "id": case.id,
            "lib": case.lib,
            "op": "decrypt",
            "token": token.decode("ascii"),
            "keys": [k.to_jwk(include_private=True) for k in google.identities],
            "alg": prof.alg,
            "enc": prof.enc,
            "verify": None,
        }
        if prof.signed:
            job["verify"] = {
                "keys": [k.to_jwk() for k in partner.public_sig],
                "algs": [case.sig_alg],
            }
        (rsa1_5 if prof.alg == "RSA1_5" else plain).append(job)
    results = {**run_peer(node, plain), **run_peer(node, rsa1_5, revert=True)}
    return {cid: (*expect[cid], results[cid]) for cid in expect}


@pytest.mark.parametrize("case", CONSUME, ids=lambda c: c.id)
def test_we_produce_peer_opens(case: Consume, consumed: dict[str, Any]) -> None:
    sealed_to, signed_by, out = consumed[case.id]
    assert out["ok"], out["error"]
    prof = PROFILES[case.profile]
    header = {"alg": prof.alg, "enc": prof.enc, "kid": sealed_to}
    if prof.signed:
        header["cty"] = "JWT"
    if prof.zip:
        header["zip"] = "DEF"
    assert out["jwe_header"] == header
    assert out["decrypted_with"] == sealed_to
    assert _unb64(out["plaintext"]) == PAYLOADS[case.payload]
    if prof.signed:
        assert out["jws_header"] == {"alg": case.sig_alg, "kid": signed_by}
        assert out["verified_by"] == signed_by
    else:
        assert "jws_header" not in out and "verified_by" not in out


def test_peer_refuses_tampered_token(node: str, partner: JWEParty, google: JWEParty) -> None:
    """The peer harness itself can fail: a token with a flipped ciphertext byte is refused."""
    token = ge.seal(
        PAYLOADS["small"], recipients=google.public_enc, signer=partner.signer, codec="jwe"
    ).decode()
    head, ek, iv, ct, tag = token.split(".")
    ct = ("B" if ct[0] == "A" else "A") + ct[1:]
    results = run_peer(
        node,
        [
            {
                "id": lib,
                "lib": lib,
                "op": "decrypt",
                "token": ".".join((head, ek, iv, ct, tag)),
                "keys": [k.to_jwk(include_private=True) for k in google.identities],
                "alg": "RSA-OAEP-256",
                "enc": "A256GCM",
                "verify": None,
            }
            for lib in LIBS
        ],
    )
    for lib in LIBS:
        assert not results[lib]["ok"]
        assert "decryption operation failed" in results[lib]["error"], results[lib]["error"]
