"""OpenPGP keys made by each implementation's own key generator, and that implementation as the
peer that uses them, for tests/interop/test_pgp_made_keys.py.

Every maker makes an RSA-2048 key, with or without a passphrase, and then, holding that key,
encrypts and signs a message to it (``encrypt``) and decrypts a message sent to it while
verifying against a given certificate (``decrypt``):

- rnp: ``rnpkeys --generate-key --numbits 2048 --password P`` in a private home (``--password ""``
  leaves the key unprotected), exported with ``rnpkeys --export-key [--secret]``; rnp itself
  encrypts and decrypts.
- PGPainless: tests/interop/pgpainless/PgpainlessKeyMaker.java on Debian's pgpainless-core
  (its RSA template: one [C,S,E] key, no subkey); ``pgpainless-cli`` (its SOP) encrypts and
  decrypts.
- BouncyCastle: tests/interop/bc/BcKeyMaker.java (S2K usage 0, 254 and 255);
  tests/interop/bc/BcPeer.java encrypts and decrypts.
- Sequoia: pysequoia generates the key, Debian's ``sq key password`` protects it (it reads the
  passphrase from a terminal only, so it runs on a pseudo-terminal); pysequoia encrypts and
  decrypts.
- gpg: ``--quick-gen-key`` with a passphrase; gpg encrypts and decrypts, each time in a fresh
  home holding exactly the keys of the call.

The passphrase reaches PGPainless and BcKeyMaker in a file, sq on its terminal, gpg with
``--passphrase``, rnp with ``--password`` and BcPeer in its key argument: it is a test
passphrase, so a command line is good enough for the last three.
`decrypt` returns the plaintext and the ids the peer reported good (fingerprints or key ids,
upper-case hex) and raises `NoGoodSignature` when the peer verified no signature, whatever way
it says so (exit 3 of SOP and BcPeer, rnp's and gpg's reports, pysequoia's exception).
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgp_fixtures import Gpg
from pgp_peers import _RNP_SIG, BC_JARS, BC_SOURCE, JAVAC_TIMEOUT, KEYGEN_TIMEOUT, PeerFailed, run

HERE = Path(__file__).resolve().parent
BC_KEY_MAKER = HERE / "bc" / "BcKeyMaker.java"
PGPAINLESS_KEY_MAKER = HERE / "pgpainless" / "PgpainlessKeyMaker.java"
PGPAINLESS_JARS = (
    Path("/usr/share/java/pgpainless-core.jar"),
    *BC_JARS,
    Path("/usr/share/java/slf4j-api.jar"),
    Path("/usr/share/java/slf4j-nop.jar"),
)
#: Not ASCII: every implementation here turns a passphrase into bytes as UTF-8, so must we.
PASSPHRASE = "correct horse battery staple, naïve ✓"
#: Java decodes its command line in the locale's charset; BcPeer takes the passphrase there.
JAVA_ENV = {**os.environ, "LC_ALL": "C.UTF-8"}
BITS = 2048


class NoGoodSignature(AssertionError):
    """The peer decrypted (or refused to) without verifying any signature."""


@dataclass(frozen=True)
class Made:
    """A key a maker generated: armored secret and public key, and the files a peer reads."""

    maker: str
    variant: str
    passphrase: str | None
    secret: bytes
    public: bytes
    workdir: Path

    @property
    def sec_path(self) -> Path:
        return self.workdir / "sec.asc"

    @property
    def pub_path(self) -> Path:
        return self.workdir / "pub.asc"

    @property
    def pass_path(self) -> Path:
        return self.workdir / "passphrase.txt"


def _checked(what: str, proc: subprocess.CompletedProcess[bytes]) -> bytes:
    if proc.returncode != 0:
        raise PeerFailed(what, proc)
    return proc.stdout


def _made(maker: str, variant: str, workdir: Path, secret: bytes, public: bytes) -> Made:
    passphrase = None if variant == "plain" else PASSPHRASE
    made = Made(maker, variant, passphrase, secret, public, workdir)
    made.sec_path.write_bytes(secret)
    made.pub_path.write_bytes(public)
    return made


class Maker:
    """One implementation: its key generator and its encrypt / decrypt."""

    name = "?"
    variants: tuple[str, ...] = ("plain", "passphrase")
    needs = "?"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._serial = 0

    def _dir(self, what: str) -> Path:
        self._serial += 1
        path = self.workdir / f"{what}-{self._serial}"
        path.mkdir(mode=0o700)
        return path

    @staticmethod
    def available() -> bool:
        raise NotImplementedError

    def make(self, variant: str) -> Made:
        """A fresh RSA-2048 key; ``variant`` "plain" has no passphrase."""
        raise NotImplementedError

    def encrypt(self, made: Made, plaintext: bytes) -> bytes:
        """A binary message to ``made``'s key, signed by it."""
        raise NotImplementedError

    def decrypt(self, made: Made, message: bytes, verify: bytes) -> tuple[bytes, set[str]]:
        """Decrypt with ``made``'s secret key, verifying against the certificate ``verify``."""
        raise NotImplementedError


