"""The PIN of a token key, in a fresh process each time (PKCS#11 logs in once per process):
from a file, missing, wrong. It never shows in output, messages or tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import softhsm as hsm

from gpay_envelope.pkcs11 import generate_token_key

pytestmark = pytest.mark.interop

SCRIPT = """
import sys, gpay_envelope as ge
from gpay_envelope.pkcs11 import token_key
uri, public, pin_file = sys.argv[1:4]
try:
    key = token_key(uri, public=public, pin_file=pin_file or None, algorithms=["RSA1_5"])
except ge.EnvelopeError as exc:
    print(type(exc).__name__, exc)
    raise
ks = ge.KeySet([key], primary=key.kid)
print("opened", ge.open(ge.seal(b"p", recipients=ks.public(), signer=None, codec="jwe",
                                profile="legacy", allow_unsigned=True),
                        identities=ks, senders=None, allow_unsigned=True))
"""


@pytest.fixture(scope="module")
def public(softhsm):
    from gpay_envelope.codecs.jwe import key_to_jwk

    key, _ = generate_token_key(softhsm.uri("pin"), codec="jwe", kid="pin", size=2048,
                                legacy=True, pin_env=hsm.PIN_ENV)  # fmt: skip
    return json.dumps(key_to_jwk(key))


def _run(softhsm, public: str, pin_file: str, env_pin: str | None):
    env = {k: v for k, v in os.environ.items() if k not in ("GPAY_PKCS11_PIN", hsm.PIN_ENV)}
    if env_pin is not None:
        env["GPAY_PKCS11_PIN"] = env_pin
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, softhsm.uri("pin"), public, pin_file],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_pin_from_a_file(softhsm, public, tmp_path):
    pin = tmp_path / "pin"
    pin.write_text(hsm.PIN + "\n")
    r = _run(softhsm, public, str(pin), None)
    assert r.returncode == 0, r.stderr
    assert "opened b'p'" in r.stdout and hsm.PIN not in r.stdout + r.stderr


def test_pin_from_the_default_environment_variable(softhsm, public):
    r = _run(softhsm, public, "", hsm.PIN)
    assert r.returncode == 0, r.stderr
    assert hsm.PIN not in r.stdout + r.stderr


def test_no_pin_is_a_key_set_error(softhsm, public):
    r = _run(softhsm, public, "", None)
    assert r.returncode == 1
    assert "KeySetError no PIN: the environment variable GPAY_PKCS11_PIN is not set" in r.stdout


def test_a_wrong_pin_is_refused_and_never_shown(softhsm, public, tmp_path):
    wrong = "975310"
    r = _run(softhsm, public, "", wrong)
    assert r.returncode == 1
    assert "KeyUnavailable the token refused the PIN" in r.stdout
    assert wrong not in r.stdout + r.stderr
