"""``keys generate``, ``keys list``, ``keys show``, ``keys check`` and ``keys init``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .._keys import Key
from .._policy import DEFAULT_LIFETIME, DEFAULT_RSA_BITS, GENERATE_RSA_BITS, MAX_LIFETIME_DAYS
from ..keystore import KeyInfo, describe_key, init_manifest
from ._check import cmd_check
from ._check import sources as load_sources
from ._common import (
    EXIT_INVALID,
    EXIT_OK,
    Command,
    Commands,
    Ctx,
    Output,
    UsageError,
    add_command,
    add_passphrase_options,
    at,
    date,
    days,
    examples,
    expiry_cell,
    passphrase,
    passphrase_ref,
    print_manifest_state,
    refuse_existing,
    rows_table,
    write_all,
)
from ._inspect import Source, thumbprint_kids
from ._newkeys import (
    SECRET_MODE,
    jwe_outputs,
    jwe_paths,
    pgp_outputs,
    pgp_paths,
    token_entry_text,
    token_outputs,
)
from .usage import add_usage_option


# -- keys generate --------------------------------------------------------------------------
def _check_generate_args(args: argparse.Namespace) -> None:
    """The option combinations argparse cannot express."""
    if args.codec == "pgp":
        if not args.uid:
            raise UsageError("--uid is required with --codec pgp (e.g. 'Example <k@example.com>')")
        if args.use != "both" or args.kid or args.legacy:
            raise UsageError("--use, --kid and --legacy are for --codec jwe")
    elif args.passphrase_env or args.passphrase_file:
        raise UsageError(
            "JWK files carry no encryption; protect JWE secret files with their 0600 mode and "
            "your secret store"
        )
    elif args.kid and args.use == "both":
        raise UsageError("--kid names one key; give --use enc or --use sig with it")
    if bool(args.pkcs11) != bool(args.pin_env or args.pin_file):
        raise UsageError("--pkcs11 URI goes with --pin-env VAR or --pin-file FILE (the PIN)")
    if args.pkcs11 and (args.passphrase_env or args.passphrase_file):
        raise UsageError("a token key has no secret file to protect with a passphrase")


def _uses(args: argparse.Namespace) -> tuple[str, ...]:
    return ("enc", "sig") if args.use == "both" else (args.use,)


def _generate_outputs(
    args: argparse.Namespace, folder: Path, name: str, now: datetime
) -> tuple[list[Key], list[Output]]:
    """The new keys and their files (not yet written)."""
    if args.pkcs11:
        return token_outputs(
            folder,
            name,
            codec=args.codec,
            uri=args.pkcs11,
            uid=args.uid,
            uses=_uses(args),
            kid=args.kid,
            bits=args.bits,
            days=args.days,
            legacy=args.legacy,
            pin_env=args.pin_env,
            pin_file=args.pin_file,
        )
    if args.codec == "pgp":
        key, outputs = pgp_outputs(
            folder,
            name,
            uid=args.uid,
            bits=args.bits,
            days=args.days,
            passphrase=passphrase(args),
        )
        return [key], outputs
    return jwe_outputs(
        folder,
        name,
        uses=_uses(args),
        kid=args.kid,
        bits=args.bits,
        days=args.days,
        legacy=args.legacy,
        now=now,
    )


def _print_generated(ctx: Ctx, keys: Sequence[Key], outputs: Sequence[Output]) -> None:
    """A line per key, then the table of the files written."""
    for key in keys:
        info = describe_key(key)
        if info.codec == "pgp":
            subs = ", ".join(p.key_id for p in info.parts if p.role == "subkey")
            what = f"certify+sign primary, encryption subkey {subs}"
        else:
            what = f"{key.use}, {', '.join(sorted(key.algorithms))}"
        ctx.out.write(
            f"generated {info.codec.upper()} key {info.kid} (RSA-{info.size}; {what}; "
            f"expires {date(info.expires)})\n"
        )
    rows_table(
        [["file", "mode", "what"]] + [[str(o.path), f"{o.mode:04o}", o.what] for o in outputs],
        ctx.out,
    )


def _print_next_steps(ctx: Ctx, outputs: Sequence[Output]) -> None:
    """The runbook's next commands for the secret files just written."""
    out = ctx.out
    secrets = [o.path for o in outputs if o.mode == SECRET_MODE]
    out.write("\nnext (docs/rotation.md): put the secret key in a keyset manifest,\n")
    for path, manifest in zip(
        secrets,
        ["MANIFEST"] if len(secrets) == 1 else ["ENC_MANIFEST", "SIG_MANIFEST"],
        strict=True,
    ):
        out.write(
            f"  gpay-envelope keys init {manifest} {path}        (first key), or\n"
            f"  gpay-envelope keys rotate {manifest} add {path}  (rotation);\n"
        )
    out.write(
        "then `keys verify-rotation`, then send the public file to Google. Sandbox and\n"
        "production are separate exchanges: generate separate keys for each.\n"
    )


