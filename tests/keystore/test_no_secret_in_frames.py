"""No passphrase and no key file content in any frame a keystore error's traceback reaches,
nor in what ``traceback`` prints with ``capture_locals``, nor in ``dataclasses.asdict`` of a
keystore record: a crash report or an error tracker must never carry a secret."""

from __future__ import annotations

import dataclasses
import json
import traceback
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keystore_fixtures as kf
import pytest
from cryptography.hazmat.primitives import serialization

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import generate_pgp_key, key_to_pgp
from gpay_envelope.keystore import (
    KeySetWatcher,
    Manifest,
    PassphraseRef,
    add_key,
    check_keyset,
    describe_key,
    init_manifest,
    load_keyset,
    load_manifest,
    read_key_file,
    read_manifest,
)

#: The passphrase of every protected key here, and a wrong one tried (a secret as well):
#: long and odd, so that no other text holds them.
PASSPHRASE = "Tr0ub4dor&3-correct-horse-battery"
WRONG = "Tr0ub4dor&3-wrong-horse-staple"
_OPAQUE = (ge.Key, ge.KeySet)  # their reprs and pickling hide key material by design


def _secret_texts(*files: Path) -> list[bytes]:
    """What must never show: the passphrase, and a line from the middle of each key file."""
    out = [PASSPHRASE.encode(), WRONG.encode()]
    for f in files:
        lines = [ln for ln in f.read_bytes().splitlines() if len(ln) > 40]
        out.append(lines[len(lines) // 2])
    return out


def _holds(value: object, secrets: list[bytes], seen: set[int], depth: int = 0) -> bool:
    if depth > 8 or id(value) in seen or isinstance(value, (*_OPAQUE, types.ModuleType, type)):
        return False
    seen.add(id(value))
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return any(s in data for s in secrets)
    children: list[object] = []
    if isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        children = list(value)
    elif isinstance(value, types.FunctionType):
        children = [c.cell_contents for c in value.__closure__ or () if _filled(c)]
        children += list(value.__defaults__ or ())
    elif isinstance(value, BaseException):
        children = [value.args, value.__cause__, value.__context__, vars(value)]
    else:
        if hasattr(value, "__dict__"):
            children.append(vars(value))
        for name in getattr(type(value), "__slots__", ()):
            children.append(getattr(value, name, None))
    return any(_holds(c, secrets, seen, depth + 1) for c in children)


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def _frames(exc: BaseException) -> Iterator[tuple[BaseException, types.FrameType]]:
    """Every frame of the traceback of ``exc`` and of the exceptions chained to it."""
    chain: list[BaseException] = [exc]
    while chain:
        e = chain.pop()
        tb = e.__traceback__
        while tb is not None:
            yield e, tb.tb_frame
            tb = tb.tb_next
        chain += [c for c in (e.__cause__, e.__context__) if c is not None]


def _leaks(exc: BaseException, secrets: list[bytes]) -> list[str]:
    found = []
    for e, frame in _frames(exc):
        if "gpay_envelope" not in frame.f_code.co_filename:
            continue  # the test's own frames hold the secrets on purpose
        for name, value in frame.f_locals.items():
            if _holds(value, secrets, set()):
                found.append(f"{type(e).__name__} frame {frame.f_code.co_name}(): {name}")
    if _holds(exc, secrets, set()):
        found.append("the exception (args, attributes, cause or context)")
    text = _rendered(
        traceback.TracebackException(type(exc), exc, exc.__traceback__, capture_locals=True)
    )
    found += ["traceback with capture_locals" for s in secrets if s in text]
    return found


def _rendered(te: traceback.TracebackException | None) -> bytes:
    """What ``traceback`` prints of the library's frames (locals included) and of the errors,
    down the cause and context chain."""
    out = []
    while te is not None:
        out += ["".join(te.format_exception_only())]
        for fs in te.stack:
            if "gpay_envelope" in fs.filename:
                out += [fs.name, fs.line or "", repr(fs.locals)]
        te = te.__cause__ or te.__context__
    return "\n".join(out).encode()


def _fails_cleanly(call: Callable[[], object], secrets: list[bytes], match: str) -> None:
    with pytest.raises(ge.KeySetError, match=match) as info:
        call()
    assert _leaks(info.value, secrets) == []


# -- the keys -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pgp_protected() -> tuple[ge.Key, bytes]:
    key = generate_pgp_key(uid="S <s@example.com>", size=2048, passphrase=PASSPHRASE)
    return key, key_to_pgp(key, include_private=True)


@pytest.fixture(scope="module")
def pem_protected() -> tuple[ge.Key, bytes]:
    key = ge.generate_key(kid="enc-1", use="enc", size=2048)
    pem = key.material.native.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    )
    return key, pem


@pytest.fixture
def folder(
    tmp_path: Path,
    pgp_protected: tuple[ge.Key, bytes],
    pem_protected: tuple[ge.Key, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    kf.write(tmp_path / "s.asc", pgp_protected[1])
    kf.write(tmp_path / "enc-1.pem", pem_protected[1])
    kf.write(tmp_path / "pw.txt", PASSPHRASE.encode() + b"\n")
    monkeypatch.setenv("GPAY_TEST_PW", PASSPHRASE)
    return tmp_path


def _manifest(folder: Path, doc: dict[str, Any]) -> Path:
    path = folder / "m.keyset.json"
    path.write_text(json.dumps(doc))
    return path


def _pgp_doc(key: ge.Key, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "codec": "pgp",
        "primary": key.kid,
        "passphrase": {"env": "GPAY_TEST_PW"},
        "keys": [{"file": "s.asc", "kid": key.kid}],
    }
    doc.update(changes)
    return doc


# -- manifests: the loader reads the passphrase itself --------------------------------------
@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d, "wrong passphrase"),  # the env variable below is wrong
        (lambda d: d.update(primary="NOPE"), "not in the set"),  # after a good unlock
        (lambda d: d["keys"].append({"file": "missing.asc"}), "missing.asc"),
        (lambda d: d["keys"][0].update(kid="0" * 40), "holds no key"),
        (lambda d: d.update(codec="jwe"), "not 'jwe'"),
        (lambda d: d.update(passphrase={"file": "pw.txt"}, primary="NOPE"), "not in the set"),
    ],
)
def test_manifest_failures_hold_no_secret(
    folder: Path,
    pgp_protected: tuple[ge.Key, bytes],
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[dict[str, Any]], object],
    match: str,
) -> None:
    key, _ = pgp_protected
    doc = _pgp_doc(key)
    change(doc)
    if match == "wrong passphrase":
        monkeypatch.setenv("GPAY_TEST_PW", WRONG)
    path = _manifest(folder, doc)
    secrets = _secret_texts(folder / "s.asc")
    manifest = read_manifest(path)
    for call in (
        lambda: load_manifest(path),
        lambda: load_keyset(path),
        lambda: manifest.load(folder),
        lambda: manifest.load_indexed(folder),
        lambda: manifest.load_report(folder),
        lambda: KeySetWatcher(path),
    ):
        _fails_cleanly(call, secrets, match)


