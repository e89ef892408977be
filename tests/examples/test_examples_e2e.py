"""examples/README.md, run as written: its commands make keys with the command line, manifests
and a test certificate in a scratch folder; each example server runs as a process on
127.0.0.1; the example client calls it over HTTPS and must get its own message back, sealed
and signed; then a rotation step is followed without a restart.

The commands are read from the README's ``sh`` blocks, section by section, so the runbook and
this test cannot drift apart. Only the port is changed (a free one), and the servers get a
short ``--poll-interval`` so the rotation shows within a second. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from processes import stop

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
README = EXAMPLES / "README.md"
START_WAIT = 30.0  # seconds for a server to listen
CALL_WAIT = 60.0  # seconds for one command


def readme_sections() -> dict[str, list[list[str]]]:
    """The commands of each ``## `` section's ``sh`` blocks, as argument lists."""
    sections: dict[str, list[list[str]]] = {}
    for part in re.split(r"^## ", README.read_text(), flags=re.M)[1:]:
        title, _, text = part.partition("\n")
        commands = []
        for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                if line.strip() and not line.startswith("#"):
                    commands.append(shlex.split(line))
        sections[title.strip()] = commands
    return sections


SECTIONS = readme_sections()


def argv(tokens: list[str]) -> list[str]:
    """A README command as this interpreter runs it: ``gpay-envelope`` is ``python -m
    gpay_envelope``, ``$EX`` is examples/."""
    head = {"gpay-envelope": [sys.executable, "-m", "gpay_envelope"], "python": [sys.executable]}
    out = [*head.get(tokens[0], [tokens[0]])]
    out += [t.replace("$EX", str(EXAMPLES)) for t in tokens[1:]]
    return out


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run(tokens: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv(tokens), cwd=cwd, env=environment(), capture_output=True, text=True,
        timeout=CALL_WAIT, check=False,
    )


def setup(section: str, cwd: Path) -> None:
    """Run the commands of ``section`` that are neither servers nor clients."""
    for tokens in SECTIONS[section]:
        if tokens[0] == "pip" or tokens[0].startswith("EX=") or _runs(tokens, *LONG_RUNNING):
            continue
        done = run(tokens, cwd)
        assert done.returncode == 0, f"{shlex.join(tokens)}\n{done.stdout}{done.stderr}"


LONG_RUNNING = ("partner_asgi.py", "partner_wsgi.py", "google_client.py")


def _runs(tokens: list[str], *scripts: str) -> bool:
    return any(t.endswith(scripts) for t in tokens[:2])


def command(section: str, script: str) -> list[str]:
    """The one command of ``section`` that runs ``script``."""
    (found,) = [t for t in SECTIONS[section] if _runs(t, script)]
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_port(tokens: list[str], port: int) -> list[str]:
    out = [re.sub(r"^https://127\.0\.0\.1:\d+/", f"https://127.0.0.1:{port}/", t) for t in tokens]
    if "--port" in out:
        out[out.index("--port") + 1] = str(port)
    return out


@contextmanager
def server(tokens: list[str], cwd: Path, port: int) -> Iterator[Path]:
    """The README's server command on ``port``, until the block ends; yields its log file."""
    log = cwd / f"server-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv([*with_port(tokens, port), "--poll-interval", "0.2"]),
            cwd=cwd, env=environment(), stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_WAIT
        while True:
            assert proc.poll() is None, f"the server exited:\n{log.read_text()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"no server on {port}:\n{log.read_text()}"
                time.sleep(0.1)
        yield log
    finally:
        stop(proc)


def call(tokens: list[str], cwd: Path, port: int) -> dict[str, object]:
    """Run the README's client command against ``port`` with a message of its own; check the
    message came back in the opened response, and return what the client printed."""
    message = f"round trip {uuid.uuid4()}"
    done = run([*with_port(tokens, port), "--message", message], cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    printed = json.loads(done.stdout)
    assert printed["status"] == 200
    echoed = printed["response"]["echo"]  # type: ignore[index]
    assert echoed["clientMessage"] == message
    assert uuid.UUID(echoed["requestHeader"]["requestId"])
    return printed


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scratch folder after the README's JWE key and certificate steps."""
    folder = tmp_path_factory.mktemp("runbook")
    setup("1. Keys (JWE)", folder)
    setup("2. A test certificate", folder)
    return folder


@pytest.mark.parametrize("script", ["partner_asgi.py", "partner_wsgi.py"])
def test_the_jwe_service_serves_and_follows_a_rotation(
    base: Path, tmp_path: Path, script: str
) -> None:
    folder = tmp_path / "runbook"
    shutil.copytree(base, folder)
    port = free_port()
    serve = command("3. Serve, and call", script)
    with server(serve, folder, port) as log:
        printed = call(command("3. Serve, and call", "google_client.py"), folder, port)
        assert (printed["decrypted_with"], printed["verified_by"]) == (
            "google-enc", ["partner-2026-sig"],
        )
        assert "decrypted with partner-2026-enc" in log.read_text()
        # --host is not given: the default listens on loopback only.
        assert f"https://127.0.0.1:{port}" in log.read_text()

        setup("4. Rotate, without a restart", folder)
        rotated = command("4. Rotate, without a restart", "google_client.py")
        deadline = time.monotonic() + 10
        while "decrypted with partner-2027-enc" not in log.read_text():
            # 400 until the watcher has seen the manifest change (--poll-interval 0.2).
            assert time.monotonic() < deadline, log.read_text()
            done = run([*with_port(rotated, port), "--message", "rotated"], folder)
            if done.returncode != 0:
                assert "HTTP 400" in done.stderr, done.stderr
                time.sleep(0.2)
        call(rotated, folder, port)
        # The old key still opens: the rotation added a key, it took none away.
        call(command("3. Serve, and call", "google_client.py"), folder, port)


def test_the_pgp_service_serves(base: Path, tmp_path: Path) -> None:
    folder = tmp_path / "runbook"
    shutil.copytree(base, folder)
    setup("OpenPGP", folder)
    port = free_port()
    with server(command("OpenPGP", "partner_wsgi.py"), folder, port):
        printed = call(command("OpenPGP", "google_client.py"), folder, port)
    assert printed["verified_by"] and printed["decrypted_with"]
