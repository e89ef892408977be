"""``keys rotate MANIFEST add|promote|disable|enable|remove`` and ``keys verify-rotation``.

Each rotation step is one atomic manifest edit (`gpay_envelope.manifest`); verify-rotation
formats what `gpay_envelope.keystore.rotation.verify_rotation` finds.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

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
    add_command,
    add_passphrase_options,
    examples,
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


def _added_hint(key: Key, primary: str) -> str:
    """What a key just added does now, by what it can do and the half held."""
    if key.status is KeyStatus.DISABLED:
        return f"{key.kid} added DISABLED: it does nothing until enabled."
    if key.can("enc") and key.has_secret:
        return f"{key.kid} added; it opens envelopes now, sealing still uses {primary}."
    if key.can("sig") and key.has_secret:
        return f"{key.kid} added; signing still uses {primary} until {key.kid} is promoted."
    return f"{key.kid} added; signatures by it are accepted now."


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
        refuse_expired_at=None if args.force else ctx.now,
    )
    kid = next(k for k in ks.kids if k not in before)
    return ks, (
        f"{_added_hint(ks.get(kid), ks.primary.kid)}\n"
        f"next: gpay-envelope keys verify-rotation {manifest} {kid}\n"
    )


def _promote(manifest: Path, args: argparse.Namespace, ctx: Ctx) -> tuple[KeySet, str]:
    old = load_manifest(manifest).primary.kid
    ks = promote_key(manifest, args.kid, now=ctx.now)
    kid = ks.primary.kid
    if kid == old:
        return ks, f"{kid} was the primary already; nothing changed.\n"
    return ks, (
        f"{kid} is the primary: sealing uses it now; the other keys still open.\n"
        f"Keep {old} ENABLED until Google no longer uses it (watch which key opens\n"
        f"Google's messages), then: gpay-envelope keys rotate {manifest} disable {old}\n"
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


def _state_json(manifest: Path, ks: KeySet, now: datetime) -> list[dict[str, Any]]:
    """The manifest's keys after a change, as `print_manifest_state` shows them."""
    files = {e.kid: e.file for e in read_manifest(manifest).keys}
    return [
        {
            "kid": k.kid,
            "status": "primary" if k is ks.primary else k.status.value,
            "file": files.get(k.kid),
            "expires": k.not_after.isoformat() if k.not_after else None,
            "expired": k.not_after is not None and k.not_after <= now,
        }
        for k in ks.primary_first()
    ]


