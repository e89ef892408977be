"""``seal`` and ``open``: one envelope, from stdin or a file, to stdout or a file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .._api import open_detailed, seal
from .._keys import KeySet
from ..codecs import DEFAULT_LIMITS
from ..codecs.jwe import PROFILES as JWE_PROFILES
from ..keystore import load_keyset
from ..keystore.rotation import for_purpose
from ._common import (
    EXIT_INVALID,
    EXIT_OK,
    Commands,
    Ctx,
    UsageError,
    add_command,
    add_passphrase_options,
    examples,
    naming_passphrase,
    passphrase,
    write_output_file,
)
from ._explain import explain

#: The OpenPGP seal profiles (`gpay_envelope.codecs.pgp.PROFILES`), named here so that the
#: help does not import the OpenPGP codec.
_PGP_PROFILES = ("default", "zip")


def _merged(
    paths: Sequence[str], args: argparse.Namespace, *, label: str, codec: str | None
) -> KeySet:
    """The keys of every file in ``paths``, as one set (the first file's primary first)."""
    secret = passphrase(args)
    sets = []
    for path in paths:
        with naming_passphrase(args, Path(path)):
            sets.append((path, load_keyset(path, passphrase=secret)))
    for path, ks in sets:
        if codec is not None and ks.codec != codec:
            raise UsageError(f"{label} {path} holds {ks.codec} keys, but the codec is {codec}")
    kinds = {ks.codec: path for path, ks in sets}
    if len(kinds) > 1:
        raise UsageError(
            f"{label}: keys of several codecs ("
            + ", ".join(f"{c} in {p}" for c, p in sorted(kinds.items()))
            + ")"
        )
    merged = sets[0][1]
    if len(sets) > 1:
        merged = KeySet([k for _, s in sets for k in s], primary=merged.primary.kid)
    return merged


def _same_codec(a: KeySet, a_label: str, b: KeySet | None, b_label: str) -> None:
    """A usage error when the two roles hold keys of different codecs."""
    if b is not None and a.codec != b.codec:
        raise UsageError(
            f"{a_label} holds {a.codec} keys but {b_label} holds {b.codec} keys; "
            "both sides of one envelope use the same codec"
        )


def _role_keyset(
    paths: Sequence[str], args: argparse.Namespace, *, purpose: str, label: str
) -> KeySet:
    """The keys of every file in ``paths`` (one codec), those fit for ``purpose``."""
    return for_purpose(_merged(paths, args, label=label, codec=args.codec), purpose, label=label)


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
    write_output_file(Path(path), data, mode)


def _cmd_seal(args: argparse.Namespace, ctx: Ctx) -> int:
    if not args.sign_with and not args.allow_unsigned:
        raise UsageError("--sign-with is required (or --allow-unsigned for legacy JWE)")
    recipients = _role_keyset(args.to, args, purpose="enc", label="--to")
    signer = (
        _role_keyset(args.sign_with, args, purpose="sig", label="--sign-with")
        if args.sign_with
        else None
    )
    _same_codec(recipients, "--to", signer, "--sign-with")
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


def _cmd_explain(args: argparse.Namespace, ctx: Ctx) -> int:
    """``open --explain``: the diagnosis on stdout, the payload never written."""
    if args.output:
        raise UsageError("--explain writes no payload: drop -o")
    identities = _merged(args.identity, args, label="--identity", codec=args.codec)
    senders = _merged(args.sender, args, label="--from", codec=args.codec) if args.sender else None
    _same_codec(identities, "--identity", senders, "--from")
    data = _read_input(ctx, args.input, DEFAULT_LIMITS.max_envelope)
    if len(data) > DEFAULT_LIMITS.max_envelope:
        ctx.out.write(f"the envelope is over {DEFAULT_LIMITS.max_envelope} bytes: refused\n")
        return EXIT_INVALID
    found = explain(
        data,
        identities=identities,
        senders=senders,
        allow_unsigned=args.allow_unsigned,
        now=ctx.now,
    )
    del data
    for line in found.lines:
        ctx.out.write(f"- {line}\n")
    return EXIT_OK if found.opens else EXIT_INVALID


def _cmd_open(args: argparse.Namespace, ctx: Ctx) -> int:
    if args.explain:
        return _cmd_explain(args, ctx)
    if not args.sender and not args.allow_unsigned:
        raise UsageError("--from is required (or --allow-unsigned for legacy JWE)")
    identities = _role_keyset(args.identity, args, purpose="enc", label="--identity")
    senders = (
        _role_keyset(args.sender, args, purpose="sig", label="--from") if args.sender else None
    )
    _same_codec(identities, "--identity", senders, "--from")
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


def _add_common(
    commands: Commands, name: str, help_text: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """The options ``seal`` and ``open`` share."""
    sp = add_command(commands, name, help=help_text, description=description, epilog=epilog)
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


_SEAL_DESCRIPTION = (
    "Seal a payload (stdin, or -i FILE) to the peer's public keys, signed with your signing "
    "keys, and write the envelope to stdout (or -o FILE). KEYS is a keyset manifest or a key "
    "file; repeat an option to give several files."
)
_OPEN_DESCRIPTION = (
    "Open an envelope (stdin, or -i FILE) with your keys, accepting only a signature by the "
    "peer's keys, and write the payload to stdout (or -o FILE, mode 0600). A refused envelope "
    "is one opaque line and exit 1; for an envelope of your own, --explain says why it does "
    "not open (docs/security.md)."
)


def add_parsers(sub: Commands) -> None:
    """Add the ``seal`` and ``open`` commands."""
    sp = _add_common(
        sub,
        "seal",
        "seal a payload (stdin or -i) to the peer's keys",
        _SEAL_DESCRIPTION,
        examples(
            "gpay-envelope seal --to google.public.asc --sign-with partner.keyset.json "
            "-i request.json -o request.pgp",
            "gpay-envelope seal --to google.public.jwks.json --sign-with sig.keyset.json "
            "< request.json > request.jwe",
            "gpay-envelope seal --to google.public.asc --sign-with partner.keyset.json "
            "--profile zip -i request.json",
        ),
    )
    sp.add_argument(
        "--to", action="append", required=True, metavar="KEYS", help="peer's public keys"
    )
    sp.add_argument("--sign-with", action="append", metavar="KEYS", help="your signing keys")
    sp.add_argument(
        "--profile",
        help=f"codec profile; pgp: {', '.join(_PGP_PROFILES)} (literal data compressed with "
        f"ZIP or not); jwe: {', '.join(JWE_PROFILES)} (first: the default)",
    )
    sp.set_defaults(run=_cmd_seal)

    op = _add_common(
        sub,
        "open",
        "open an envelope (stdin or -i) with your keys",
        _OPEN_DESCRIPTION,
        examples(
            "gpay-envelope open --identity partner.keyset.json --from google.public.asc "
            "-i response.pgp -o response.json",
            "gpay-envelope open --identity enc.keyset.json --from google.public.jwks.json "
            "-v < response.jwe",
            "# why does it not open? (your own files only; prints no payload)",
            "gpay-envelope open --explain --identity partner.keyset.json "
            "--from google.public.asc -i response.pgp",
        ),
    )
    op.add_argument("--identity", action="append", required=True, metavar="KEYS", help="your keys")
    op.add_argument("--from", dest="sender", action="append", metavar="KEYS", help="peer's keys")
    op.add_argument(
        "-v", "--verbose", action="store_true", help="say which keys opened it (stderr)"
    )
    op.add_argument(
        "--explain",
        action="store_true",
        help="say why the envelope does (not) open, stage by stage; writes no payload",
    )
    op.set_defaults(run=_cmd_open)
