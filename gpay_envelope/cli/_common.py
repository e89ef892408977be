"""What every command shares: exit codes, the usage error, tables and dates, the passphrase
options, and the one place the commands write new files."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, TextIO, TypeAlias

from .._keys import KeySet, KeyStatus, utcnow
from .._policy import MAX_LIFETIME_DAYS
from ..errors import KeySetError
from ..keystore import PassphraseRef, is_manifest, read_manifest
from ..keystore.files import atomic_write, naming_source

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

#: The ``add_subparsers`` action a command group adds its commands to.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class UsageError(Exception):
    """A usage error found after parsing: one line on stderr, exit 2."""


@dataclass
class Ctx:
    """Where a command writes, reads stdin from, and what "now" is."""

    out: TextIO
    err: TextIO
    stdin: BinaryIO | None = None
    now: datetime = field(default_factory=utcnow)


#: A command: the parsed arguments and the context in, the exit code out.
Command: TypeAlias = Callable[[argparse.Namespace, Ctx], int]


# -- output ---------------------------------------------------------------------------------
def rows_table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Write ``rows`` as aligned columns; the first row is the header, underlined."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        out.write("\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def date(d: datetime | None) -> str:
    """A date as YYYY-MM-DD, or "never"."""
    return "never" if d is None else d.strftime("%Y-%m-%d")


def expiry_cell(d: datetime | None, now: datetime) -> str:
    """An expiry date with the days left as of ``now``, or "(expired)"."""
    if d is None:
        return "never"
    days = (d - now).days
    if d <= now:
        return f"{date(d)} (expired)"
    return f"{date(d)} ({days}d)"


def keyset_cell(ks: KeySet, names: dict[str, str] | None = None) -> str:
    """The kids of ``ks`` (or their short ``names``): the primary starred, DISABLED marked."""
    return ", ".join(
        (names or {}).get(k.kid, k.kid)
        + ("*" if k.kid == ks.primary.kid else "")
        + ("" if k.status is KeyStatus.ENABLED else " (disabled)")
        for k in ks
    )


def print_manifest_state(ctx: Ctx, manifest: Path, ks: KeySet) -> None:
    """A table of the manifest's keys after a change: status, file, expiry."""
    m = read_manifest(manifest)
    files = {e.kid: e.file for e in m.keys}
    rows = [["kid", "status", "file", "expires"]]
    for k in ks.primary_first():
        status = "primary" if k is ks.primary else k.status.value
        rows.append([k.kid, status, files.get(k.kid) or "", expiry_cell(k.not_after, ctx.now)])
    rows_table(rows, ctx.out)


# -- parsers --------------------------------------------------------------------------------
class HelpFormatter(argparse.HelpFormatter):
    """Descriptions wrapped as usual; an epilog that starts with "examples:" kept as written,
    one command a line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return text
        return super()._fill_text(text, width, indent)


def examples(*lines: str) -> str:
    """An "examples:" epilog, one command (or "# comment") a line."""
    return "examples:\n" + "".join(f"  {line}\n" for line in lines)


def add_command(
    commands: Commands, name: str, *, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """A command with its one-line ``help`` (in the group's list), a ``description`` and an
    examples ``epilog`` (made by `examples`)."""
    return commands.add_parser(
        name, help=help, description=description, epilog=epilog, formatter_class=HelpFormatter
    )


# -- argument types and options -------------------------------------------------------------
def at(text: str) -> datetime:
    """``--at``: an ISO date or date-time; a naive value is UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def days(text: str) -> int:
    """``--days``: a key lifetime within Google's maximum."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not 1 <= value <= MAX_LIFETIME_DAYS:
        raise argparse.ArgumentTypeError(
            f"keys must expire within 1 to {MAX_LIFETIME_DAYS} days (Google: one year, two at most)"
        )
    return value


def add_passphrase_options(p: argparse.ArgumentParser, what: str) -> None:
    """``--passphrase-env VAR`` or ``--passphrase-file FILE`` (never the passphrase itself, so
    it stays out of the shell history and the process list)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--passphrase-env", metavar="VAR", help=f"environment variable holding {what}"
    )
    group.add_argument("--passphrase-file", metavar="FILE", help=f"file holding {what}")


def passphrase_ref(args: argparse.Namespace, base: Path | None = None) -> PassphraseRef | None:
    """The passphrase options as a reference; a file is made relative to ``base``."""
    if getattr(args, "passphrase_env", None):
        return PassphraseRef(env=args.passphrase_env)
    if getattr(args, "passphrase_file", None):
        file = args.passphrase_file
        if base is not None:
            file = Path(os.path.relpath(os.path.abspath(file), os.path.abspath(base))).as_posix()
        return PassphraseRef(file=file)
    return None


def passphrase_flag(args: argparse.Namespace) -> str | None:
    """The passphrase option given, as typed (``--passphrase-env VAR``), or None."""
    if getattr(args, "passphrase_env", None):
        return f"--passphrase-env {args.passphrase_env}"
    if getattr(args, "passphrase_file", None):
        return f"--passphrase-file {args.passphrase_file}"
    return None


def passphrase(args: argparse.Namespace) -> str | None:
    """The passphrase the options point to (a file relative to the working directory); an
    unset variable or an empty file is a usage error naming the option."""
    ref = passphrase_ref(args)
    try:
        return None if ref is None else ref.resolve(Path.cwd())
    except KeySetError as exc:
        raise UsageError(f"{passphrase_flag(args)}: {exc}") from None


@contextlib.contextmanager
def naming_passphrase(args: argparse.Namespace, path: Path) -> Iterator[None]:
    """Loading the plain key file ``path``: a failure names the file and the passphrase
    option tried (a manifest names its own passphrases, and its errors say which)."""
    try:
        yield
    except KeySetError as exc:
        flag = passphrase_flag(args)
        if flag is None or is_manifest(path):
            raise
        raise naming_source(exc, str(path), flag) from None


# -- writing files --------------------------------------------------------------------------
def write_new(path: Path, data: bytes, mode: int, *, force: bool) -> None:
    """Write a new file with exactly ``mode``: O_EXCL (never clobber) unless ``force``, in
    which case a temporary file is renamed over the old one."""
    if force:
        atomic_write(path, data, mode=mode)
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode)
    try:
        os.fchmod(fd, mode)  # exactly this mode, whatever the umask
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        if fd != -1:
            os.close(fd)


def write_output_file(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` (``-o``); an error names ``path``, not the temporary
    file written next to it."""
    try:
        atomic_write(path, data, mode=mode)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


@dataclass(frozen=True)
class Output:
    """One file a command writes: where, what bytes (kept out of the repr), its mode, and what
    it is (for the table the command prints)."""

    path: Path
    data: bytes = field(repr=False)
    mode: int
    what: str


def refuse_existing(paths: Sequence[Path]) -> None:
    """Raise `KeySetError` naming every path that exists (or is a dangling symlink)."""
    taken = [p for p in paths if p.exists() or p.is_symlink()]
    if taken:
        raise KeySetError(
            f"refusing to overwrite {', '.join(map(str, taken))} (use --force to replace)"
        )


def write_all(outputs: Sequence[Output], *, force: bool) -> None:
    """Write every output or none: existing targets are refused up front (unless ``force``),
    and files this call created are removed again when a later write fails."""
    if not force:
        refuse_existing([o.path for o in outputs])
    done: list[Path] = []
    try:
        for o in outputs:
            write_new(o.path, o.data, o.mode, force=force)
            done.append(o.path)
    except BaseException:
        if not force:
            for p in done:
                with contextlib.suppress(OSError):
                    p.unlink()
        raise
