"""The layering docs/architecture.md describes, checked on the source."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from import_graph import Edge, cycles, edges

PACKAGE = Path(__file__).resolve().parent.parent / "gpay_envelope"
GRAPH = edges(PACKAGE)

#: The core: what the front door is made of. It may import nothing above it.
CORE = (
    "gpay_envelope._api",
    "gpay_envelope._b64",
    "gpay_envelope._formats",
    "gpay_envelope._keyops",
    "gpay_envelope._keys",
    "gpay_envelope._observe",
    "gpay_envelope._policy",
    "gpay_envelope._rotation",
    "gpay_envelope.errors",
)
ABOVE_CORE = (
    "gpay_envelope.adapters",
    "gpay_envelope.cli",
    "gpay_envelope.keystore",
    "gpay_envelope.observe",
)


def _imports_of(module: str) -> set[str]:
    return {e.target for e in GRAPH if e.source == module}


def _in(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(GRAPH) == []


def test_cycle_finder_sees_a_cycle() -> None:
    ring = [Edge("a", "b", False), Edge("b", "c", True), Edge("c", "a", False)]
    ring.append(Edge("c", "d", False))
    assert cycles(ring) == [["a", "b", "c"]]


def test_the_key_model_names_no_codec() -> None:
    assert not {m for m in _imports_of("gpay_envelope._keys") if _in(m, "gpay_envelope.codecs")}
    tree = ast.parse((PACKAGE / "_keys.py").read_text())
    docstrings = {
        id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)
    }
    names = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and id(node) not in docstrings
    }
    assert not names & {"jwe", "pgp"}


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_nothing_above_it(module: str) -> None:
    above = {m for m in _imports_of(module) for top in ABOVE_CORE if _in(m, top)}
    assert above == set()


def test_codecs_import_no_layer_above_them() -> None:
    for e in GRAPH:
        if _in(e.source, "gpay_envelope.codecs"):
            assert not any(_in(e.target, top) for top in ABOVE_CORE), e
            assert e.target != "gpay_envelope._api", e


#: Layers from the bottom up: a module imports only its own layer and the ones below it. An
#: entry names a module and everything below it ("=" in front: that module alone); the
#: longest entry that matches decides.
LAYERS = (
    (
        "gpay_envelope.errors",
        "gpay_envelope._b64",
        "gpay_envelope._policy",
        "gpay_envelope._observe",
    ),
    ("gpay_envelope._keyops",),
    ("gpay_envelope._keys", "gpay_envelope._formats", "gpay_envelope._keyload"),
    ("gpay_envelope._rotation", "gpay_envelope.codecs", "gpay_envelope.tls"),
    ("gpay_envelope._api", "gpay_envelope.testing"),
    # Audit and metrics (the prometheus and otel extras): the core's audit events only.
    ("gpay_envelope.observe",),
    # Token keys (the pkcs11 extra): the key model and the codecs' public names.
    ("gpay_envelope.pkcs11",),
    ("gpay_envelope.keystore",),
    ("gpay_envelope.adapters",),
    # Entry points: the front door and the command line (python -m gpay_envelope[.tls]).
    ("=gpay_envelope", "gpay_envelope.cli", "gpay_envelope.__main__", "gpay_envelope.tls.__main__"),
)


def _layer(module: str) -> int:
    found = [
        (len(prefix), i)
        for i, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if (module == prefix[1:] if prefix.startswith("=") else _in(module, prefix))
    ]
    assert found, f"{module} is in no layer of LAYERS"
    return max(found)[1]


def test_every_import_goes_down_the_layers() -> None:
    upward = [e for e in GRAPH if _layer(e.target) > _layer(e.source)]
    assert upward == []


def test_a_dependency_quirk_stays_in_its_codec_package() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        rel = path.relative_to(PACKAGE).as_posix()
        if "joserfc._" in text:
            assert rel == "codecs/jwe/_joserfc.py", rel
        if "import pgpy" in text or "from pgpy" in text:
            assert rel == "codecs/pgp/_pgpy.py", rel
        if "import prometheus_client" in text or "from prometheus_client" in text:
            assert rel == "observe/prometheus.py", rel
        if "from opentelemetry" in text or "import opentelemetry" in text:
            assert rel == "observe/otel.py", rel


def test_import_loads_no_codec_or_metrics_dependency() -> None:
    optional = ("joserfc", "pgpy", "prometheus_client", "opentelemetry")
    code = (
        "import sys, gpay_envelope, gpay_envelope.observe\n"
        f"print(sorted(m for m in {optional!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
