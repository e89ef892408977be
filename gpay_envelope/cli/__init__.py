"""The ``gpay-envelope`` command (also ``python -m gpay_envelope``).

    gpay-envelope demo                                  a full rotation, fresh keys, no setup
    gpay-envelope keys generate --codec pgp|jwe ...     new keys, written with safe permissions
    gpay-envelope keys list|show|check FILE...          inspect key files and manifests
    gpay-envelope keys init MANIFEST KEYFILE            start a keyset manifest
    gpay-envelope keys rotate MANIFEST add FILE | promote KID | disable KID | enable KID
                                        | remove KID
    gpay-envelope keys verify-rotation MANIFEST [KID]   prove a new key works before promoting
    gpay-envelope seal --to KEYS --sign-with KEYS       seal stdin (or -i FILE)
    gpay-envelope open --identity KEYS --from KEYS      open stdin (or -i FILE)
    gpay-envelope tls-check URL                         probe an endpoint against Google's rules

KEYS is a keyset manifest or a key file (OpenPGP armored or binary, JWK, JWK Set, PEM).
Exit codes: 0 ok, 1 invalid (an envelope, a key, a check that failed), 2 usage.
docs/rotation.md is the operator's runbook.

One module per command group (`keys`, `rotate`, `envelope`, `demo`); each adds its parsers
and formats what the library returns. This module assembles the parser and maps errors to
exit codes: a usage error or a refused envelope is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import BinaryIO, NoReturn, TextIO

from .. import __version__
from ..errors import EnvelopeError
from . import demo, envelope, keys, rotate
from ._common import EXIT_INVALID, EXIT_USAGE, Ctx, UsageError, add_command, examples
from .tls import add_tls_check_arguments, run_tls_check

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with a usage mistake as one line on stderr (the usage is one --help away);
    its subcommands are made of the same class."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = _Parser(
        prog="gpay-envelope",
        description="Seal and open Google Pay partner-API envelopes (PGP, JWE); manage and "
        "rotate their keys.",
        epilog="Exit codes: 0 ok, 1 invalid (envelope, key, failed check), 2 usage.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo.add_parser(sub)
    rotate.add_parsers(keys.add_parser(sub))
    envelope.add_parsers(sub)
    tls = add_command(
        sub,
        "tls-check",
        help="check an HTTPS endpoint against Google Pay's transport rules (T1-T4)",
        description="Connect to an HTTPS endpoint and check it against Google Pay's transport "
        "rules (TLS version, cipher suites, certificate chain and name; T1-T4 in "
        "docs/tls.md); exit 1 when a rule is not met.",
        epilog=examples(
            "gpay-envelope tls-check https://pay.example.com",
            "gpay-envelope tls-check localhost:8443 --cafile test-ca.pem --servername pay.local",
        ),
    )
    add_tls_check_arguments(tls)
    tls.set_defaults(run=lambda args, ctx: run_tls_check(args))
    return p


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: BinaryIO | None = None,
) -> int:
    """Run the command line; return the exit code (0 ok, 1 invalid, 2 usage).

    ``out``/``err`` replace stdout/stderr and ``stdin`` the binary standard input (tests).
    """
    ctx = Ctx(out=out or sys.stdout, err=err or sys.stderr, stdin=stdin)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    try:
        code: int = args.run(args, ctx)
    except UsageError as exc:
        ctx.err.write(f"gpay-envelope: error: {exc}\n")
        return EXIT_USAGE
    except EnvelopeError as exc:
        ctx.err.write(f"gpay-envelope: {exc}\n")
        return EXIT_INVALID
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        ctx.err.write(f"gpay-envelope: {where}{exc.strerror or exc}\n")
        return EXIT_INVALID
    except UnicodeError as exc:  # its arguments hold the bytes: name the type only
        ctx.err.write(f"gpay-envelope: error: {type(exc).__name__} in the input\n")
        return EXIT_USAGE
    except (TypeError, ValueError) as exc:  # the library's answer to a misuse
        ctx.err.write(f"gpay-envelope: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        ctx.err.write("gpay-envelope: interrupted\n")
        return 130
    return code
