"""The fuzzer's inputs replayed (fuzz/fuzz_open.py; figures in docs/hardening.md).

Every input the fuzzer reported is kept in tests/fuzz_corpus/<codec>/ in the harness's input
format (first byte: ``E``/``G`` an envelope, ``D`` content the harness encrypts to the fuzz
identity key; see the harness docstring) and replayed here through the same oracle, in
process, with the throw-away keys of fuzz/keys/. The seed corpus fuzz/corpus/ is replayed too,
and each seed must still reach the outcome it was made for (a seed that silently stopped
decrypting would take the fuzzer's coverage with it).

The kept inputs and what they pin:

- ``escape-alg-is-an-object``, ``escape-enc-is-a-list`` (JWE, envelope mode): a protected
  header whose ``alg`` or ``enc`` is a JSON object or array. ``ge.open`` refuses it with
  InvalidEnvelope, and so does the JWE codec itself: the `Codec` protocol ("raises
  InvalidEnvelope or InvalidSignature", never a TypeError from the allow-list check) holds for
  anyone calling a codec directly.
- ``memory-nested-jws-many-segments`` (JWE, content mode, caught by the harness's per-input
  memory oracle): a 5 KB input whose nested JWS inflates to 5 MiB of ``aa.``. The dots are
  counted before joserfc splits, so it stays under the memory budget (also in
  test_resource_bounds.py).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import gpay_envelope as ge
from gpay_envelope.codecs import OpenRequest
from gpay_envelope.codecs.jwe import JWECodec

ROOT = Path(__file__).resolve().parents[2]
FUZZ = ROOT / "fuzz" / "fuzz_open.py"
SEEDS = ROOT / "fuzz" / "corpus"
FOUND = Path(__file__).resolve().parents[1] / "fuzz_corpus"
ESCAPES = ("escape-alg-is-an-object", "escape-enc-is-a-list")
MEMORY = ("memory-nested-jws-many-segments",)
#: Seeds made to be refused; every other seed must open.
REFUSED_SEEDS = {"content-zip-over-cap": "InvalidEnvelope"}


@pytest.fixture(scope="module")
def fuzz() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_open", FUZZ)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def harnesses(fuzz: ModuleType) -> dict[str, Any]:
    return {codec: fuzz.Harness(codec) for codec in ("jwe", "pgp")}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


@pytest.mark.parametrize("codec", ["jwe", "pgp"])
def test_seed_corpus_still_reaches_its_outcomes(harnesses: dict[str, Any], codec: str) -> None:
    seeds = _files(SEEDS / codec)
    assert len(seeds) >= 5, "the seed corpus is missing (python fuzz/fuzz_open.py --make-corpus)"
    for path in seeds:
        outcome = harnesses[codec].check(path.read_bytes())
        want = REFUSED_SEEDS.get(path.name)
        if want is None:
            assert outcome.startswith("opened"), (path.name, outcome)
        else:
            assert outcome == want, (path.name, outcome)


@pytest.mark.parametrize("codec", [c for c in ("jwe", "pgp") if _files(FOUND / c)])
def test_found_inputs_replay_clean(harnesses: dict[str, Any], codec: str) -> None:
    """The functional oracle passes (no wrong error, cause, forged payload or bad kid)."""
    for path in _files(FOUND / codec):
        outcome = harnesses[codec].check(path.read_bytes())
        assert outcome in ("InvalidEnvelope", "InvalidSignature"), (path.name, outcome)


@pytest.mark.parametrize("name", ESCAPES)
def test_unhashable_alg_or_enc_is_one_opaque_error(fuzz: ModuleType, name: str) -> None:
    data = (FOUND / "jwe" / name).read_bytes()
    keys = fuzz.Keys("jwe")
    with pytest.raises(ge.InvalidEnvelope) as info:
        ge.open(data[1:], identities=keys.identities, senders=keys.senders, allow_unsigned=True)
    assert str(info.value) == "invalid envelope"
    assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize("name", ESCAPES)
def test_jwe_codec_itself_raises_only_library_errors(fuzz: ModuleType, name: str) -> None:
    data = (FOUND / "jwe" / name).read_bytes()
    keys = fuzz.Keys("jwe")
    request = OpenRequest(
        envelope=data[1:],
        identities=tuple(keys.identities.enabled()),
        senders=tuple(keys.senders.enabled()),
        allow_unsigned=True,
        now=datetime.now(timezone.utc),
        limits=ge.DEFAULT_LIMITS,
    )
    with pytest.raises(ge.InvalidEnvelope):
        JWECodec().open(request)


def _replay_child(codec: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    """The harness in a fresh interpreter, so the per-input memory oracle (64 MiB over the
    start-up peak) is not blurred by the test process's own high-water mark."""
    return subprocess.run(
        [sys.executable, str(FUZZ), "--codec", codec, "--replay", "--memory-mib", "64",
         *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
@pytest.mark.parametrize("codec", [c for c in ("jwe", "pgp") if _files(FOUND / c)])
def test_found_inputs_stay_under_the_memory_budget(codec: str) -> None:
    paths = [p for p in _files(FOUND / codec) if p.name not in MEMORY]
    out = _replay_child(codec, *paths)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
def test_nested_jws_of_many_segments_under_the_memory_budget() -> None:
    out = _replay_child("jwe", *(FOUND / "jwe" / name for name in MEMORY))
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_oracle_can_fail(fuzz: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forged success and a non-library exception are both caught by the harness."""
    harness = fuzz.Harness("jwe")
    seed = (SEEDS / "jwe" / "signed-oaep-gcm").read_bytes()
    real = ge.open_detailed

    def forged(*args: Any, **kwargs: Any) -> ge.OpenResult:
        res = real(*args, **kwargs)
        return ge.OpenResult(b"forged", res.codec, res.decrypted_with, res.verified_by, ())

    monkeypatch.setattr(ge, "open_detailed", forged)
    with pytest.raises(fuzz.Finding, match="none of our signers signed"):
        harness.check(seed)

    def unsigned(*args: Any, **kwargs: Any) -> ge.OpenResult:
        res = real(*args, **kwargs)
        return ge.OpenResult(res.plaintext, res.codec, res.decrypted_with, (), ())

    monkeypatch.setattr(ge, "open_detailed", unsigned)
    with pytest.raises(fuzz.Finding, match="unsigned not allowed"):
        harness.check(seed)

    def crashing(*args: Any, **kwargs: Any) -> ge.OpenResult:
        raise ValueError("a parser error that escaped")

    monkeypatch.setattr(ge, "open_detailed", crashing)
    with pytest.raises(ValueError, match="escaped"):
        harness.check(seed)