def _passfile(workdir: Path, passphrase: str | None) -> Path | None:
    if passphrase is None:
        return None
    path = workdir / "passphrase.txt"
    path.write_text(passphrase, encoding="utf-8")
    return path


# -- rnp ------------------------------------------------------------------------------------
class RnpMaker(Maker):
    name = "rnp"
    needs = "rnp and rnpkeys (Debian package rnp)"
    uid = "rnp peer <rnp@peers.gpay-envelope.test>"

    @staticmethod
    def available() -> bool:
        return all(shutil.which(t) for t in ("rnp", "rnpkeys"))

    def _env(self, home: Path) -> dict[str, str]:
        return {**os.environ, "HOME": str(home), "LC_ALL": "C"}

    def _password(self, made: Made) -> list[str]:
        # rnp reads a password from --password only (or a descriptor); "" means none.
        return ["--password", made.passphrase or ""]

    def make(self, variant: str) -> Made:
        workdir = self._dir(f"rnp-{variant}")
        home = workdir / "home"
        home.mkdir(mode=0o700)
        rnpkeys = ["rnpkeys", "--homedir", str(home), "--notty"]
        env = self._env(workdir)
        password = PASSPHRASE if variant != "plain" else ""
        _checked(
            "rnpkeys --generate-key",
            run(
                [
                    *rnpkeys,
                    "--generate-key",
                    "--userid",
                    self.uid,
                    "--numbits",
                    str(BITS),
                    "--password",
                    password,
                ],
                env=env,
                timeout=KEYGEN_TIMEOUT,
            ),
        )
        secret = _checked(
            "rnpkeys --export-key --secret",
            run([*rnpkeys, "--export-key", "--secret", self.uid], env=env),
        )
        public = _checked(
            "rnpkeys --export-key", run([*rnpkeys, "--export-key", self.uid], env=env)
        )
        return _made(self.name, variant, workdir, secret, public)

    def encrypt(self, made: Made, plaintext: bytes) -> bytes:
        argv = [
            "rnp",
            "--homedir",
            str(made.workdir / "home"),
            "--notty",
            "-e",
            "-s",
            "-r",
            self.uid,
            "-u",
            self.uid,
            *self._password(made),
            "--output",
            "-",
        ]
        return _checked("rnp -e -s", run(argv, stdin=plaintext, env=self._env(made.workdir)))

    def decrypt(self, made: Made, message: bytes, verify: bytes) -> tuple[bytes, set[str]]:
        workdir = self._dir("rnp-decrypt")
        keyfile = workdir / "keys.asc"
        keyfile.write_bytes(made.secret + b"\n" + verify)
        argv = [
            "rnp",
            "--keyfile",
            str(keyfile),
            "--notty",
            "-d",
            *self._password(made),
            "--output",
            "-",
        ]
        proc = run(argv, stdin=message, env=self._env(workdir))
        plaintext = _checked("rnp -d", proc)
        report = proc.stderr.decode("utf-8", "replace")
        good = {
            m["keyid"].upper() for m in _RNP_SIG.finditer(report) if m["status"] == "Good signature"
        }
        if not good:
            raise NoGoodSignature(report)
        return plaintext, good


