"""KeySetWatcher: swaps in a changed manifest or key file, keeps the old set on a bad one."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import keystore_fixtures as kf
import pytest
from keystore_fixtures import write as _write

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import key_to_pgp
from gpay_envelope.keystore import KeySetWatcher, add_key, init_manifest, promote_key


@pytest.fixture
def pgp_pair() -> tuple[ge.Key, ge.Key]:
    return kf.pgp_pair()


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    return kf.key_folder(tmp_path)


@pytest.fixture
def watched(
    two_files: tuple[Path, Path, Path],
) -> tuple[Path, Path, Path]:
    fa, fb, m = two_files
    init_manifest(m, fa)
    return fa, fb, m


def test_watcher_swaps_in_a_changed_manifest(
    watched: tuple[Path, Path, Path], pgp_pair: tuple[ge.Key, ge.Key]
) -> None:
    _, fb, m = watched
    a, b = pgp_pair
    w = KeySetWatcher(m, poll_interval=0)
    first = w.current()
    assert first.primary.kid == a.kid and w.check() is False
    add_key(m, fb)
    promote_key(m, b.kid)
    assert w.check() is True
    assert w.current().primary.kid == b.kid and w.reloads == 1
    assert w.check() is False and w.reloads == 1
    assert "reloads=1" in repr(w)


def test_watcher_ignores_a_rewrite_with_the_same_content(watched: tuple[Path, Path, Path]) -> None:
    _, _, m = watched
    w = KeySetWatcher(m, poll_interval=0)
    first = w.current()
    data = m.read_bytes()
    m.unlink()
    m.write_bytes(data)  # new inode, new mtime, same bytes
    assert w.check() is False
    assert w.current() is first and w.reloads == 0
    assert w.check(force=True) is False and w.current() is first


def test_watcher_keeps_the_old_set_on_a_bad_file_and_logs_once(
    watched: tuple[Path, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    _, _, m = watched
    w = KeySetWatcher(m, poll_interval=0)
    first = w.current()
    good = m.read_bytes()
    caplog.set_level(logging.WARNING, logger="gpay_envelope.keystore")
    m.write_bytes(good[:-30])
    assert w.check() is False and w.current() is first
    assert w.last_error is not None and "not valid JSON" in w.last_error
    assert w.check() is False and w.check(force=True) is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "keeping the previous set" in warnings[0].getMessage()
    m.write_bytes(good)
    assert [w.check(), w.last_error] == [False, None] and w.current() is first


def test_watcher_follows_the_key_files_too(
    watched: tuple[Path, Path, Path], pgp_pair: tuple[ge.Key, ge.Key]
) -> None:
    fa, fb, m = watched
    a, b = pgp_pair
    w = KeySetWatcher(m, poll_interval=0)
    first = w.current()
    saved = fa.read_bytes()
    fa.unlink()
    assert w.check() is False and w.current() is first
    assert w.last_error is not None and "a.asc" in w.last_error
    _write(fa, saved)
    assert [w.check(), w.last_error] == [False, None]
    # A manifest that names a key file which is not there yet: refused until the file comes.
    doc = json.loads(m.read_text())
    doc["keys"].append({"file": "later.asc", "kid": b.kid})
    m.write_text(json.dumps(doc))
    assert w.check() is False and "later.asc" in (w.last_error or "")
    _write(m.parent / "later.asc", fb.read_bytes())
    assert w.check() is True and w.current().kids == (a.kid, b.kid)


def test_watcher_polls_at_most_every_interval(watched: tuple[Path, Path, Path]) -> None:
    _, fb, m = watched
    ticks = [0.0]
    w = KeySetWatcher(m, poll_interval=5, clock=lambda: ticks[0])
    add_key(m, fb)
    ticks[0] = 4.9
    assert len(w.current()) == 1  # not checked yet
    ticks[0] = 5.0
    assert len(w.current()) == 2


def test_watcher_follows_a_plain_key_file(tmp_path: Path) -> None:
    g1 = ge.generate_key(kid="google-sig-1", use="sig", size=2048)
    g2 = ge.generate_key(kid="google-sig-2", use="sig", size=2048)
    path = tmp_path / "google.jwks.json"
    path.write_text(json.dumps(ge.KeySet([g1], primary=g1.kid).to_jwks()))
    w = KeySetWatcher(path, poll_interval=0)
    assert w.current().kids == ("google-sig-1",) and not w.current().has_secret
    new = tmp_path / "new.json"
    new.write_text(json.dumps(ge.KeySet([g2, g1], primary=g2.kid).to_jwks()))
    os.replace(new, path)  # how Google's new key set is dropped in
    assert w.check() is True
    assert w.current().kids == ("google-sig-2", "google-sig-1")
    path.write_text("{}")
    assert w.check() is False and "neither a JWK nor a JWK Set" in (w.last_error or "")


def test_watcher_first_load_must_succeed(tmp_path: Path) -> None:
    with pytest.raises(ge.KeySetError, match=r"cannot read .*none\.json"):
        KeySetWatcher(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ge.KeySetError, match="not valid JSON"):
        KeySetWatcher(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="poll_interval"):
        KeySetWatcher(tmp_path / "bad.json", poll_interval=-1)


def test_watcher_background_thread(
    watched: tuple[Path, Path, Path], pgp_pair: tuple[ge.Key, ge.Key]
) -> None:
    _, fb, m = watched
    with KeySetWatcher(m, poll_interval=0.01) as w:
        add_key(m, fb)
        for _ in range(500):  # bounded: at most ~5 s
            if w.reloads:
                break
            time.sleep(0.01)
        assert w.reloads == 1 and len(w.current()) == 2
    assert not any(t.name.startswith("KeySetWatcher") for t in threading.enumerate())
    with pytest.raises(ValueError, match="poll_interval > 0"):
        KeySetWatcher(m, poll_interval=0).start()


def test_readers_only_ever_see_complete_sets(
    tmp_path: Path, pgp_pair: tuple[ge.Key, ge.Key]
) -> None:
    a, b = pgp_pair
    fa = _write(tmp_path / "a.pub.asc", key_to_pgp(a), 0o644)  # public keys: quick to load
    fb = _write(tmp_path / "b.pub.asc", key_to_pgp(b), 0o644)
    m = tmp_path / "google.keyset.json"
    init_manifest(m, fa)
    add_key(m, fb)
    w = KeySetWatcher(m, poll_interval=0)
    seen: set[tuple[str, tuple[str, ...]]] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            ks = w.current()
            seen.add((ks.primary.kid, ks.kids))
            time.sleep(0.0005)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            promote_key(m, (b if i % 2 == 0 else a).kid)
            w.check()
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert seen <= {(a.kid, (a.kid, b.kid)), (b.kid, (a.kid, b.kid))}
    assert len(seen) == 2 and w.reloads == 6