def _cmd_generate(args: argparse.Namespace, ctx: Ctx) -> int:
    folder = Path(args.out_dir)
    name = args.name or f"partner-{ctx.now:%Y-%m-%d}"
    if "/" in name or name.startswith("."):
        raise UsageError("--name is a file name stem, not a path")
    _check_generate_args(args)
    if not args.force:  # before the slow part
        if args.codec == "pgp":
            refuse_existing(pgp_paths(folder, name))
        else:
            refuse_existing(jwe_paths(folder, name, uses=_uses(args), kid=args.kid))
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
    keys, outputs = _generate_outputs(args, folder, name, ctx.now)
    write_all(outputs, force=args.force)
    _print_generated(ctx, keys, outputs)
    if args.pkcs11:
        ctx.out.write(token_entry_text(outputs[-1].path, args.pkcs11, args.pin_env, args.pin_file))
    else:
        _print_next_steps(ctx, outputs)
    return EXIT_OK


# -- keys list / show -----------------------------------------------------------------------
def _exit_code(sources: Sequence[Source]) -> int:
    return EXIT_INVALID if any(s.error for s in sources) else EXIT_OK


def _status_cell(info: KeyInfo) -> str:
    if info.primary:
        return "primary"
    return info.status.value


def _usage_cell(info: KeyInfo) -> str:
    if info.codec == "pgp":
        short = {"certify": "C", "sign": "S", "encrypt": "E"}
        return "/".join(
            "".join(short[u] for u in p.usages) or "-" for p in info.parts if not p.revoked
        )
    return "+".join({"encrypt": "enc", "sign": "sig"}[u] for u in info.usages)


def _list_json(sources: Sequence[Source]) -> list[dict[str, Any]]:
    return [
        {
            "file": str(s.path),
            "manifest": s.manifest,
            "environment": s.environment,
            "error": s.error,
            "warnings": [f.to_json() for f in s.notes],
            "keys": [dict(i.to_json(), file=s.files.get(i.kid)) for i in s.infos()],
        }
        for s in sources
    ]


def _list_rows(sources: Sequence[Source], when: datetime) -> list[list[str]]:
    rows = [["file", "kid", "codec", "key", "use", "status", "half", "created", "expires"]]
    for s in sources:
        if s.error is not None:
            rows.append([str(s.path), f"ERROR: {s.error}", "", "", "", "", "", "", ""])
        for i in s.infos():
            rows.append(
                [
                    s.files.get(i.kid, str(s.path)) if s.manifest else str(s.path),
                    i.kid,
                    i.codec,
                    f"{i.kty}-{i.size}",
                    _usage_cell(i),
                    _status_cell(i),
                    "secret" if i.secret else "public",
                    date(i.created) if i.created else "-",
                    expiry_cell(i.expires, when),
                ]
            )
    return rows


def _warn_notes(ctx: Ctx, sources: Sequence[Source]) -> None:
    """The notes about the keys' kids, one line each on stderr (stdout stays the table)."""
    for s in sources:
        for f in s.notes:
            ctx.err.write(f"warning: {f.kid}: {f.message}\n")


def _cmd_list(args: argparse.Namespace, ctx: Ctx) -> int:
    sources = load_sources(args)
    if args.json:
        ctx.out.write(json.dumps(_list_json(sources), indent=2) + "\n")
    else:
        rows_table(_list_rows(sources, args.at or ctx.now), ctx.out)
        _warn_notes(ctx, sources)
    return _exit_code(sources)


def _show_key(ctx: Ctx, s: Source, i: KeyInfo, when: datetime) -> None:
    out = ctx.out
    out.write(f"  key {i.kid}\n")
    fields = [
        ("file", s.files.get(i.kid, "")),
        ("codec", i.codec),
        ("key", f"{i.kty}-{i.size}"),
        ("usages", ", ".join(i.usages)),
        ("algorithms", ", ".join(i.algorithms)),
        ("status", _status_cell(i)),
        ("private half", "yes" if i.secret else "no"),
        ("created", date(i.created) if i.created else "unknown"),
        ("expires", expiry_cell(i.expires, when)),
    ]
    if i.thumbprint:
        fields.append(("JWK thumbprint", i.thumbprint))
    fields.extend(("user id", u) for u in i.user_ids)
    for name, value in fields:
        out.write(f"    {name + ':':<16}{value}\n")
    for p in i.parts:
        flags = ", ".join(p.usages) or "none"
        state = " REVOKED" if p.revoked else ""
        out.write(
            f"    {p.role:<8}{p.fingerprint}  RSA-{p.size}  {flags}  created "
            f"{date(p.created)}  expires {expiry_cell(p.expires, when)}{state}\n"
        )


