"""Test sessions on every CPython the package declares (3.10 to 3.13), from pyenv.

The main CI run (.ci/run) runs the whole suite with every peer on its own interpreter; these
sessions run the suite without the peers (``-m "not interop"``) on each other declared version,
against the package installed from the source tree (not editable), spread over the machine's
cores (pytest-xdist, ``-n auto``): three versions one after the other, serially, would take
most of CI's time budget. A declared version missing
from ~/.pyenv/versions fails its session: CI runs on a machine kind that has all four, so a
missing one is a broken machine, not something to skip.

    nox -f .ci/noxfile.py                 # every version but the main run's
    nox -f .ci/noxfile.py -s tests-3.13   # one version
    nox -f .ci/noxfile.py -- -x -q        # arguments after -- go to pytest
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent.parent
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
DECLARED = ["3.10", "3.11", "3.12", "3.13"]
MAIN = f"{sys.version_info.major}.{sys.version_info.minor}"

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = [f"tests-{v}" for v in DECLARED if v != MAIN]


def pyenv_bin(version: str) -> str | None:
    """The bin folder of the newest pyenv CPython of ``version`` (3.12 -> .../3.12.1/bin)."""
    found = sorted(PYENV.glob(f"{version}.*/bin/python{version}"),
                   key=lambda p: [int(x) for x in p.parent.parent.name.split(".")])
    return str(found[-1].parent) if found else None


# nox finds pythonX.Y on PATH; pyenv's own folders come first so that a shim never answers.
_bins = [b for b in map(pyenv_bin, DECLARED) if b]
os.environ["PATH"] = os.pathsep.join([*_bins, os.environ.get("PATH", "")])


@nox.session(python=DECLARED, reuse_venv=True)
def tests(session: nox.Session) -> None:
    """The suite without the real peers, against a non-editable install."""
    session.chdir(ROOT)
    session.install(".[dev]")
    # The tests must exercise the installed copy, not the source tree next to them.
    # -I and the pytest script: neither puts the current folder (the source tree) on sys.path.
    where = session.run("python", "-I", "-c", "import gpay_envelope; print(gpay_envelope.__file__)",
                        silent=True)
    if not where or "site-packages" not in where:
        session.error(f"gpay_envelope imports from {where!r}, not from the install")
    session.run("pytest", "-m", "not interop", "-q", "-p", "no:cacheprovider", "-n", "auto",
                *session.posargs)