# -- Java makers: BouncyCastle and PGPainless -----------------------------------------------
def _javac(outdir: Path, jars: tuple[Path, ...], *sources: Path) -> list[str]:
    """Compile ``sources`` into ``outdir``; the ``java`` command line that runs them."""
    outdir.mkdir(parents=True, exist_ok=True)
    classpath = os.pathsep.join(str(p) for p in jars)
    _checked(
        "javac",
        run(
            ["javac", "-Xlint:all,-path", "-d", outdir, "-cp", classpath, *sources],
            timeout=JAVAC_TIMEOUT,
        ),
    )
    return ["java", "-cp", os.pathsep.join((str(outdir), classpath))]


class BcMaker(Maker):
    """BcKeyMaker's keys: "passphrase" is S2K usage 254 (SHA-1 checksum), "passphrase-sum"
    usage 255 (two-octet checksum)."""

    name = "bc"
    variants = ("plain", "passphrase", "passphrase-sum")
    needs = "BouncyCastle 1.72 and a JDK (Debian: libbcprov-java libbcpg-java, javac)"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self._java = _javac(workdir / "classes", BC_JARS, BC_SOURCE, BC_KEY_MAKER)

    @staticmethod
    def available() -> bool:
        return all(shutil.which(t) for t in ("java", "javac")) and all(p.is_file() for p in BC_JARS)

    def make(self, variant: str) -> Made:
        workdir = self._dir(f"bc-{variant}")
        protect = {"plain": "none", "passphrase": "sha1", "passphrase-sum": "sum"}[variant]
        argv: list[str | Path] = [
            *self._java,
            "BcKeyMaker",
            "--uid",
            "bc peer <bc@peers.gpay-envelope.test>",
            "--bits",
            str(BITS),
            "--protect",
            protect,
            "--secret",
            workdir / "sec.asc",
            "--public",
            workdir / "pub.asc",
        ]
        passfile = _passfile(workdir, None if variant == "plain" else PASSPHRASE)
        if passfile is not None:
            argv += ["--passphrase-file", passfile]
        _checked("BcKeyMaker", run(argv, timeout=KEYGEN_TIMEOUT))
        secret, public = ((workdir / n).read_bytes() for n in ("sec.asc", "pub.asc"))
        return _made(self.name, variant, workdir, secret, public)

    def _secret_spec(self, made: Made) -> str:
        # BcPeer's "path[:passphrase]": the one peer here that takes it in its arguments.
        return f"{made.sec_path}:{made.passphrase}" if made.passphrase else str(made.sec_path)

    def encrypt(self, made: Made, plaintext: bytes) -> bytes:
        argv = [
            *self._java,
            "BcPeer",
            "encrypt",
            "--sign",
            self._secret_spec(made),
            "--to",
            str(made.pub_path),
            "--zip",
            "NONE",
        ]
        return _checked("BcPeer encrypt", run(argv, stdin=plaintext, env=JAVA_ENV))

    def decrypt(self, made: Made, message: bytes, verify: bytes) -> tuple[bytes, set[str]]:
        cert = self._dir("bc-verify") / "verify.asc"
        cert.write_bytes(verify)
        argv = [
            *self._java,
            "BcPeer",
            "decrypt",
            "--key",
            self._secret_spec(made),
            "--verify",
            str(cert),
        ]
        proc = run(argv, stdin=message, env=JAVA_ENV)
        if proc.returncode == 3:
            raise NoGoodSignature(proc.stderr.decode("utf-8", "replace"))
        plaintext = _checked("BcPeer decrypt", proc)
        good = set()
        for line in proc.stderr.decode("utf-8", "replace").splitlines():
            words = line.split()
            if words[:3] == ["bcpeer:", "SIG", "GOOD"]:
                good |= {words[3].upper(), words[4].upper()}
        return plaintext, good


