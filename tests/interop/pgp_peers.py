"""OpenPGP peers for the interop tests: test keys made by gpg, and sqop, rnp and BouncyCastle
(tests/interop/bc/BcPeer.java) driven as encrypting and decrypting peers.

Every peer call is one `subprocess.run` with a timeout; files a peer needs (key files,
sqop's verification output) live in a per-peer work directory. Nothing here talks to a
network or to the user's own keyrings: gpg runs with a throw-away GNUPGHOME per key, rnp with
``--keyfile`` and HOME pointed at the work directory.

What each peer reports about the signatures of a message it decrypts (`Decrypted`):

- sqop (SOP ``decrypt --verify-with CERT --verifications-out FILE``): one line per *good*
  signature, ``<time> <signing key fpr> <primary fpr>``. Signatures by certificates it was not
  given, and bad ones, are simply left out (no count). Exit 3 (SOP "NO_SIGNATURE") when not a
  single signature verified.
- rnp (``rnp -d``): one block per signature on stderr, "Good signature made ...",
  "NO PUBLIC KEY for signature made ...", "BAD signature made ...", each followed by
  "using RSA key <key id>", then a summary ("Signature(s) verified successfully" or
  "Signature verification failure: N unknown signature(s)"). It exits 0 and writes the
  plaintext even when no signature verified, so callers must check the report.
- BouncyCastle (BcPeer): "SIG GOOD|BAD <primary fpr> <signing key fpr> <hash>" and
  "SIG UNKNOWN <key id>" per signature, plus what it saw (compression, cipher, one-pass
  flags); exits 3 unless at least one known signer's signature is good and none is bad.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

#: Seconds any single peer process may take (they normally take 10-400 ms).
TIMEOUT = 60
#: Seconds for generating one key (an RSA-4096 pair can take several seconds).
KEYGEN_TIMEOUT = 180
#: Seconds for compiling BcPeer.java.
JAVAC_TIMEOUT = 180

BC_SOURCE = Path(__file__).resolve().parent / "bc" / "BcPeer.java"
BC_JARS = (Path("/usr/share/java/bcprov.jar"), Path("/usr/share/java/bcpg.jar"))


class PeerFailed(AssertionError):
    """A peer process failed (or did what it should not have); carries its exit code and output."""

    def __init__(self, what: str, proc: subprocess.CompletedProcess[bytes]) -> None:
        err = proc.stderr.decode("utf-8", "replace").strip()
        super().__init__(f"{what}: exit {proc.returncode}\n{err}")
        self.returncode = proc.returncode
        self.stderr = err


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    """Run one command to completion: stdin given, stdout and stderr captured, never a shell."""
    return subprocess.run(
        [str(a) for a in argv],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _checked(what: str, proc: subprocess.CompletedProcess[bytes]) -> bytes:
    if proc.returncode != 0:
        raise PeerFailed(what, proc)
    return proc.stdout


# -- keys -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PeerKey:
    """One gpg-made test key: an RSA [C,S] primary and an RSA [E] subkey, 1-year expiry."""

    name: str
    bits: int
    fpr: str  # primary fingerprint, 40 upper-case hex (= Key.kid in gpay_envelope)
    enc_fpr: str  # the encryption subkey's fingerprint
    public: bytes  # ASCII-armored certificate
    secret: bytes  # ASCII-armored secret key, unprotected
    pub_path: Path
    sec_path: Path

    @property
    def keyid(self) -> str:
        return self.fpr[-16:]


def _gpg_key(workdir: Path, name: str, bits: int) -> PeerKey:
    home = workdir / f"gnupg-{name}"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home), "LC_ALL": "C"}
    gpg = [
        "gpg",
        "--homedir",
        str(home),
        "--batch",
        "--no-tty",
        "--quiet",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
    ]
    uid = f"{name} <{name}@peers.gpay-envelope.test>"

    def step(*args: str) -> bytes:
        return _checked(f"gpg {args[0]}", run([*gpg, *args], env=env, timeout=KEYGEN_TIMEOUT))

    try:
        step("--quick-gen-key", uid, f"rsa{bits}", "cert,sign", "1y")
        fprs = _colon_fprs(step("--with-colons", "--list-secret-keys"))
        step("--quick-add-key", fprs[0], f"rsa{bits}", "encr", "1y")
        fprs = _colon_fprs(step("--with-colons", "--list-secret-keys"))
        if len(fprs) != 2:
            raise AssertionError(f"gpg made {fprs!r} for {name}, expected a primary and a subkey")
        public = step("--armor", "--export", fprs[0])
        secret = step("--armor", "--export-secret-keys", fprs[0])
    finally:
        run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], env=env)
    pub_path = workdir / f"{name}.pub.asc"
    sec_path = workdir / f"{name}.sec.asc"
    pub_path.write_bytes(public)
    sec_path.write_bytes(secret)
    return PeerKey(name, bits, fprs[0], fprs[1], public, secret, pub_path, sec_path)


def _colon_fprs(listing: bytes) -> list[str]:
    return [
        line.split(":")[9].upper()
        for line in listing.decode().splitlines()
        if line.startswith("fpr:")
    ]


def generate_keys(workdir: Path, specs: Sequence[tuple[str, int]]) -> dict[str, PeerKey]:
    """Make the keys ``(name, bits)`` with gpg, two at a time, biggest first."""
    workdir.mkdir(parents=True, exist_ok=True)
    ordered = sorted(specs, key=lambda s: -s[1])
    with ThreadPoolExecutor(max_workers=2) as pool:
        keys = list(pool.map(lambda s: _gpg_key(workdir, s[0], s[1]), ordered))
    return {k.name: k for k in keys}


# -- what a peer reports ----------------------------------------------------------------------
@dataclass(frozen=True)
class Decrypted:
    """A peer's decryption of a message.

    ``good`` holds the primary fingerprints (upper-case) of the signatures the peer reported
    good, in its report order. ``unknown`` / ``bad`` count signatures by keys the peer was not
    given / that failed, or are None when the peer does not report them (sqop).
    """

    plaintext: bytes
    good: tuple[str, ...]
    unknown: int | None
    bad: int | None
    report: str
    facts: dict[str, str] = field(default_factory=dict)


class Peer:
    """An OpenPGP implementation under test. Subclasses fill in the commands."""

    name = "?"
    #: Compression choices its encrypt command offers ("none", "zip", "zlib").
    compressions: tuple[str, ...] = ("none",)

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._serial = itertools.count()

    def _file(self, suffix: str, data: bytes | None = None) -> Path:
        path = self.workdir / f"{self.name}-{next(self._serial)}{suffix}"
        if data is not None:
            path.write_bytes(data)
        return path

    def encrypt(
        self,
        plaintext: bytes,
        *,
        to: Sequence[PeerKey],
        sign: Sequence[PeerKey],
        armor: bool,
        compression: str,
        hash_name: str = "SHA384",
        layout: str = "google",
    ) -> bytes:
        """Encrypt to every encryption subkey of ``to`` and sign with every key of ``sign``.

        ``compression``: one of `compressions`. ``hash_name`` and ``layout`` (one-pass
        signature layout, "google" or "nested") are honoured where the peer has the option:
        sqop picks the hash itself, and sqop and rnp always write the RFC nesting.
        """
        raise NotImplementedError

    def decrypt(
        self, message: bytes, *, keys: Sequence[PeerKey], verify: Sequence[PeerKey]
    ) -> Decrypted:
        raise NotImplementedError


class Sqop(Peer):
    """Sequoia's SOP implementation. SOP has no compression option: sqop never compresses,
    and picks the signature hash from the key's preferences (SHA512 for gpg-made keys)."""

    name = "sqop"
    compressions = ("none",)

    @staticmethod
    def available() -> bool:
        return shutil.which("sqop") is not None

    def encrypt(
        self,
        plaintext: bytes,
        *,
        to: Sequence[PeerKey],
        sign: Sequence[PeerKey],
        armor: bool,
        compression: str,
        hash_name: str = "SHA384",
        layout: str = "google",
    ) -> bytes:
        if compression != "none":
            raise ValueError("sqop cannot compress")
        argv: list[str | Path] = ["sqop", "encrypt"]
        if not armor:
            argv.append("--no-armor")
        for k in sign:
            argv += ["--sign-with", k.sec_path]
        argv += [k.pub_path for k in to]
        return _checked("sqop encrypt", run(argv, stdin=plaintext))

    def decrypt(
        self, message: bytes, *, keys: Sequence[PeerKey], verify: Sequence[PeerKey]
    ) -> Decrypted:
        out = self._file(".verifications")  # must not exist yet: sqop refuses to overwrite
        argv: list[str | Path] = ["sqop", "decrypt", "--verifications-out", out]
        for k in verify:
            argv += ["--verify-with", k.pub_path]
        argv += ["--", *(k.sec_path for k in keys)]
        proc = run(argv, stdin=message)
        plaintext = _checked("sqop decrypt", proc)
        lines = out.read_text().splitlines()
        good = []
        for line in lines:
            # "<ISO time> <signing key fingerprint> <primary key fingerprint> [mode:...]"
            fields = line.split()
            if len(fields) < 3:
                raise AssertionError(f"unexpected sqop verification line {line!r}")
            good.append(fields[2].upper())
        return Decrypted(plaintext, tuple(good), None, None, "\n".join(lines))


