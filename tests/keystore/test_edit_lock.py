"""Concurrent manifest edits from separate processes: each holds the folder's edit lock
from reading the manifest to the rename, so no edit is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import gpay_envelope as ge
from gpay_envelope.codecs.jwe import generate_key
from gpay_envelope.keystore import init_manifest, load_manifest

_ADD = textwrap.dedent(
    """
    import os, sys, time
    from gpay_envelope.keystore import add_key
    go = sys.argv[3]
    while not os.path.exists(go):
        time.sleep(0.005)
    add_key(sys.argv[1], sys.argv[2])
    """
)


def _jwk_file(folder: Path, kid: str) -> Path:
    key = generate_key(kid=kid, use="enc", size=2048)
    path = folder / f"{kid}.secret.jwks.json"
    path.write_text(json.dumps({"keys": [key.to_jwk(include_private=True)]}))
    return path


def test_concurrent_adds_all_land(tmp_path: Path) -> None:
    manifest = tmp_path / "enc.keyset.json"
    init_manifest(manifest, _jwk_file(tmp_path, "k0"))
    files = [_jwk_file(tmp_path, f"k{i}") for i in range(1, 7)]
    go = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ADD, str(manifest), str(f), str(go)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    time.sleep(1.0)  # let every process import and wait at the start line
    go.touch()
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), errors
    assert set(load_manifest(manifest).kids) == {f"k{i}" for i in range(7)}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert isinstance(load_manifest(manifest), ge.KeySet)


def _wait_until_it_holds_the_folder_open(pid: int, folder: Path) -> None:
    """Until process ``pid`` has the folder open: `edit_lock` opens it to take the lock."""
    fds = Path(f"/proc/{pid}/fd")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for fd in list(fds.iterdir()) if fds.exists() else []:
            try:
                if os.readlink(fd) == str(folder):
                    return
            except OSError:
                continue
        time.sleep(0.02)
    raise AssertionError("the step never reached the edit lock")


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc (Linux)")
def test_a_step_that_waited_says_the_other_edit_won(tmp_path: Path) -> None:
    from gpay_envelope.keystore.locking import edit_lock

    manifest = tmp_path / "enc.keyset.json"
    init_manifest(manifest, _jwk_file(tmp_path, "k0"))
    new = _jwk_file(tmp_path, "k1")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    with edit_lock(manifest) as waited:  # this process is "the other operator"
        assert waited is False
        proc = subprocess.Popen(
            [sys.executable, "-m", "gpay_envelope", "keys", "rotate", str(manifest), "add",
             str(new)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _wait_until_it_holds_the_folder_open(proc.pid, tmp_path)  # then it polls the lock
        time.sleep(0.3)
        assert proc.poll() is None
        assert set(load_manifest(manifest).kids) == {"k0"}
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "another edit finished first; this step applies on top of it" in err
    assert set(load_manifest(manifest).kids) == {"k0", "k1"}
