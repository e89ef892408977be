"""watched_keys: an adapters KeyHolder fed by KeySetWatchers, one reload mechanism for both."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import keystore_fixtures as kf
import pytest
from pgp_fixtures import pgp_party

import gpay_envelope as ge
from gpay_envelope.adapters import KeyHolder, Keys
from gpay_envelope.codecs.pgp import key_to_pgp
from gpay_envelope.keystore import (
    KeySetWatcher,
    add_key,
    init_manifest,
    promote_key,
    set_key_status,
    watched_keys,
)


@pytest.fixture
def manifests(tmp_path: Path) -> tuple[Path, Path]:
    """partner.keyset.json (a.asc, secret) and google.keyset.json (g1's public key)."""
    fa, _, partner = kf.key_folder(tmp_path)
    init_manifest(partner, fa)
    g1 = pgp_party().keys["g1"]
    google = partner.parent / "google.keyset.json"
    init_manifest(google, kf.write(partner.parent / "g1.asc", key_to_pgp(g1), 0o644))
    return partner, google


def test_the_holder_follows_every_reload(manifests: tuple[Path, Path]) -> None:
    partner, google = manifests
    a, b = kf.pgp_pair()
    g1, g2 = (pgp_party().keys[n] for n in ("g1", "g2"))
    ours, theirs = KeySetWatcher(partner, poll_interval=0), KeySetWatcher(google, poll_interval=0)
    holder = watched_keys(identities=ours, senders=theirs)
    assert isinstance(holder, KeyHolder) and isinstance(holder(), Keys)
    first = holder.get()
    assert first.identities is first.signer is ours.current()
    assert first.senders is first.recipients is theirs.current()

    add_key(partner, partner.parent / "b.asc")
    promote_key(partner, b.kid)
    assert ours.check() is True
    now = holder.get()
    assert now.identities is now.signer is ours.current()  # both roles in one update
    assert now.identities.primary.kid == b.kid and now.senders is first.senders

    add_key(google, kf.write(google.parent / "g2.asc", key_to_pgp(g2), 0o644))
    assert theirs.check() is True
    assert holder.get().senders.kids == (g1.kid, g2.kid) == holder.get().recipients.kids
    set_key_status(partner, a.kid, ge.KeyStatus.DISABLED)
    assert ours.check() is True
    assert holder.get().identities.get(a.kid).status is ge.KeyStatus.DISABLED


def test_four_watchers_for_jwe(tmp_path: Path) -> None:
    sets = {
        "identities": ge.generate_key(kid="our-enc", use="enc", size=2048),
        "signer": ge.generate_key(kid="our-sig", use="sig", size=2048),
        "senders": ge.generate_key(kid="g-sig", use="sig", size=2048).public(),
        "recipients": ge.generate_key(kid="g-enc", use="enc", size=2048).public(),
    }
    watchers = {}
    for role, key in sets.items():
        path = tmp_path / f"{role}.jwks.json"
        jwks = ge.KeySet([key], primary=key.kid).to_jwks(include_private=key.has_secret)
        path.write_text(json.dumps(jwks))
        watchers[role] = KeySetWatcher(path, poll_interval=0)
    keys = watched_keys(**watchers).get()
    assert {role: getattr(keys, role).primary.kid for role in sets} == {
        role: key.kid for role, key in sets.items()
    }


def test_call_now_and_failing_callbacks(
    manifests: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    partner, _ = manifests
    w = KeySetWatcher(partner, poll_interval=0)
    seen: list[ge.KeySet] = []

    def broken(ks: ge.KeySet) -> None:
        raise RuntimeError("boom")

    w.on_reload(broken)
    assert w.on_reload(seen.append, call_now=True) == seen.append
    assert seen == [w.current()]
    add_key(partner, partner.parent / "b.asc")
    caplog.set_level(logging.ERROR, logger="gpay_envelope.keystore")
    assert w.check() is True  # the swap stands although one callback failed
    assert seen == [seen[0], w.current()] and len(seen[1]) == 2
    assert any("reload callback failed" in r.getMessage() for r in caplog.records)


def test_a_set_the_bundle_refuses_keeps_the_bundle(
    manifests: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    partner, google = manifests
    ours, theirs = KeySetWatcher(partner, poll_interval=0), KeySetWatcher(google, poll_interval=0)
    holder = watched_keys(identities=ours, senders=theirs)
    before = holder.get()
    # The partner manifest now names a public key only: no identities can open with it.
    (partner.parent / "a.asc").write_bytes(key_to_pgp(kf.pgp_pair()[0]))
    caplog.set_level(logging.ERROR, logger="gpay_envelope.keystore")
    assert ours.check() is True and not ours.current().has_secret
    assert holder.get() is before
    assert any("reload callback failed" in r.getMessage() for r in caplog.records)


def test_the_keystore_does_not_import_the_adapters() -> None:
    code = (
        "import sys, gpay_envelope.keystore; "
        "assert not [m for m in sys.modules if m.startswith('gpay_envelope.adapters')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