_RNP_SIG = re.compile(
    r"^(?P<status>Good signature|BAD signature|EXPIRED signature|NO PUBLIC KEY for signature"
    r"|UNKNOWN signature status|UNKNOWN signature) made [^\n]*\n"
    r"\s*using \S+ key (?P<keyid>[0-9a-fA-F]{16})",
    re.MULTILINE,
)


class Rnp(Peer):
    """Ribose rnp (Botan backend). Keys come from one ``--keyfile`` per call."""

    name = "rnp"
    compressions = ("none", "zip", "zlib")

    @staticmethod
    def available() -> bool:
        return shutil.which("rnp") is not None

    def _env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.workdir), "LC_ALL": "C"}

    def _keyfile(self, parts: Sequence[bytes]) -> Path:
        return self._file(".keys.asc", b"\n".join(parts))

    def encrypt(
        self,
        plaintext: bytes,
        *,
        to: Sequence[PeerKey],
        sign: Sequence[PeerKey],
        armor: bool,
        compression: str,
        hash_name: str = "SHA384",
        layout: str = "google",
    ) -> bytes:
        keyfile = self._keyfile([k.secret for k in sign] + [k.public for k in to])
        argv: list[str | Path] = ["rnp", "--keyfile", keyfile, "--notty", "-e", "-s"]
        for k in to:
            argv += ["-r", k.fpr]
        for k in sign:
            argv += ["-u", k.fpr]
        argv += ["--hash", hash_name, "--cipher", "AES256"]
        argv += {"none": ["-z", "0"], "zip": ["--zip"], "zlib": ["--zlib"]}[compression]
        if armor:
            argv.append("--armor")
        argv += ["--output", "-"]
        return _checked("rnp -e -s", run(argv, stdin=plaintext, env=self._env()))

    def decrypt(
        self, message: bytes, *, keys: Sequence[PeerKey], verify: Sequence[PeerKey]
    ) -> Decrypted:
        keyfile = self._keyfile([k.secret for k in keys] + [k.public for k in verify])
        argv: list[str | Path] = ["rnp", "--keyfile", keyfile, "--notty", "-d", "--output", "-"]
        proc = run(argv, stdin=message, env=self._env())
        plaintext = _checked("rnp -d", proc)
        report = proc.stderr.decode("utf-8", "replace")
        by_keyid = {k.keyid: k.fpr for k in verify}
        good: list[str] = []
        unknown = bad = 0
        for m in _RNP_SIG.finditer(report):
            keyid = m["keyid"].upper()
            if m["status"] == "Good signature":
                good.append(by_keyid.get(keyid, keyid))
            elif m["status"] == "NO PUBLIC KEY for signature":
                unknown += 1
            else:
                bad += 1
        return Decrypted(plaintext, tuple(good), unknown, bad, report)