def _cmd_show(args: argparse.Namespace, ctx: Ctx) -> int:
    if args.json:
        return _cmd_list(args, ctx)
    sources = load_sources(args)
    when = args.at or ctx.now
    for s in sources:
        env = f", {s.environment}" if s.environment else ""
        ctx.out.write(f"{s.path} ({s.kind}{env})\n")
        if s.error is not None:
            ctx.out.write(f"  ERROR: {s.error}\n")
            continue
        for i in s.infos():
            _show_key(ctx, s, i, when)
    _warn_notes(ctx, sources)
    return _exit_code(sources)


# -- keys init ------------------------------------------------------------------------------
def _cmd_init(args: argparse.Namespace, ctx: Ctx) -> int:
    manifest = Path(args.manifest)
    ks = init_manifest(
        manifest,
        args.key_file,
        kid=args.kid,
        environment=args.environment,
        passphrase=passphrase_ref(args, manifest.parent),
        use=args.use,
        force=args.force,
        refuse_expired_at=None if args.force else ctx.now,
    )
    ctx.out.write(f"created {manifest} ({ks.codec}) with primary {ks.primary.kid}\n")
    print_manifest_state(ctx, manifest, ks)
    for f in thumbprint_kids(Path(args.key_file), list(ks)):
        ctx.err.write(f"warning: {f.kid}: {f.message}\n")
    return EXIT_OK


# -- the parsers ----------------------------------------------------------------------------
_GENERATE_HELP = "new keys that meet Google's rules, written with safe permissions"
_GENERATE_DESCRIPTION = (
    "Generate keys: secret files 0600 (never overwritten without --force), public files 0644 "
    "ready to send to Google. OpenPGP: an RSA certify+sign primary key with an RSA encryption "
    "subkey, NAME.secret.asc and NAME.public.asc. JWE: an RSA encryption key and an RSA "
    "signing key (--use), a JWK Set per secret key (NAME-enc.secret.jwks.json, "
    "NAME-sig.secret.jwks.json) and one public JWK Set (NAME.public.jwks.json)."
)
_GENERATE_EXAMPLES = examples(
    "gpay-envelope keys generate --codec pgp --uid 'Example Pay <keys@example.com>' "
    "--out-dir keys --passphrase-env GPAY_PASSPHRASE",
    "gpay-envelope keys generate --codec jwe --out-dir keys --name partner-sandbox",
    "gpay-envelope keys generate --codec jwe --use enc --legacy --days 180",
)


def _add_generate(commands: Commands) -> None:
    gen = add_command(
        commands,
        "generate",
        help=_GENERATE_HELP,
        description=_GENERATE_DESCRIPTION,
        epilog=_GENERATE_EXAMPLES,
    )
    gen.add_argument("--codec", choices=("pgp", "jwe"), required=True)
    gen.add_argument(
        "--bits",
        type=int,
        choices=GENERATE_RSA_BITS,
        default=DEFAULT_RSA_BITS,
        help=f"RSA size ({DEFAULT_RSA_BITS})",
    )
    gen.add_argument(
        "--days",
        type=days,
        default=DEFAULT_LIFETIME.days,
        help=f"lifetime in days ({DEFAULT_LIFETIME.days}; at most {MAX_LIFETIME_DAYS})",
    )
    gen.add_argument("--out-dir", default=".", help="folder for the files (created 0700)")
    gen.add_argument("--name", help="file name stem (default partner-YYYY-MM-DD)")
    gen.add_argument("--uid", help="OpenPGP user id, e.g. 'Example Pay <keys@example.com>'")
    gen.add_argument(
        "--use", choices=("enc", "sig", "both"), default="both", help="JWE: which keys (both)"
    )
    gen.add_argument("--kid", help="JWE: the key id (with --use enc or sig; default NAME-USE)")
    gen.add_argument(
        "--legacy",
        action="store_true",
        help="JWE: bind the encryption key to RSA1_5 (Google's older JWE text)",
    )
    gen.add_argument("--force", action="store_true", help="replace existing files")
    add_passphrase_options(gen, "a passphrase to protect the OpenPGP secret key")
    gen.add_argument(
        "--pkcs11",
        metavar="URI",
        help="make the key in this PKCS#11 token (pkcs11: URI; docs/hsm.md); "
        "only the public file is written",
    )
    pin = gen.add_mutually_exclusive_group()
    pin.add_argument("--pin-env", metavar="VAR", help="environment variable holding the PIN")
    pin.add_argument("--pin-file", metavar="FILE", help="file holding the PIN")
    gen.set_defaults(run=_cmd_generate)


