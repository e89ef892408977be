"""``seal`` and ``open``: one envelope, from stdin or a file, to stdout or a file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .._api import open_detailed, seal
from .._keys import KeySet
from ..codecs import DEFAULT_LIMITS
from ..errors import KeySetError
from ..keystore import load_keyset
from ..keystore.rotation import for_purpose
from ._common import (
    EXIT_OK,
    Commands,
    Ctx,
    UsageError,
    add_passphrase_options,
    passphrase,
    write_new,
)


def _role_keyset(
    paths: Sequence[str], args: argparse.Namespace, *, purpose: str, label: str
) -> KeySet:
    """The keys of every file in ``paths`` (one codec), those fit for ``purpose``."""
    secret = passphrase(args)
    sets = [load_keyset(p, passphrase=secret, codec=args.codec) for p in paths]
    codecs = {s.codec for s in sets}
    if len(codecs) > 1:
        raise KeySetError(f"{label}: keys of several codecs {sorted(codecs)}")
    merged = sets[0]
    if len(sets) > 1:
        merged = KeySet([k for s in sets for k in s], primary=sets[0].primary.kid)
    return for_purpose(merged, purpose, label=label)


def _read_input(ctx: Ctx, path: str | None, limit: int) -> bytes:
    """Up to one byte over ``limit``, so that the codec sees an input is too long."""
    if path is None or path == "-":
        stream = ctx.stdin if ctx.stdin is not None else sys.stdin.buffer
        return stream.read(limit + 1)
    with open(path, "rb") as fh:
        return fh.read(limit + 1)


def _write_output(ctx: Ctx, path: str | None, data: bytes, mode: int) -> None:
    if path is None or path == "-":
        buffer = getattr(ctx.out, "buffer", None)
        if buffer is not None:
            ctx.out.flush()
            buffer.write(data)
            buffer.flush()
        else:
            ctx.out.write(data.decode("utf-8", "replace"))
        return
    write_new(Path(path), data, mode, force=True)


def _cmd_seal(args: argparse.Namespace, ctx: Ctx) -> int:
    if not args.sign_with and not args.allow_unsigned:
        raise UsageError("--sign-with is required (or --allow-unsigned for legacy JWE)")
    recipients = _role_keyset(args.to, args, purpose="enc", label="--to")
    signer = (
        _role_keyset(args.sign_with, args, purpose="sig", label="--sign-with")
        if args.sign_with
        else None
    )
    data = _read_input(ctx, args.input, DEFAULT_LIMITS.max_plaintext)
    envelope = seal(
        data,
        recipients=recipients,
        signer=signer,
        codec=args.codec or recipients.codec,
        profile=args.profile,
        allow_unsigned=args.allow_unsigned,
    )
    _write_output(ctx, args.output, envelope, 0o644)
    return EXIT_OK


def _cmd_open(args: argparse.Namespace, ctx: Ctx) -> int:
    if not args.sender and not args.allow_unsigned:
        raise UsageError("--from is required (or --allow-unsigned for legacy JWE)")
    identities = _role_keyset(args.identity, args, purpose="enc", label="--identity")
    senders = (
        _role_keyset(args.sender, args, purpose="sig", label="--from") if args.sender else None
    )
    data = _read_input(ctx, args.input, DEFAULT_LIMITS.max_envelope)
    result = open_detailed(
        data,
        identities=identities,
        senders=senders,
        codec=args.codec,
        allow_unsigned=args.allow_unsigned,
    )
    _write_output(ctx, args.output, result.plaintext, 0o600)
    if args.verbose:
        signers = ", ".join(result.verified_by) or "nobody (unsigned)"
        ctx.err.write(
            f"opened: decrypted with {result.decrypted_with}; signed by {signers}; "
            f"{' '.join(result.algorithms)}\n"
        )
    return EXIT_OK


def _add_common(commands: Commands, name: str, help_text: str) -> argparse.ArgumentParser:
    """The options ``seal`` and ``open`` share."""
    sp = commands.add_parser(name, help=help_text)
    sp.add_argument("--codec", choices=("pgp", "jwe"), help="default: the keys' codec")
    sp.add_argument("-i", "--in", dest="input", metavar="FILE", help="input (default stdin)")
    sp.add_argument("-o", "--out", dest="output", metavar="FILE", help="output (default stdout)")
    sp.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="legacy unsigned JWE only (see docs/security.md)",
    )
    add_passphrase_options(sp, "the passphrase of a protected key file")
    return sp


def add_parsers(sub: Commands) -> None:
    """Add the ``seal`` and ``open`` commands."""
    sp = _add_common(sub, "seal", "seal a payload (stdin or -i)")
    sp.add_argument(
        "--to", action="append", required=True, metavar="KEYS", help="peer's public keys"
    )
    sp.add_argument("--sign-with", action="append", metavar="KEYS", help="your signing keys")
    sp.add_argument("--profile", help="codec profile (jwe: signed, legacy, legacy-a128)")
    sp.set_defaults(run=_cmd_seal)

    op = _add_common(sub, "open", "open an envelope")
    op.add_argument("--identity", action="append", required=True, metavar="KEYS", help="your keys")
    op.add_argument("--from", dest="sender", action="append", metavar="KEYS", help="peer's keys")
    op.add_argument(
        "-v", "--verbose", action="store_true", help="say which keys opened it (stderr)"
    )
    op.set_defaults(run=_cmd_open)
