"""What the example partner services share: the layout of the key folder, the watchers that
follow it, their command line and the echo answer.

The key folder holds keyset manifests (docs/rotation.md), made with ``gpay-envelope keys init``
from the files ``gpay-envelope keys generate`` wrote (examples/README.md has the commands):

- JWE: ``our-enc.keyset.json`` and ``our-sig.keyset.json`` (your decryption and signing keys),
  ``google-enc.keyset.json`` and ``google-sig.keyset.json`` (Google's public keys);
- OpenPGP: ``our.keyset.json`` (your key: it decrypts and signs) and ``google.keyset.json``.

A rotation is then one ``gpay-envelope keys rotate`` command on a manifest; the service notices
it within ``--poll-interval`` seconds, without a restart.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from gpay_envelope.adapters import KeyHolder
from gpay_envelope.keystore import KeySetWatcher, watched_keys

JWE_MANIFESTS = {
    "identities": "our-enc.keyset.json",
    "senders": "google-sig.keyset.json",
    "signer": "our-sig.keyset.json",
    "recipients": "google-enc.keyset.json",
}
# OpenPGP: one key decrypts and signs, so signer is identities and recipients is senders.
PGP_MANIFESTS = {"identities": "our.keyset.json", "senders": "google.keyset.json"}


def manifests(folder: Path) -> dict[str, Path]:
    """Role -> manifest in ``folder``: the OpenPGP layout when ``our.keyset.json`` is there,
    else the JWE one."""
    layout = PGP_MANIFESTS if (folder / PGP_MANIFESTS["identities"]).exists() else JWE_MANIFESTS
    return {role: folder / name for role, name in layout.items()}


def watch_keys(folder: Path, every: float) -> tuple[KeyHolder, list[KeySetWatcher]]:
    """The holder of the key sets and the started watchers that keep it current.

    The first load of each manifest happens here and raises when it fails: the service does
    not start without keys. A bad edit later is logged and the old set stays in service.
    """
    watchers = {
        role: KeySetWatcher(path, poll_interval=every) for role, path in manifests(folder).items()
    }
    holder = watched_keys(**watchers)
    for watcher in watchers.values():
        watcher.start()
    return holder, list(watchers.values())


def parse_args(description: str) -> argparse.Namespace:
    """The command line both services take."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("keys", type=Path, help="the folder of keyset manifests")
    parser.add_argument("--cert", required=True, help="the server certificate (PEM)")
    parser.add_argument("--key", required=True, help="its private key (PEM)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (127.0.0.1; 0.0.0.0 when Google calls in from outside)",
    )
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument(
        "--poll-interval", type=float, default=10.0, help="seconds between manifest checks (10)"
    )
    return parser.parse_args()


def echo_answer(body: dict[str, Any]) -> dict[str, Any]:
    """The answer of the echo endpoint: a response header and the request it got."""
    stamp = str(int(time.time() * 1000))
    return {"responseHeader": {"responseTimestamp": stamp}, "echo": body}
