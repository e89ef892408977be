"""OpenPGP interop with OpenPGP.js 5 and 6 (npm), both directions, with keys OpenPGP.js made.

Through tests/interop/node/openpgp_peer.mjs: one node process generates every key (RSA-2048,
with and without a passphrase; for OpenPGP.js 6 also with ``aeadProtect``, which advertises
SEIPD v2 in the key's features and protects a secret key with AEAD), a second one encrypts and
signs to those keys, a third decrypts and verifies what we sealed.

- keys: every secret and public key OpenPGP.js made loads (OpenPGP.js 6 lists SHA3 hashes in
  its preferences; an AEAD-protected secret key, S2K usage 253, is refused with a clear error);
  a protected one with a wrong or no passphrase is a `KeySetError` that does not keep it.
- peer seals, we open: OpenPGP.js encrypts to its own key (whose secret half we hold) and signs
  with it; to a key that advertises SEIPD v2, OpenPGP.js 6 sends v6 PKESK + SEIPD v2, the
  packet list proves it. We open and verify.
- we seal, peer opens: ``ge.seal`` to the OpenPGP.js key, signed by our own key; OpenPGP.js
  decrypts with its secret key and verifies with our public key.

Install with ``npm ci --prefix tests/interop/node``; without node or the packages these tests
skip, or fail when GPAY_REQUIRE_PEERS=1.
"""

from __future__ import annotations

import base64
import functools
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import require_peer
from passphrase_checks import assert_passphrase_refused

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode
from gpay_envelope.codecs.pgp import generate_pgp_key, key_to_pgp
from gpay_envelope.codecs.pgp import wire as op

pytestmark = pytest.mark.interop

NODE_DIR = Path(__file__).resolve().parent / "node"
PEER = NODE_DIR / "openpgp_peer.mjs"
LIBS = ("openpgp5", "openpgp6")
NODE_TIMEOUT = 120
PASSPHRASE = "correct horse battery staple"
MSG = b'{"requestHeader": {"requestId": "openpgpjs"}, "amount": "1.00"}'


@dataclass(frozen=True)
class Made:
    """A key OpenPGP.js generated."""

    id: str
    lib: str
    passphrase: str | None
    aead_protect: bool
    secret: str
    public: str


#: (lib, passphrase?, aeadProtect?): what each OpenPGP.js makes.
KINDS = [
    ("openpgp5", False, False),
    ("openpgp5", True, False),
    ("openpgp6", False, False),
    ("openpgp6", True, False),
    ("openpgp6", False, True),
    ("openpgp6", True, True),
]


def _kind_id(lib: str, protected: bool, aead: bool) -> str:
    return f"{lib}{'-passphrase' if protected else ''}{'-aead' if aead else ''}"