def test_a_passphrase_file_that_is_not_utf8_is_not_shown(
    folder: Path, pgp_protected: tuple[ge.Key, bytes]
) -> None:
    key, _ = pgp_protected
    secret = PASSPHRASE.encode() + b"\xff"
    (folder / "pw.txt").write_bytes(secret)
    path = _manifest(folder, _pgp_doc(key, passphrase={"file": "pw.txt"}))
    for call in (lambda: load_manifest(path), lambda: KeySetWatcher(path)):
        _fails_cleanly(call, [*_secret_texts(folder / "s.asc"), secret], "not UTF-8")


# -- key files: the caller hands the passphrase in ------------------------------------------
@pytest.mark.parametrize(
    ("name", "passphrase", "codec", "match"),
    [
        ("s.asc", WRONG, None, "wrong passphrase"),
        ("s.asc", PASSPHRASE, "jwe", "not 'jwe'"),  # after a good unlock
        ("enc-1.pem", WRONG, None, "could not be loaded"),
        ("enc-1.pem", PASSPHRASE, "pgp", "not 'pgp'"),
    ],
)
def test_key_file_failures_hold_no_secret(
    folder: Path, name: str, passphrase: str, codec: str | None, match: str
) -> None:
    path = folder / name
    secrets = _secret_texts(path)
    _fails_cleanly(lambda: read_key_file(path, passphrase=passphrase, codec=codec), secrets, match)
    _fails_cleanly(lambda: load_keyset(path, passphrase=passphrase, codec=codec), secrets, match)


def test_rotation_steps_hold_no_secret(folder: Path) -> None:
    ref = PassphraseRef(env="GPAY_TEST_PW")
    path = folder / "m.keyset.json"
    secrets = _secret_texts(folder / "s.asc")
    _fails_cleanly(
        lambda: init_manifest(path, folder / "s.asc", kid="0" * 40, passphrase=ref),
        secrets,
        "holds no key",
    )
    init_manifest(path, folder / "s.asc", passphrase=ref)
    _fails_cleanly(
        lambda: add_key(path, folder / "s.asc"), secrets, "duplicate key id"
    )  # after a good unlock


# -- records --------------------------------------------------------------------------------
def test_records_hold_no_secret(
    folder: Path, pgp_protected: tuple[ge.Key, bytes], pem_protected: tuple[ge.Key, bytes]
) -> None:
    key, _ = pgp_protected
    path = _manifest(folder, _pgp_doc(key))
    secrets = _secret_texts(folder / "s.asc", folder / "enc-1.pem")
    manifest = read_manifest(path)
    watcher = KeySetWatcher(path, poll_interval=0)
    loaded = watcher.current()
    records: list[object] = [
        manifest,
        *manifest.keys,
        manifest.passphrase,
        describe_key(loaded.primary, primary=True),
        *describe_key(loaded.primary).parts,
        *check_keyset(loaded),
        *read_key_file(folder / "enc-1.pem", passphrase=PASSPHRASE),
    ]
    for record in records:
        if dataclasses.is_dataclass(record) and not isinstance(record, type):
            assert not _holds(dataclasses.asdict(record), secrets, set()), record
        assert not _holds(repr(record), secrets, set())
    report = manifest.load_report(folder)
    assert not _holds(report._asdict(), secrets, set())
    assert not _holds(watcher, secrets, set()), "the watcher keeps key file bytes"
    assert isinstance(manifest, Manifest)


def test_no_other_keystore_record_is_a_dataclass() -> None:
    """The records above are every dataclass of the keystore: one that held key bytes (the
    watcher's snapshot of the files, say) would hand them to ``dataclasses.asdict``."""
    import inspect

    import gpay_envelope.keystore as ks

    found = {
        f"{module.__name__.rsplit('.', 1)[1]}.{name}"
        for module in (ks.check, ks.edits, ks.files, ks.manifest, ks.passphrase, ks.watch)
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and dataclasses.is_dataclass(value)
        and value.__module__ == module.__name__
    }
    assert found == {
        "check.Finding",
        "check.KeyInfo",
        "check.PartInfo",
        "files.Revocation",
        "manifest.Manifest",
        "manifest.ManifestEntry",
        "passphrase.PassphraseRef",
        "watch._State",  # the current set (a KeySet), a digest and file stats
    }