class PgpainlessMaker(Maker):
    name = "pgpainless"
    needs = "PGPainless 1.3 (Debian: pgpainless-cli, which brings libpgpainless-core-java)"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self._java = _javac(workdir / "classes", PGPAINLESS_JARS, PGPAINLESS_KEY_MAKER)

    @staticmethod
    def available() -> bool:
        return all(shutil.which(t) for t in ("java", "javac", "pgpainless-cli")) and all(
            p.is_file() for p in PGPAINLESS_JARS
        )

    def make(self, variant: str) -> Made:
        workdir = self._dir(f"pgpainless-{variant}")
        argv: list[str | Path] = [
            *self._java,
            "PgpainlessKeyMaker",
            "pgpainless peer <pgpainless@peers.gpay-envelope.test>",
            str(BITS),
            workdir / "sec.asc",
            workdir / "pub.asc",
        ]
        passfile = _passfile(workdir, None if variant == "plain" else PASSPHRASE)
        if passfile is not None:
            argv.append(passfile)
        _checked("PgpainlessKeyMaker", run(argv, timeout=KEYGEN_TIMEOUT))
        secret, public = ((workdir / n).read_bytes() for n in ("sec.asc", "pub.asc"))
        return _made(self.name, variant, workdir, secret, public)

    def _key_password(self, made: Made) -> list[str]:
        return [f"--with-key-password={made.pass_path}"] if made.passphrase else []

    def encrypt(self, made: Made, plaintext: bytes) -> bytes:
        argv = [
            "pgpainless-cli",
            "encrypt",
            "--no-armor",
            f"--sign-with={made.sec_path}",
            *self._key_password(made),
            str(made.pub_path),
        ]
        return _checked("pgpainless-cli encrypt", run(argv, stdin=plaintext))

    def decrypt(self, made: Made, message: bytes, verify: bytes) -> tuple[bytes, set[str]]:
        workdir = self._dir("pgpainless-decrypt")
        cert, out = workdir / "verify.asc", workdir / "verifications.txt"
        cert.write_bytes(verify)
        argv = [
            "pgpainless-cli",
            "decrypt",
            f"--verify-out={out}",
            f"--verify-with={cert}",
            *self._key_password(made),
            str(made.sec_path),
        ]
        proc = run(argv, stdin=message)
        if proc.returncode == 3:  # SOP's NO_SIGNATURE
            raise NoGoodSignature(proc.stderr.decode("utf-8", "replace"))
        plaintext = _checked("pgpainless-cli decrypt", proc)
        # SOP: one line per good signature, "<time> <signing key fpr> <primary fpr> ...".
        good = {word.upper() for line in out.read_text().splitlines() for word in line.split()[1:3]}
        if not good:
            raise NoGoodSignature(out.read_text())
        return plaintext, good


# -- Sequoia --------------------------------------------------------------------------------
def _sequoia() -> Any:
    try:
        import pysequoia
    except ImportError:
        return None
    return pysequoia