def run_peer(jobs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    node = shutil.which("node")
    installed = all((NODE_DIR / "node_modules" / lib / "package.json").is_file() for lib in LIBS)
    require_peer(
        bool(node) and installed,
        "node with OpenPGP.js 5 and 6 (npm ci --prefix tests/interop/node)",
    )
    assert node is not None
    proc = subprocess.run(
        [node, str(PEER)],
        input=json.dumps({"jobs": jobs}).encode(),
        capture_output=True,
        timeout=NODE_TIMEOUT,
        cwd=NODE_DIR,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    results = json.loads(proc.stdout.decode().strip().splitlines()[-1])["results"]
    return {r["id"]: r for r in results}


@functools.cache
def made_keys() -> dict[str, Made]:
    jobs = [
        {
            "id": _kind_id(lib, protected, aead),
            "lib": lib,
            "op": "generate",
            "bits": 2048,
            "passphrase": PASSPHRASE if protected else None,
            "aead_protect": aead,
        }
        for lib, protected, aead in KINDS
    ]
    out = {}
    results = run_peer(jobs)
    for job in jobs:
        r = results[job["id"]]
        assert r["ok"], r
        out[job["id"]] = Made(
            job["id"], job["lib"], job["passphrase"], job["aead_protect"], r["secret"], r["public"]
        )
    return out


@functools.cache
def our_key() -> ge.Key:
    return generate_pgp_key(uid="Partner <partner@example.com>", size=2048)


def _load(made: Made) -> ge.KeySet:
    return ge.KeySet.from_pgp([made.secret], passphrase=made.passphrase)


LOADABLE = [k for k in KINDS if not (k[1] and k[2])]
AEAD_PROTECTED = [k for k in KINDS if k[1] and k[2]]


@pytest.mark.parametrize("kind", KINDS, ids=[_kind_id(*k) for k in KINDS])
def test_public_keys_load(kind) -> None:
    made = made_keys()[_kind_id(*kind)]
    [key] = list(ge.KeySet.from_pgp([made.public]))
    assert not key.has_secret and key.size == 2048


@pytest.mark.parametrize("kind", LOADABLE, ids=[_kind_id(*k) for k in LOADABLE])
def test_secret_keys_load(kind) -> None:
    made = made_keys()[_kind_id(*kind)]
    [key] = list(_load(made))
    assert key.has_secret


PROTECTED = [k for k in LOADABLE if k[1]]


@pytest.mark.parametrize("kind", PROTECTED, ids=[_kind_id(*k) for k in PROTECTED])
@pytest.mark.parametrize("given", ["wrong", None], ids=["wrong", "missing"])
def test_secret_keys_refuse_a_wrong_passphrase(kind, given) -> None:
    made = made_keys()[_kind_id(*kind)]
    kid = ge.KeySet.from_pgp([made.public]).primary.kid
    wrong = None if given is None else f"{PASSPHRASE} (not quite)"
    assert_passphrase_refused(made.secret, kid=kid, wrong=wrong)


@pytest.mark.parametrize("kind", AEAD_PROTECTED, ids=[_kind_id(*k) for k in AEAD_PROTECTED])
def test_aead_protected_secret_keys_are_refused_clearly(kind) -> None:
    made = made_keys()[_kind_id(*kind)]
    with pytest.raises(ge.KeySetError, match="AEAD"):
        _load(made)


@pytest.mark.parametrize("kind", LOADABLE, ids=[_kind_id(*k) for k in LOADABLE])
def test_we_open_what_openpgpjs_seals(kind) -> None:
    made = made_keys()[_kind_id(*kind)]
    ours = _load(made)
    job = {
        "id": "m",
        "lib": made.lib,
        "op": "encrypt",
        "plaintext": base64.b64encode(MSG).decode(),
        "recipients": [made.public],
        "signer": {"secret": made.secret, "passphrase": made.passphrase},
        "aead_protect": False,
    }
    r = run_peer([job])["m"]
    assert r["ok"], r
    message = base64.b64decode(r["message"])
    versions = [tuple(p) for p in r["packets"]]
    advertises_v2 = made.aead_protect
    expected = [(op.TAG_PKESK, 6), (op.TAG_SEIPD, 2)] if advertises_v2 else [
        (op.TAG_PKESK, 3), (op.TAG_SEIPD, 1)]  # fmt: skip
    assert versions == expected
    result = ge.open_detailed(message, identities=ours, senders=ours.public())
    assert result.plaintext == MSG
    assert result.verified_by == (ours.primary.kid,)
    if advertises_v2:
        assert result.algorithms[2] in ("OCB", "GCM", "EAX")


def _peer_opens_ours(made: Made, verify: list[str]) -> dict[str, Any]:
    """MSG sealed to ``made``'s public key and signed by our key, decrypted by OpenPGP.js with
    ``made``'s secret key, checking signatures against ``verify``."""
    signer = ge.KeySet([our_key()], primary=our_key().kid)
    env = ge.seal(MSG, recipients=ge.KeySet.from_pgp([made.public]), signer=signer, codec="pgp")
    job = {
        "id": "d",
        "lib": made.lib,
        "op": "decrypt",
        "message": base64.b64encode(b64url_decode(env)).decode(),
        "secret": made.secret,
        "passphrase": made.passphrase,
        "verify": verify,
    }
    r = run_peer([job])["d"]
    assert r["ok"], r
    assert base64.b64decode(r["plaintext"]) == MSG
    return r


@pytest.mark.parametrize("kind", LOADABLE, ids=[_kind_id(*k) for k in LOADABLE])
def test_openpgpjs_opens_and_verifies_what_we_seal(kind) -> None:
    made = made_keys()[_kind_id(*kind)]
    r = _peer_opens_ours(made, [key_to_pgp(our_key()).decode()])
    part, _ = our_key().material.signing_part(int(time.time()))  # type: ignore[attr-defined]
    assert r["verified"] == [part.keyid.hex().upper()]


def test_openpgpjs_refuses_a_signature_it_cannot_check() -> None:
    """The harness can fail: without our public key, OpenPGP.js verifies nothing."""
    made = made_keys()[_kind_id("openpgp6", False, False)]
    assert _peer_opens_ours(made, [made.public])["verified"] == []