class BouncyCastle(Peer):
    """tests/interop/bc/BcPeer.java on Debian's BouncyCastle 1.72 (bcprov + bcpg)."""

    name = "bc"
    compressions = ("none", "zip", "zlib")

    def __init__(self, workdir: Path, classes: Path) -> None:
        super().__init__(workdir)
        classpath = os.pathsep.join(str(p) for p in (classes, *BC_JARS))
        # Default JVM settings: C1-only (TieredStopAtLevel=1) makes RSA-4096 slower, not faster.
        self._java = ["java", "-cp", classpath]

    @staticmethod
    def available() -> bool:
        return all(shutil.which(t) for t in ("java", "javac")) and all(p.is_file() for p in BC_JARS)

    @staticmethod
    def compile(outdir: Path) -> Path:
        """Compile BcPeer.java into ``outdir`` (once per test session)."""
        outdir.mkdir(parents=True, exist_ok=True)
        classpath = os.pathsep.join(str(p) for p in BC_JARS)
        proc = run(
            ["javac", "-Xlint:all,-path", "-d", outdir, "-cp", classpath, BC_SOURCE],
            timeout=JAVAC_TIMEOUT,
        )
        _checked("javac BcPeer.java", proc)
        return outdir

    def encrypt(
        self,
        plaintext: bytes,
        *,
        to: Sequence[PeerKey],
        sign: Sequence[PeerKey],
        armor: bool,
        compression: str,
        hash_name: str = "SHA384",
        layout: str = "google",
    ) -> bytes:
        argv: list[str | Path] = [*self._java, "BcPeer", "encrypt"]
        for k in sign:
            argv += ["--sign", k.sec_path]
        for k in to:
            argv += ["--to", k.pub_path]
        argv += ["--zip", compression.upper(), "--hash", hash_name, "--layout", layout]
        if armor:
            argv.append("--armor")
        return _checked("BcPeer encrypt", run(argv, stdin=plaintext))

    def decrypt(
        self, message: bytes, *, keys: Sequence[PeerKey], verify: Sequence[PeerKey]
    ) -> Decrypted:
        argv: list[str | Path] = [*self._java, "BcPeer", "decrypt"]
        for k in keys:
            argv += ["--key", k.sec_path]
        for k in verify:
            argv += ["--verify", k.pub_path]
        proc = run(argv, stdin=message)
        plaintext = _checked("BcPeer decrypt", proc)
        report = proc.stderr.decode("utf-8", "replace")
        good: list[str] = []
        unknown = bad = 0
        facts: dict[str, str] = {}
        for line in report.splitlines():
            words = line.split()
            if not words or words[0] != "bcpeer:" or len(words) < 3:
                continue
            if words[1] == "SIG":
                if words[2] == "GOOD":
                    good.append(words[3])
                elif words[2] == "UNKNOWN":
                    unknown += 1
                else:
                    bad += 1
            elif words[1] in ("COMPRESSION", "SYM", "DECRYPT-WITH", "INTEGRITY"):
                facts[words[1]] = words[2]
        return Decrypted(plaintext, tuple(good), unknown, bad, report, facts)