def _cmd_rotate(args: argparse.Namespace, ctx: Ctx) -> int:
    manifest = Path(args.manifest)
    ks, hint = _STEPS[args.action](manifest, args, ctx)
    if args.json:
        doc = {
            "manifest": str(manifest),
            "step": args.action,
            "codec": ks.codec,
            "primary": ks.primary.kid,
            "keys": _state_json(manifest, ks, ctx.now),
            "hint": hint.strip().splitlines(),
        }
        ctx.out.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK
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
    report = verify_rotation(
        ks,
        kid,
        public=public,
        public_label=str(args.public),
        now=ctx.now,
        warn_days=args.warn_days,
    )
    if args.json:
        doc = {
            "manifest": str(manifest),
            "kid": kid,
            "codec": ks.codec,
            "ok": report.ok,
            "steps": [
                {"step": step, "result": result, "detail": detail}
                for step, result, detail in _report_rows(report)
            ],
        }
        ctx.out.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK if report.ok else EXIT_INVALID
    ctx.out.write(
        f"verifying {kid} from {manifest} ({ks.codec}); a throwaway key stands in for Google\n"
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
_ROTATE_DESCRIPTION = (
    "One rotation step on a keyset manifest. Each step loads the manifest, checks the result "
    "as a key set, and only then renames the new manifest over the old one, holding the "
    "folder's edit lock, so that two edits at once take turns and neither is lost. "
    "The runbook: add, verify-rotation, promote, disable, remove (docs/rotation.md)."
)
_STEP_HELP = {
    "promote": "make KID the primary (it must be valid now)",
    "disable": "KID neither seals nor opens any more",
    "enable": "undo disable",
    "remove": "drop KID from the manifest (disable it first)",
}


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _add_rotate(commands: Commands) -> None:
    m = "partner.keyset.json"
    rot = add_command(
        commands,
        "rotate",
        help="one rotation step on a manifest: add, promote, disable, enable, remove",
        description=_ROTATE_DESCRIPTION,
        epilog=examples(
            f"gpay-envelope keys rotate {m} add partner-2027-01-05.secret.asc "
            "--passphrase-env GPAY_PASSPHRASE",
            f"gpay-envelope keys verify-rotation {m}",
            f"gpay-envelope keys rotate {m} promote 3247F36D28BED86D",
            f"gpay-envelope keys rotate {m} disable 9A1C0E7B55D2F4A8",
            f"gpay-envelope keys rotate {m} remove 9A1C0E7B55D2F4A8",
            f"gpay-envelope keys rotate {m} promote 3247F36D28BED86D --json",
        ),
    )
    rot.add_argument("manifest", metavar="MANIFEST", help="the keyset manifest to edit")
    actions = rot.add_subparsers(dest="action", required=True, metavar="STEP")
    add = add_command(
        actions,
        "add",
        help="add a key (ENABLED, not primary)",
        description="Add a key to the manifest, ENABLED (or --disabled) and not the primary. "
        "An expired key is refused unless --force.",
        epilog=examples(
            f"gpay-envelope keys rotate {m} add partner-2027-01-05.secret.asc",
            "gpay-envelope keys rotate enc.keyset.json add partner-2027-01-05-enc.secret.jwks.json",
            f"gpay-envelope keys rotate {m} add new.public.asc --pkcs11 'pkcs11:token=pay;"
            "object=k2' --pin-env PIN",
        ),
    )
    add.add_argument(
        "key_file",
        metavar="KEYFILE",
        help="the key file (its secret half, for "
        "your own keys; the public half of a token key with --pkcs11)",
    )
    add.add_argument("--kid", help="which key of the file")
    add.add_argument("--disabled", action="store_true", help="add it DISABLED")
    add.add_argument("--use", choices=("enc", "sig"), help="use of a PEM key")
    add.add_argument("--force", action="store_true", help="add it even if it has expired")
    _add_json(add)
    add_passphrase_options(add, "the key's passphrase (the manifest stores the reference)")
    add.add_argument("--pkcs11", metavar="URI", help="KEYFILE is the public half of this token key")
    pin = add.add_mutually_exclusive_group()
    pin.add_argument("--pin-env", metavar="VAR", help="environment variable holding the PIN")
    pin.add_argument("--pin-file", metavar="FILE", help="file holding the PIN")
    for name, text in _STEP_HELP.items():
        p = add_command(
            actions,
            name,
            help=text,
            description=f"{text[0].upper()}{text[1:]}.",
            epilog=examples(f"gpay-envelope keys rotate {m} {name} 3247F36D28BED86D"),
        )
        p.add_argument("kid", metavar="KID", help="kid, or a unique OpenPGP fingerprint suffix")
        if name == "remove":
            p.add_argument("--force", action="store_true", help="remove an ENABLED key")
        _add_json(p)
    rot.set_defaults(run=_cmd_rotate)


def _add_verify(commands: Commands) -> None:
    ver = add_command(
        commands,
        "verify-rotation",
        help="prove a new key works before it becomes primary",
        description="Seal to the key's public half and open with the manifest; sign with the "
        "set as it will be once the key is primary and verify with the public half; check the "
        "current primary still works. A throwaway key stands in for Google. Exit 1 when a "
        "step fails.",
        epilog=examples(
            "gpay-envelope keys verify-rotation partner.keyset.json",
            "gpay-envelope keys verify-rotation partner.keyset.json 3247F36D28BED86D "
            "--public partner-2027-01-05.public.asc",
            "gpay-envelope keys verify-rotation enc.keyset.json --json",
        ),
    )
    ver.add_argument("manifest", metavar="MANIFEST", help="the keyset manifest holding the key")
    ver.add_argument("kid", metavar="KID", nargs="?", help="default: the one non-primary key")
    ver.add_argument("--public", metavar="FILE", help="the public key file you send to Google")
    ver.add_argument("--warn-days", type=int, default=30, help="expiry window (30)")
    _add_json(ver)
    ver.set_defaults(run=_cmd_verify)


def add_parsers(commands: Commands) -> None:
    """Add ``rotate`` and ``verify-rotation`` to the ``keys`` group's ``commands``."""
    _add_rotate(commands)
    _add_verify(commands)
