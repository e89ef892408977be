"""``keys rotate MANIFEST add|promote|disable|enable|remove`` and ``keys verify-rotation``.

Each rotation step is one atomic manifest edit (`gpay_envelope.manifest`); verify-rotation
formats what `gpay_envelope.keystore.rotation.verify_rotation` finds.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from .._keys import Key, KeySet, KeyStatus
from ..keystore import (
    PassphraseRef,
    add_key,
    load_manifest,
    promote_key,
    read_key_file,
    read_manifest,
    remove_key,
    resolve_kid,
    set_key_status,
)
from ..keystore.rotation import RotationReport, rotation_candidates, verify_rotation
from ._common import (
    EXIT_INVALID,
    EXIT_OK,
    Commands,
    Ctx,
    UsageError,
    add_passphrase_options,
    passphrase_ref,
    print_manifest_state,
    rows_table,
)

#: A rotation step: the manifest and the arguments in, the new set and the hint to print out.
_Step = Callable[[Path, argparse.Namespace, Ctx], tuple[KeySet, str]]


# -- keys rotate ----------------------------------------------------------------------------
def _pin_ref(args: argparse.Namespace, base: Path) -> PassphraseRef | None:
    """--pin-env / --pin-file as the manifest's reference (a file relative to ``base``)."""
    if bool(args.pkcs11) != bool(args.pin_env or args.pin_file):
        raise UsageError("--pkcs11 URI goes with --pin-env VAR or --pin-file FILE (the PIN)")
    pin = argparse.Namespace(passphrase_env=args.pin_env, passphrase_file=args.pin_file)
    return passphrase_ref(pin, base)


def _add(manifest: Path, args: argparse.Namespace, ctx: Ctx) -> tuple[KeySet, str]:
    before = load_manifest(manifest)
    ks = add_key(
        manifest,
        args.key_file,
        kid=args.kid,
        status=KeyStatus.DISABLED if args.disabled else KeyStatus.ENABLED,
        passphrase=passphrase_ref(args, manifest.parent),
        use=args.use,
        pkcs11=args.pkcs11,
        pin=_pin_ref(args, manifest.parent),
    )
    kid = next(k for k in ks.kids if k not in before)
    return ks, (
        f"{kid} added; it opens envelopes now, sealing still uses {ks.primary.kid}.\n"
        f"next: gpay-envelope keys verify-rotation {manifest} {kid}\n"
    )


def _promote(manifest: Path, args: argparse.Namespace, ctx: Ctx) -> tuple[KeySet, str]:
    ks = promote_key(manifest, args.kid, now=ctx.now)
    kid = ks.primary.kid
    return ks, (
        f"{kid} is the primary: sealing uses it now; the other keys still open.\n"
        "Keep the old key ENABLED until Google no longer uses it (watch which key opens\n"
        f"Google's messages), then: gpay-envelope keys rotate {manifest} disable OLD_KID\n"
    )


def _set_status(manifest: Path, args: argparse.Namespace, status: KeyStatus) -> tuple[KeySet, str]:
    ks = set_key_status(manifest, args.kid, status)
    kid = resolve_kid(ks, args.kid)
    return ks, f"{kid} is {status.value}" + (
        f"; it neither seals nor opens. Remove it when sure:\n"
        f"  gpay-envelope keys rotate {manifest} remove {kid}\n"
        if status is KeyStatus.DISABLED
        else "\n"
    )


def _disable(manifest: Path, args: argparse.Namespace, ctx: Ctx) -> tuple[KeySet, str]:
    return _set_status(manifest, args, KeyStatus.DISABLED)


def _enable(manifest: Path, args: argparse.Namespace, ctx: Ctx) -> tuple[KeySet, str]:
    return _set_status(manifest, args, KeyStatus.ENABLED)


def _remove(manifest: Path, args: argparse.Namespace, ctx: Ctx) -> tuple[KeySet, str]:
    before_manifest = read_manifest(manifest)
    before = load_manifest(manifest)
    kid = resolve_kid(before, args.kid)
    file = next((e.file for e in before_manifest.keys if e.kid == kid), None)
    ks = remove_key(manifest, kid, force=args.force)
    return ks, (
        f"{kid} removed from the manifest. Its key file {file or ''} is left in place:\n"
        "destroy the secret key once your retention rules allow.\n"
    )


_STEPS: dict[str, _Step] = {
    "add": _add,
    "promote": _promote,
    "disable": _disable,
    "enable": _enable,
    "remove": _remove,
}


def _cmd_rotate(args: argparse.Namespace, ctx: Ctx) -> int:
    manifest = Path(args.manifest)
    ks, hint = _STEPS[args.action](manifest, args, ctx)
    ctx.out.write(f"{manifest}: {args.action} done\n")
    print_manifest_state(ctx, manifest, ks)
    ctx.out.write(hint)
    return EXIT_OK


