"""Call a partner endpoint as Google does: seal the request, check the TLS server, open and
verify the response. With the requests adapter.

    pip install "gpay-envelope[requests]"
    python examples/google_client.py https://127.0.0.1:8443/echo --cafile tls/ca.crt \\
        --keys google-keys --name google --partner keys/partner.public.jwks.json

``--keys``/``--name`` are the caller's own secret key files as ``gpay-envelope keys generate
--name NAME --out-dir DIR`` wrote them (JWE: ``NAME-enc.secret.jwks.json`` and
``NAME-sig.secret.jwks.json``; OpenPGP: ``NAME.secret.asc``); ``--partner`` is the public file
the partner sent (``*.public.jwks.json`` or ``*.public.asc``), which names the codec; repeat it
during a rotation, oldest first. Prints the
opened response and which keys decrypted and signed it; exits 1 when the call fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

import requests

import gpay_envelope as ge
from gpay_envelope.adapters import Keys
from gpay_envelope.adapters.requests import EnvelopeAdapter, open_result
from gpay_envelope.keystore import read_key_file
from gpay_envelope.tls import client_tls_context


def _keyset(keys: list[ge.Key], *, newest: bool = False) -> ge.KeySet:
    """A set of ``keys``; its primary is the first, or the last with ``newest``."""
    return ge.KeySet(keys, primary=keys[-1 if newest else 0].kid)


def caller_keys(folder: Path, name: str, partner: list[Path]) -> Keys:
    """The caller's bundle: its own secret keys, and the partner's public ones from the files
    in ``partner``, oldest first (the newest encryption key is the one sealed to)."""
    theirs = [key for path in partner for key in read_key_file(path)]
    if partner[0].name.endswith(".asc"):  # OpenPGP: one key decrypts and signs
        ours = _keyset(read_key_file(folder / f"{name}.secret.asc"))
        return Keys(identities=ours, senders=_keyset(theirs), signer=ours,
                    recipients=_keyset(theirs, newest=True))
    return Keys(
        identities=_keyset(read_key_file(folder / f"{name}-enc.secret.jwks.json")),
        senders=_keyset([k for k in theirs if k.use == "sig"]),
        signer=_keyset(read_key_file(folder / f"{name}-sig.secret.jwks.json")),
        recipients=_keyset([k for k in theirs if k.use == "enc"], newest=True),
    )


def echo_request(message: str) -> bytes:
    """An echo request as the partner APIs shape them."""
    header = {"requestId": str(uuid.uuid4()), "requestTimestamp": str(int(time.time() * 1000))}
    return json.dumps({"requestHeader": header, "clientMessage": message}).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the partner endpoint (https only)")
    parser.add_argument("--cafile", help="trust this CA (a test one) instead of the system's")
    parser.add_argument("--keys", type=Path, required=True, help="folder of the caller's keys")
    parser.add_argument("--name", default="google", help="their file name stem (google)")
    parser.add_argument(
        "--partner", type=Path, action="append", required=True,
        help="the partner's public file; repeat it for each, oldest first",
    )
    parser.add_argument("--message", default="hello from the example client")
    args = parser.parse_args()

    keys = caller_keys(args.keys, args.name, args.partner)
    with requests.Session() as session:
        session.mount("https://", EnvelopeAdapter(keys, tls=client_tls_context(cafile=args.cafile)))
        try:
            response = session.post(args.url, data=echo_request(args.message), timeout=30)
        except (ge.InvalidEnvelope, ge.InvalidSignature, requests.RequestException) as exc:
            print(f"call failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        opened = open_result(response)
        if response.status_code != 200 or opened is None:
            print(f"call failed: HTTP {response.status_code}: {response.text}", file=sys.stderr)
            return 1
        print(json.dumps({
            "status": response.status_code,
            "decrypted_with": opened.decrypted_with,
            "verified_by": list(opened.verified_by),
            "response": response.json(),
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