_INSPECT_EXAMPLES = (
    "gpay-envelope keys {name} partner.keyset.json",
    "gpay-envelope keys {name} keys/partner-2026-12-03.public.asc google.public.jwks.json",
    "gpay-envelope keys {name} partner.keyset.json --json --at 2027-06-01",
)


def _add_inspect(
    commands: Commands, name: str, help_text: str, description: str, run: Command
) -> argparse.ArgumentParser:
    p = add_command(
        commands,
        name,
        help=help_text,
        description=description,
        epilog=examples(*(e.format(name=name) for e in _INSPECT_EXAMPLES)),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="keyset manifest or key file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--at", type=at, help="evaluate dates as of this ISO date")
    add_passphrase_options(p, "the passphrase of protected key files")
    p.set_defaults(run=run)
    return p


def _add_init(commands: Commands) -> None:
    init = add_command(
        commands,
        "init",
        help="create a keyset manifest holding one key (its primary)",
        description="Create a keyset manifest holding one key, its primary. The manifest "
        "names the key file (relative to the manifest) and where its passphrase comes from, "
        "never the passphrase. An expired key is refused, and an existing manifest kept, "
        "unless --force. A JWK without a kid gets its RFC 7638 thumbprint as its kid: a "
        "warning says so.",
        epilog=examples(
            "gpay-envelope keys init partner.keyset.json keys/partner-2026-12-03.secret.asc "
            "--passphrase-env GPAY_PASSPHRASE --environment sandbox",
            "gpay-envelope keys init enc.keyset.json keys/partner-2026-12-03-enc.secret.jwks.json",
            "gpay-envelope keys init sig.keyset.json keys/partner-sig.pem --use sig",
        ),
    )
    init.add_argument("manifest", metavar="MANIFEST", help="the manifest file to create")
    init.add_argument("key_file", metavar="KEYFILE", help="the key file of its first key")
    init.add_argument("--kid", help="which key of the file")
    init.add_argument("--environment", choices=("sandbox", "production"))
    init.add_argument("--use", choices=("enc", "sig"), help="use of a PEM key")
    init.add_argument(
        "--force", action="store_true", help="replace an existing manifest; take an expired key"
    )
    add_passphrase_options(init, "the key's passphrase (the manifest stores the reference)")
    init.set_defaults(run=_cmd_init)


_CHECK_DESCRIPTION = (
    "Check keys against Google's rules; exit 1 on an error (expired, expiring soon, no "
    "expiry, lifetime over two years, no encryption subkey, weak, invalid set) and, with "
    "--strict, on a warning (file modes, a JWK without a kid)."
)


def add_parser(sub: Commands) -> Commands:
    """Add the ``keys`` group with generate, list, show, check and init; return its command
    list, for the rotation commands (`gpay_envelope.cli.rotate`) to join."""
    keys = add_command(
        sub,
        "keys",
        help="generate, inspect, check and rotate keys (docs/rotation.md)",
        description="Key lifecycle: generate, list/show/check, init/rotate a keyset manifest, "
        "verify-rotation. See docs/rotation.md for the runbook.",
        epilog=examples(
            "gpay-envelope keys generate --codec pgp --uid 'Example Pay <keys@example.com>'",
            "gpay-envelope keys init partner.keyset.json partner-2026-12-03.secret.asc",
            "gpay-envelope keys check partner.keyset.json",
            "gpay-envelope keys COMMAND --help",
        ),
    )
    commands = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    _add_generate(commands)
    _add_inspect(
        commands,
        "list",
        "one line per key: kid, size, usages, status, expiry",
        "One line per key of each file: kid, codec, size, usages, status, which half, "
        "created, expires. Exit 1 when a file does not load.",
        _cmd_list,
    )
    _add_inspect(
        commands,
        "show",
        "everything about each key (subkeys, user ids, thumbprints)",
        "Everything about each key of each file: usages, algorithms, status, dates, OpenPGP "
        "subkeys and user ids, the JWK thumbprint.",
        _cmd_show,
    )
    check = _add_inspect(
        commands, "check", "check keys against Google's rules", _CHECK_DESCRIPTION, cmd_check
    )
    check.add_argument(
        "--warn-days", type=int, default=30, help="fail on keys expiring within N days (30)"
    )
    check.add_argument("--strict", action="store_true", help="warnings fail the check too")
    add_usage_option(check)
    _add_init(commands)
    return commands