# -- keys verify-rotation -------------------------------------------------------------------
def _kid_to_verify(ks: KeySet, text: str | None) -> str:
    """The KID argument, else the one key of the manifest that can be the new key."""
    if text:
        return resolve_kid(ks, text)
    candidates = rotation_candidates(ks)
    if len(candidates) != 1:
        raise UsageError(
            "name the key to verify (KID): "
            + ("no new key in the manifest" if not candidates else "several candidates")
        )
    return candidates[0]


def _public_key(file: str, codec: str, kid: str) -> Key:
    """The public half of ``kid`` in ``file``, else its first key's (a step then fails)."""
    keys = read_key_file(file, codec=codec)
    return next((k.public() for k in keys if k.kid == kid), keys[0].public())


def _report_rows(report: RotationReport) -> list[list[str]]:
    """The report as rows of (step, result, detail), the result "ok", "FAILED" or "n/a"."""
    return [
        [
            step.name,
            "n/a" if step.passed is None else ("ok" if step.passed else "FAILED"),
            step.detail,
        ]
        for step in report.steps
    ]


def _cmd_verify(args: argparse.Namespace, ctx: Ctx) -> int:
    manifest = Path(args.manifest)
    ks = load_manifest(manifest)
    kid = _kid_to_verify(ks, args.kid)
    public = _public_key(args.public, ks.codec, kid) if args.public else None
    ctx.out.write(
        f"verifying {kid} from {manifest} ({ks.codec}); a throwaway key stands in for Google\n"
    )
    report = verify_rotation(
        ks,
        kid,
        public=public,
        public_label=str(args.public),
        now=ctx.now,
        warn_days=args.warn_days,
    )
    rows_table([["step", "result", "detail"], *_report_rows(report)], ctx.out)
    if report.ok:
        ctx.out.write(
            f"\n{kid} works in every direction it is used for. Next: send its public key to "
            "Google,\nconfirm with an end-to-end call in the sandbox, then:\n"
            f"  gpay-envelope keys rotate {manifest} promote {kid}\n"
        )
        return EXIT_OK
    ctx.out.write(f"\n{kid} is NOT verified: do not send it to Google or promote it.\n")
    return EXIT_INVALID


# -- the parsers ----------------------------------------------------------------------------
def _add_rotate(commands: Commands) -> None:
    rot = commands.add_parser(
        "rotate",
        help="one rotation step on a manifest: add, promote, disable, enable, remove",
        description="Edit a manifest atomically; the result is validated before it is written.",
    )
    rot.add_argument("manifest", metavar="MANIFEST")
    actions = rot.add_subparsers(dest="action", required=True, metavar="STEP")
    add = actions.add_parser("add", help="add a key (ENABLED, not primary)")
    add.add_argument("key_file", metavar="KEYFILE")
    add.add_argument("--kid", help="which key of the file")
    add.add_argument("--disabled", action="store_true", help="add it DISABLED")
    add.add_argument("--use", choices=("enc", "sig"), help="use of a PEM key")
    add_passphrase_options(add, "the key's passphrase (the manifest stores the reference)")
    add.add_argument("--pkcs11", metavar="URI", help="KEYFILE is the public half of this token key")
    pin = add.add_mutually_exclusive_group()
    pin.add_argument("--pin-env", metavar="VAR", help="environment variable holding the PIN")
    pin.add_argument("--pin-file", metavar="FILE", help="file holding the PIN")
    for name, text in (
        ("promote", "make KID the primary (it must be valid now)"),
        ("disable", "KID neither seals nor opens any more"),
        ("enable", "undo disable"),
        ("remove", "drop KID from the manifest (disable it first)"),
    ):
        p = actions.add_parser(name, help=text)
        p.add_argument("kid", metavar="KID", help="kid, or a unique OpenPGP fingerprint suffix")
        if name == "remove":
            p.add_argument("--force", action="store_true", help="remove an ENABLED key")
    rot.set_defaults(run=_cmd_rotate)


def _add_verify(commands: Commands) -> None:
    ver = commands.add_parser(
        "verify-rotation",
        help="prove a new key works before it becomes primary",
        description="Seal to the key's public half and open with the manifest; sign with the "
        "set as it will be once the key is primary and verify with the public half; check the "
        "current primary still works. A throwaway key stands in for Google.",
    )
    ver.add_argument("manifest", metavar="MANIFEST")
    ver.add_argument("kid", metavar="KID", nargs="?", help="default: the one non-primary key")
    ver.add_argument("--public", metavar="FILE", help="the public key file you send to Google")
    ver.add_argument("--warn-days", type=int, default=30, help="expiry window (30)")
    ver.set_defaults(run=_cmd_verify)


def add_parsers(commands: Commands) -> None:
    """Add ``rotate`` and ``verify-rotation`` to the ``keys`` group's ``commands``."""
    _add_rotate(commands)
    _add_verify(commands)
