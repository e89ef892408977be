"""The interop report: every test marked ``interop`` becomes a row peer x direction x case.

With ``GPAY_INTEROP_REPORT=path`` set, the session writes a markdown report there at its end
(docs/interop.md is made this way, in CI by the main test run):

    GPAY_REQUIRE_PEERS=1 GPAY_INTEROP_REPORT=docs/interop.md python -m pytest -m interop

Rows come from the collected test items themselves (their module, function and parameters),
so the interop test files carry no report metadata; `classify` maps them, and a test it does
not know still gets a row (peer = its module, direction "?"), never silently dropped. Results:
pass, FAIL, error (setup or teardown failed), skip (peer missing), xfail.

The hooks live on a plugin object registered from here, so they also see interop tests
outside tests/interop (the gpg cases in tests/codecs/pgp/test_pgp_weak_algorithms.py and
tests/codecs/pgp/test_revocation.py, and in tests/keystore/test_revocation_in_files.py).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
_PARENT_CONFTEST = HERE.parent / "conftest.py"
REPORT_ENV = "GPAY_INTEROP_REPORT"

PEER_NAMES = {
    "jose4": "node jose 4",
    "jose6": "node jose 6",
    "bc": "BouncyCastle",
    "sqop": "sqop",
    "rnp": "rnp",
    "gpg": "gpg",
    "jwcrypto": "jwcrypto",
    "nginx": "nginx (TLS probe)",
    "openpgp5": "OpenPGP.js 5",
    "openpgp6": "OpenPGP.js 6",
    "sequoia": "Sequoia (pysequoia)",
    "pgpainless": "PGPainless",
}
US_TO_PEER = "we seal → peer opens"
PEER_TO_US = "peer seals → we open"
KEYS = "key exchange"
HARNESS = "harness check"

#: What the rows do not show: cases left out on purpose (from the test modules' docstrings).
NOTES = {
    "node jose 6": "jose 6 removed RSA1_5, so the legacy profiles run against jose 4 only.",
    "sqop": "SOP has no compression option: sqop's messages are uncompressed. sqop reports "
    "good signatures only.",
    "rnp": "rnp exits 0 when no signature verified; the tests read its report.",
    "BouncyCastle": "tests/interop/bc/BcPeer.java plays Google's side (Google's partner "
    "samples are BouncyCastle programs), in Google's sample layout and in RFC nesting.",
    "OpenPGP.js 6": "Keys made with aeadProtect advertise SEIPD v2: OpenPGP.js 6 then sends "
    "v6 PKESK + SEIPD v2, which the tests check in the packet list.",
    "PGPainless": "Its keys come from its RSA template (tests/interop/pgpainless/"
    "PgpainlessKeyMaker.java: `pgpainless-cli generate-key` makes Curve25519 keys only); "
    "pgpainless-cli encrypts and decrypts.",
    "Sequoia (pysequoia)": "Passphrase-protected keys: pysequoia makes them and `sq key "
    "password` protects them (pysequoia has no protection API).",
    "gpg": "Includes the weak-algorithm cases of tests/codecs/pgp/test_pgp_weak_algorithms.py "
    "(SHA-1, MD5, CAST5, 3DES, IDEA, Camellia and SED must be refused).",
}


@dataclass(frozen=True, order=True)
class Row:
    peer: str
    direction: str
    case: str


def _param(item: pytest.Item, name: str) -> Any:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get(name)


def _callspec_id(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    return "" if callspec is None else str(callspec.id)


_GPG_REVOCATION_TESTS = {
    "test_gpg_key_with_its_revocation_certificate": "gpg's revocation certificate with the key",
    "test_gpg_subkey_revocation_after_the_other_subkey": "subkey revocation after the other subkey",
}
_GPG_TESTS = {
    "test_gpg_decrypts_and_verifies_ours": (US_TO_PEER, "gpg decrypts and verifies"),
    "test_gpg_sees_our_unknown_signer_and_still_verifies_the_known_one": (
        US_TO_PEER, "one unknown + one known signer"),
    "test_gpg_accepts_our_keys_as_exported": (KEYS, "gpg imports our exported keys"),
    "test_we_open_gpg_messages_by_each_key_size": (PEER_TO_US, "signed and encrypted"),
    "test_we_open_gpg_messages_multi_recipient_multi_signer": (
        PEER_TO_US, "3 recipients, 2 signers"),
    "test_gpg_streams_partial_body_lengths": (PEER_TO_US, "partial body lengths (stdin)"),
    "test_one_unknown_gpg_signer_among_known_ones": (PEER_TO_US, "unknown + known signers"),
    "test_only_unknown_gpg_signers": (PEER_TO_US, "only unknown signers: InvalidSignature"),
    "test_gpg_encrypt_only_needs_allow_unsigned": (PEER_TO_US, "encrypt-only needs opt-in"),
    "test_gpg_passphrase_protected_and_stub_keys": (KEYS, "protected and stub secret keys"),
    "test_gpg_expired_keys": (KEYS, "expired keys"),
    "test_gpg_revoked_subkey": (KEYS, "revoked subkey"),
    "test_gpg_keys_with_a_forged_subkey": (KEYS, "forged subkey binding"),
    "test_gpg_keys_we_refuse": (KEYS, "keys we refuse"),
}  # fmt: skip

_PGP_PEER_TESTS = {
    "test_peer_opens_ours": US_TO_PEER,
    "test_peer_rejects_ours_without_known_signer": US_TO_PEER,
    "test_we_open_peers": PEER_TO_US,
    "test_we_reject_peers_without_known_signer": PEER_TO_US,
}


def _weak_gpg_case(item: pytest.Item) -> str:
    extra = _param(item, "extra") or ()
    error = _param(item, "error")
    verdict = "opens" if error is None else f"refused ({error.__name__})"
    return f"gpg {' '.join(extra)}: {verdict}"


_NEW_PGP_PEER_TESTS = {
    "test_public_keys_load": (KEYS, "its public key loads"),
    "test_secret_keys_load": (KEYS, "its secret key loads"),
    "test_secret_keys_refuse_a_wrong_passphrase": (KEYS, "passphrase: refused (KeySetError)"),
    "test_sequoia_keys_load": (KEYS, "its secret and public keys load"),
    "test_aead_protected_secret_keys_are_refused_clearly": (
        KEYS, "AEAD-protected secret key: refused (KeySetError)"),
    "test_sequoia_v6_keys_are_refused": (KEYS, "v6 key: refused (KeySetError)"),
    "test_sequoia_key_with_an_x25519_encryption_subkey": (
        KEYS, "RSA key with an X25519 subkey: loads, signs; no recipient"),
    "test_we_open_what_openpgpjs_seals": (PEER_TO_US, "signed and encrypted to its key"),
    "test_we_open_what_sequoia_seals": (PEER_TO_US, "v6 PKESK + SEIPD v2 (OCB), signed"),
    "test_openpgpjs_opens_and_verifies_what_we_seal": (US_TO_PEER, "decrypts and verifies"),
    "test_sequoia_opens_and_verifies_what_we_seal": (US_TO_PEER, "decrypts and verifies"),
    "test_openpgpjs_refuses_a_signature_it_cannot_check": (HARNESS, "unknown signer: none"),
    "test_sequoia_refuses_a_signature_it_cannot_check": (HARNESS, "unknown signer: refused"),
}  # fmt: skip


def _new_pgp_peer_row(module: str, func: str, item: pytest.Item) -> Row:
    """OpenPGP.js (per library and key kind) and Sequoia (per RSA size), keys they made."""
    direction, label = _NEW_PGP_PEER_TESTS.get(func, ("?", func))
    if func == "test_secret_keys_refuse_a_wrong_passphrase":
        label = f"{'missing' if _param(item, 'given') is None else 'wrong'} {label}"
    kind = _param(item, "kind")
    if module == "test_pgp_sequoia":
        suite = _param(item, "suite")
        return Row(PEER_NAMES["sequoia"], direction, f"{label} [{suite}]" if suite else label)
    lib = kind[0] if kind else "openpgp6"
    flags = (("passphrase", bool(kind and kind[1])), ("aeadProtect", bool(kind and kind[2])))
    key = ", ".join(word for word, on in flags if on)
    return Row(PEER_NAMES[lib], direction, f"{label} [{key or 'plain key'}]")


_MADE_KEY_TESTS = {
    "test_made_keys_load": (KEYS, "its secret and public keys load"),
    "test_made_keys_refuse_a_wrong_passphrase": (KEYS, "passphrase: refused (KeySetError)"),
    "test_we_open_what_the_maker_seals": (PEER_TO_US, "signed and encrypted to its key"),
    "test_the_maker_opens_and_verifies_what_we_seal": (US_TO_PEER, "decrypts and verifies"),
    "test_the_maker_verifies_nothing_without_our_key": (HARNESS, "unknown signer: none"),
    "test_pgpainless_cli_default_keys_are_refused_clearly": (
        KEYS, "pgpainless-cli generate-key (Curve25519): refused (KeySetError)"),
}  # fmt: skip
_MADE_KEY_VARIANTS = {
    "plain": "key it made, no passphrase",
    "passphrase": "key it made, passphrase",
    "passphrase-sum": "key it made, passphrase, 2-octet checksum (S2K usage 255)",
}


def _made_key_row(func: str, item: pytest.Item) -> Row:
    """tests/interop/test_pgp_made_keys.py: per maker and kind of key it made."""
    direction, label = _MADE_KEY_TESTS.get(func, ("?", func))
    maker, variant = _param(item, "kind") or ("pgpainless", "")
    if func == "test_made_keys_refuse_a_wrong_passphrase":
        label = f"{'missing' if _param(item, 'given') is None else 'wrong'} {label}"
    where = _MADE_KEY_VARIANTS.get(variant)
    return Row(PEER_NAMES[maker], direction, f"{label} [{where}]" if where else label)


def classify(item: pytest.Item) -> list[Row]:
    """The report rows of one interop test (several when one test covers several peers)."""
    module = item.path.stem
    func = getattr(item, "originalname", item.name)
    pid = _callspec_id(item)
    case = _param(item, "case")
    if module == "test_jwe_node":
        if func == "test_peer_refuses_tampered_token":
            return [Row(PEER_NAMES[lib], HARNESS, "peer refuses a tampered token")
                    for lib in ("jose4", "jose6")]  # fmt: skip
        direction = PEER_TO_US if func == "test_peer_produces_we_open" else US_TO_PEER
        lib = getattr(case, "lib", "?")
        label = str(getattr(case, "id", pid)).removeprefix(f"{lib}-")
        return [Row(PEER_NAMES.get(lib, lib), direction, label)]
    if module == "test_jwe_jwcrypto":
        if func == "test_peer_harness_can_fail":
            return [Row("jwcrypto", HARNESS, "peer refuses wrong keys")]
        direction = PEER_TO_US if func == "test_peer_produces_we_open" else US_TO_PEER
        return [Row("jwcrypto", direction, str(getattr(case, "id", pid)))]
    if module == "test_pgp_gpg" and func in _GPG_TESTS:
        direction, label = _GPG_TESTS[func]
        return [Row("gpg", direction, f"{label} [{pid}]" if pid else label)]
    if module == "test_revocation_in_files" and func == "test_a_revocation_made_by_gpg":
        return [Row("gpg", KEYS, "a key gpg revoked leaves the watched key set")]
    if module == "test_revocation" and func in _GPG_REVOCATION_TESTS:
        label = _GPG_REVOCATION_TESTS[func]
        return [Row("gpg", KEYS, f"{label} [{pid}]" if pid else label)]
    if module == "test_pgp_weak_algorithms" and func == "test_weak_algorithms_made_by_gpg":
        return [Row("gpg", PEER_TO_US, _weak_gpg_case(item))]
    if module == "test_pgp_peers":
        if func in _PGP_PEER_TESTS:
            peer = PEER_NAMES.get(_param(item, "peer_name"), "?")
            if case is not None:
                label = case.id if func == "test_peer_opens_ours" else (
                    f"{case.id} ({case.compression})")  # fmt: skip
            else:
                label = "no known signer: refused"
            return [Row(peer, _PGP_PEER_TESTS[func], label)]
        if func == "test_peer_to_peer":
            src, dst = (PEER_NAMES[_param(item, n)] for n in ("producer", "consumer"))
            return [Row(src, HARNESS, f"peer to peer: {src} → {dst}")]
        if func == "test_google_layout_with_strict_peers":
            dst = PEER_NAMES[_param(item, "consumer")]
            return [Row(dst, HARNESS, "BouncyCastle's Google layout (characterisation)")]
    if module == "test_token_interop":
        peer = "gpg" if "gpg" in func else "jwcrypto"
        direction = PEER_TO_US if func.startswith("test_we_open") else US_TO_PEER
        label = "PKCS#11 token key (SoftHSM2)"
        return [Row(peer, direction, f"{label} [{pid}]" if pid else label)]
    if module in ("test_pgp_openpgpjs", "test_pgp_sequoia"):
        return [_new_pgp_peer_row(module, func, item)]
    if module == "test_pgp_made_keys":
        return [_made_key_row(func, item)]
    if module == "test_tls_nginx":
        label = func.removeprefix("test_").replace("_", " ")
        return [Row(PEER_NAMES["nginx"], "TLS", f"{label} [{pid}]" if pid else label)]
    return [Row(module.removeprefix("test_"), "?", item.name)]


# -- versions -----------------------------------------------------------------------------------
def _first_line(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = (p.stdout or p.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _package_json(name: str) -> str:
    path = HERE / "node" / "node_modules" / name / "package.json"
    match = re.search(r'"version"\s*:\s*"([^"]+)"', path.read_text()) if path.is_file() else None
    return match.group(1) if match else "not installed"


def _jar_version(path: str) -> str:
    try:
        with zipfile.ZipFile(path) as jar:
            manifest = jar.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return "not installed"
    for key in ("Bundle-Version", "Implementation-Version", "Specification-Version"):
        match = re.search(rf"^{key}:\s*(\S+)", manifest, re.MULTILINE)
        if match:
            return match.group(1)
    return "unknown"


def _python_dist(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    return {
        "gpay_envelope": _python_dist("gpay-envelope"),
        "Python": sys.version.split()[0],
        "gpg": _first_line(["gpg", "--version"]),
        "sqop": _first_line(["sqop", "version"]),
        "rnp": _first_line(["rnp", "--version"]),
        "BouncyCastle": f"bcprov {_jar_version('/usr/share/java/bcprov.jar')}, "
        f"bcpg {_jar_version('/usr/share/java/bcpg.jar')}, {_first_line(['java', '-version'])}",
        "node": _first_line(["node", "--version"]),
        "jose 4 / jose 6": f"{_package_json('jose4')} / {_package_json('jose6')}",
        "OpenPGP.js 5 / 6": f"{_package_json('openpgp5')} / {_package_json('openpgp6')}",
        "pysequoia": _python_dist("pysequoia"),
        "sq": _first_line(["sq", "--version"]),
        "PGPainless": _first_line(["pgpainless-cli", "version"]),
        "jwcrypto": _python_dist("jwcrypto"),
        "nginx": _first_line(["nginx", "-v"]),
    }


# -- the recorder -------------------------------------------------------------------------------
_RANK = {"pass": 0, "xfail": 1, "skip": 2, "FAIL": 3, "error": 4}


class InteropReport:
    """Collects per-test results of interop tests; writes the report at the session's end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, list[Row]] = {}
        self.results: dict[str, str] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if item.get_closest_marker("interop") is not None:
                self.rows[item.nodeid] = classify(item)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.rows:
            return
        if report.when == "call":
            if hasattr(report, "wasxfail"):
                result = "xfail"
            else:
                result = {"passed": "pass", "failed": "FAIL", "skipped": "skip"}[report.outcome]
        elif report.failed:
            result = "error"
        elif report.skipped:
            result = "skip"
        else:
            return
        old = self.results.get(report.nodeid)
        if old is None or _RANK[result] > _RANK[old]:
            self.results[report.nodeid] = result

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.results:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.render(), encoding="utf-8")

    def render(self) -> str:
        table: dict[Row, str] = {}
        for nodeid, rows in self.rows.items():
            result = self.results.get(nodeid, "not run")
            for row in rows:
                old = table.get(row)
                if old is None or _RANK.get(result, 5) > _RANK.get(old, 5):
                    table[row] = result
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        total = Counter(table.values())
        out = [
            "# Interop report",
            "",
            "Generated by the test suite (`tests/interop/conftest.py`); do not edit by hand. "
            "Refresh with",
            "",
            "    GPAY_REQUIRE_PEERS=1 GPAY_INTEROP_REPORT=docs/interop.md \\",
            "        python -m pytest -m interop",
            "",
            f"Run {when}: {len(table)} cases, "
            + ", ".join(f"{total[k]} {k}" for k in sorted(total, key=lambda k: _RANK.get(k, 5))),
            "",
            "Directions: *we seal → peer opens* (the peer decrypts and verifies what "
            "gpay_envelope sealed), *peer seals → we open* (gpay_envelope opens what the peer "
            "made, byte-exact payload, the right identity and sender keys), *key exchange* "
            "(keys made by one side used by the other), *harness check* (the peer alone, or "
            "peer to peer, so a failure above can be told apart from a harness problem).",
            "",
            "## Versions",
            "",
            "| component | version |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in versions().items()),
            "",
            "## Summary",
            "",
            "| peer | direction | pass | FAIL | error | skip | xfail |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        groups: dict[tuple[str, str], Counter[str]] = {}
        for row, result in table.items():
            groups.setdefault((row.peer, row.direction), Counter())[result] += 1
        for (peer, direction), counts in sorted(groups.items()):
            kinds = ("pass", "FAIL", "error", "skip", "xfail")
            cells = " | ".join(str(counts.get(k, 0)) for k in kinds)
            out.append(f"| {peer} | {direction} | {cells} |")
        for peer in sorted({row.peer for row in table}):
            out += ["", f"## {peer}", ""]
            if peer in NOTES:
                out += [NOTES[peer], ""]
            out += ["| direction | case | result |", "|---|---|---|"]
            for row in sorted(r for r in table if r.peer == peer):
                case = row.case.replace("|", "\\|")
                out.append(f"| {row.direction} | {case} | {table[row]} |")
        return "\n".join(out) + "\n"


def pytest_configure(config: pytest.Config) -> None:
    # tests/conftest.py and this file are both imported as the module "conftest" (neither
    # folder is a package), and pytest drops the first from sys.modules to load this one.
    # The test modules import helpers with `from conftest import ...`: give them back the
    # top-level one.
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).resolve() == _PARENT_CONFTEST:
            sys.modules["conftest"] = plugin
            break
    target = os.environ.get(REPORT_ENV)
    if target and not config.pluginmanager.has_plugin("gpay-interop-report"):
        config.pluginmanager.register(InteropReport(Path(target)), "gpay-interop-report")
