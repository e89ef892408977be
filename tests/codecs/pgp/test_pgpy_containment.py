"""pgpy (used only for passphrase-protected keys) is contained: the cryptography names it needs
are there, it leaves no warning or filter behind, and it works without imghdr."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from gpay_envelope.codecs.pgp import generate_pgp_key, key_to_pgp, keys_from_pgp
from gpay_envelope.codecs.pgp._pgpy import load_pgpy, needed_names


def test_pgpy_canary() -> None:
    """Every cryptography name pgpy 0.6 needs is still there, and pgpy's modules only use
    names our decrepit namespaces provide. If this fails after a cryptography or pgpy
    upgrade: pin the old version and update codecs/pgp/_pgpy.py (see docs/pgp.md)."""
    for name, get in needed_names().items():
        try:
            get()
        except (ImportError, AttributeError):
            pytest.fail(f"cryptography no longer provides {name}, which pgpy 0.6 needs")
    pgpy = load_pgpy()
    root = Path(pgpy.__file__).parent
    used_alg = set(re.findall(r"\balgorithms\.(\w+)", (root / "constants.py").read_text()))
    used_modes = set(re.findall(r"\bmodes\.(\w+)", (root / "symenc.py").read_text()))
    assert used_alg <= set(vars(pgpy.constants.algorithms)), used_alg
    assert used_modes <= set(vars(pgpy.symenc.modes)), used_modes


def test_pgpy_calls_leave_no_warning_and_no_filter() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        filters = list(warnings.filters)
        key = generate_pgp_key(uid="W <w@example.com>", size=2048, passphrase="pw")
        keys_from_pgp(key_to_pgp(key, include_private=True), passphrase="pw")
        assert warnings.filters == filters
    assert [str(w.message) for w in seen] == []


def test_pgpy_without_imghdr() -> None:
    """Python 3.13 has no imghdr: simulated in a child process."""
    code = textwrap.dedent(
        """
        import sys, warnings
        warnings.simplefilter("error")
        sys.modules["imghdr"] = None  # what 'import imghdr' finds on 3.13: nothing
        from gpay_envelope.codecs.pgp import generate_pgp_key, key_to_pgp, keys_from_pgp
        key = generate_pgp_key(uid="x <x@example.com>", size=2048, passphrase="pw")
        keys_from_pgp(key_to_pgp(key, include_private=True), passphrase="pw")
        import imghdr
        assert imghdr.what(None, h=b"\\xff\\xd8\\xff\\xe0\\x00\\x10JFIF\\x00") == "jpeg"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=60)
    assert out.stdout.strip() == b"ok"