def _on_a_terminal(
    argv: list[str], answers: list[tuple[bytes, bytes]], *, env: dict[str, str], timeout: float
) -> int:
    """Run ``argv`` on a pseudo-terminal, typing each answer after its prompt; its exit code.
    Waits at most ``timeout`` seconds for any output."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: never returns
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)

    def read() -> bytes:
        if not select.select([fd], [], [], timeout)[0]:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"{argv[0]} wrote nothing for {timeout} s")
        try:
            return os.read(fd, 1024)
        except OSError:  # Linux: EIO once the child has closed the terminal
            return b""

    try:
        for prompt, answer in answers:
            seen = b""
            while prompt not in seen:
                chunk = read()
                if not chunk:
                    raise AssertionError(f"{argv[0]} ended before {prompt!r}: {seen!r}")
                seen += chunk
            os.write(fd, answer + b"\n")
        while read():
            pass
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


class SequoiaMaker(Maker):
    """pysequoia's v4 RSA key (it has no protection API), protected by Debian's ``sq``."""

    name = "sequoia"
    variants = ("passphrase",)
    needs = "pysequoia (pip) and sq (Debian package sq)"

    @staticmethod
    def available() -> bool:
        return _sequoia() is not None and shutil.which("sq") is not None

    def make(self, variant: str) -> Made:
        sq = _sequoia()
        workdir = self._dir(f"sequoia-{variant}")
        tsk = sq.Tsk.generate(
            "sequoia peer <sequoia@peers.gpay-envelope.test>",
            cipher_suite=sq.CipherSuite.RSA2k,
            profile=sq.Profile.RFC4880,
        )
        (workdir / "plain.pgp").write_bytes(bytes(tsk))
        out = workdir / "protected.pgp"
        argv = ["sq", "key", "password", "--binary", "-o", str(out), str(workdir / "plain.pgp")]
        pw = PASSPHRASE.encode()
        prompts = [(b"New password:", pw), (b"Repeat new password:", pw)]
        env = {**os.environ, "HOME": str(workdir), "LC_ALL": "C.UTF-8"}
        code = _on_a_terminal(argv, prompts, env=env, timeout=KEYGEN_TIMEOUT)
        (workdir / "plain.pgp").unlink()
        assert code == 0, f"sq key password exited {code}"
        protected = sq.Tsk.from_bytes(out.read_bytes())
        return _made(
            self.name, variant, workdir, out.read_bytes(), bytes(protected.extract_certificate())
        )

    def encrypt(self, made: Made, plaintext: bytes) -> bytes:
        sq = _sequoia()
        tsk = sq.Tsk.from_bytes(made.secret)
        message: bytes = sq.encrypt(
            plaintext,
            recipients=[tsk.extract_certificate()],
            signer=tsk.signer(made.passphrase),
            armor=False,
        )
        return message

    def decrypt(self, made: Made, message: bytes, verify: bytes) -> tuple[bytes, set[str]]:
        sq = _sequoia()
        tsk = sq.Tsk.from_bytes(made.secret)
        cert = sq.Cert.from_bytes(verify)
        decryptor = tsk.decryptor(made.passphrase)
        # pysequoia fails the whole decryption when a signature's certificate is not in the
        # store (the other tests show the same message decrypts with the right one).
        try:
            out = sq.decrypt(message, decryptor=decryptor, store=lambda ids: [cert])
        except Exception as exc:  # pysequoia raises a bare exception type
            raise NoGoodSignature(str(exc)) from exc
        good = {str(s.signing_key).upper() for s in out.valid_sigs}
        if not good:
            raise NoGoodSignature("pysequoia reported no valid signature")
        return bytes(out.bytes), good


# -- gpg ------------------------------------------------------------------------------------
class GpgMaker(Maker):
    """gpg 2.2's ``--quick-gen-key``; unprotected gpg keys are the keys of tests/interop."""

    name = "gpg"
    variants = ("passphrase",)
    needs = "gpg (Debian package gnupg)"
    uid = "gpg peer <gpg@peers.gpay-envelope.test>"

    @staticmethod
    def available() -> bool:
        return all(shutil.which(t) for t in ("gpg", "gpgconf"))

    def _gpg(self, what: str) -> Gpg:
        return Gpg(self._dir(what) / "gnupg")

    @staticmethod
    def _stop(gpg: Gpg) -> None:
        run(["gpgconf", "--homedir", str(gpg.home), "--kill", "gpg-agent"])

    def make(self, variant: str) -> Made:
        gpg = self._gpg(f"gpg-{variant}")
        try:
            fpr = gpg.gen(self.uid, passphrase=PASSPHRASE)
            secret = gpg.check("--armor", "--export-secret-keys", fpr, passphrase=PASSPHRASE)
            public = gpg.check("--armor", "--export", fpr)
        finally:
            self._stop(gpg)
        return _made(self.name, variant, gpg.home.parent, secret, public)

    def _holding(self, *keys: bytes) -> Gpg:
        gpg = self._gpg("gpg-call")
        for key in keys:
            gpg.import_keys(key, passphrase=PASSPHRASE)
        return gpg

    def encrypt(self, made: Made, plaintext: bytes) -> bytes:
        gpg = self._holding(made.secret)
        try:
            return gpg.check(
                "--sign",
                "--encrypt",
                "-r",
                self.uid,
                "-u",
                self.uid,
                "-o",
                "-",
                data=plaintext,
                passphrase=made.passphrase or "",
            )
        finally:
            self._stop(gpg)

    def decrypt(self, made: Made, message: bytes, verify: bytes) -> tuple[bytes, set[str]]:
        gpg = self._holding(made.secret, verify)
        try:
            r = gpg.run("--decrypt", data=message, passphrase=made.passphrase or "")
        finally:
            self._stop(gpg)
        if not r.lines("DECRYPTION_OKAY"):
            raise AssertionError(f"gpg did not decrypt: {r.status}")
        good = r.good_signers()
        if not good:
            raise NoGoodSignature("\n".join(r.status))
        return r.stdout, good


MAKERS: dict[str, type[Maker]] = {
    m.name: m for m in (RnpMaker, PgpainlessMaker, BcMaker, SequoiaMaker, GpgMaker)
}
