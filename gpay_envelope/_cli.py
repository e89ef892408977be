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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from . import __version__
from ._api import open_detailed, seal
from ._keyio import generate_key
from ._keys import Key, KeySet, KeyStatus, utcnow
from .codecs import DEFAULT_LIMITS
from .errors import EnvelopeError, InvalidEnvelope, InvalidSignature, KeySetError
from .keystore import (
    Finding,
    KeyInfo,
    KeySetWatcher,
    PassphraseRef,
    add_key,
    check_key,
    check_keyset,
    describe_key,
    init_manifest,
    is_manifest,
    load_keyset,
    load_manifest,
    promote_key,
    read_key_file,
    read_manifest,
    remove_key,
    resolve_kid,
    set_key_status,
)
from .keystore.files import atomic_write
from .tls import add_tls_check_arguments, run_tls_check

__all__ = ["main"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
_MAX_DAYS = 730  # Google: a maximum lifetime of two years


class _UsageError(Exception):
    """A usage error found after parsing (exit 2)."""


@dataclass
class _Ctx:
    out: TextIO
    err: TextIO
    stdin: BinaryIO | None = None
    now: datetime = field(default_factory=utcnow)


# -- small helpers ------------------------------------------------------------------------
def _rows_table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        out.write("\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def _date(d: datetime | None) -> str:
    return "never" if d is None else d.strftime("%Y-%m-%d")


def _expiry_cell(d: datetime | None, now: datetime) -> str:
    if d is None:
        return "never"
    days = (d - now).days
    if d <= now:
        return f"{_date(d)} (expired)"
    return f"{_date(d)} ({days}d)"


def _at(text: str) -> datetime:
    """``--at``: an ISO date or date-time; a naive value is UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not 1 <= value <= _MAX_DAYS:
        raise argparse.ArgumentTypeError(
            f"keys must expire within 1 to {_MAX_DAYS} days (Google: one year, two at most)"
        )
    return value


def _add_passphrase_options(p: argparse.ArgumentParser, what: str) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--passphrase-env", metavar="VAR", help=f"environment variable holding {what}"
    )
    group.add_argument("--passphrase-file", metavar="FILE", help=f"file holding {what}")


def _passphrase_ref(args: argparse.Namespace, base: Path | None = None) -> PassphraseRef | None:
    """The passphrase options as a reference; a file is made relative to ``base``."""
    if getattr(args, "passphrase_env", None):
        return PassphraseRef(env=args.passphrase_env)
    if getattr(args, "passphrase_file", None):
        file = args.passphrase_file
        if base is not None:
            file = Path(os.path.relpath(os.path.abspath(file), os.path.abspath(base))).as_posix()
        return PassphraseRef(file=file)
    return None


def _passphrase(args: argparse.Namespace) -> str | None:
    ref = _passphrase_ref(args)
    return None if ref is None else ref.resolve(Path.cwd())


def _keyset_cell(ks: KeySet, names: dict[str, str] | None = None) -> str:
    return ", ".join(
        (names or {}).get(k.kid, k.kid)
        + ("*" if k.kid == ks.primary.kid else "")
        + ("" if k.status is KeyStatus.ENABLED else " (disabled)")
        for k in ks
    )


def _write_new(path: Path, data: bytes, mode: int, *, force: bool) -> None:
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


@dataclass(frozen=True)
class _Output:
    path: Path
    data: bytes = field(repr=False)
    mode: int
    what: str


def _refuse_existing(paths: Sequence[Path]) -> None:
    taken = [p for p in paths if p.exists() or p.is_symlink()]
    if taken:
        raise KeySetError(
            f"refusing to overwrite {', '.join(map(str, taken))} (use --force to replace)"
        )


def _write_all(outputs: Sequence[_Output], *, force: bool) -> None:
    """Write every output or none: existing targets are refused up front (unless ``force``),
    and files this call created are removed again when a later write fails."""
    if not force:
        _refuse_existing([o.path for o in outputs])
    done: list[Path] = []
    try:
        for o in outputs:
            _write_new(o.path, o.data, o.mode, force=force)
            done.append(o.path)
    except BaseException:
        if not force:
            for p in done:
                with contextlib.suppress(OSError):
                    p.unlink()
        raise


# -- keys generate --------------------------------------------------------------------------
def _generate_pgp(
    *, uid: str, bits: int, days: int, passphrase: str | None
) -> tuple[Key, bytes, bytes]:
    from .codecs.pgp import generate_pgp_key, key_to_pgp

    key = generate_pgp_key(uid=uid, size=bits, expires=timedelta(days=days), passphrase=passphrase)
    return key, key_to_pgp(key, include_private=True), key_to_pgp(key)


def _pgp_outputs(
    folder: Path, name: str, *, uid: str, bits: int, days: int, passphrase: str | None
) -> tuple[Key, list[_Output]]:
    key, secret, public = _generate_pgp(uid=uid, bits=bits, days=days, passphrase=passphrase)
    protection = "passphrase-protected" if passphrase else "not passphrase-protected"
    return key, [
        _Output(
            folder / f"{name}.secret.asc",
            secret,
            0o600,
            f"secret key ({protection}): stays on your servers",
        ),
        _Output(folder / f"{name}.public.asc", public, 0o644, "public key: send it to Google"),
    ]


def _jwk_json(keys: Sequence[dict[str, Any]]) -> bytes:
    return (json.dumps({"keys": list(keys)}, indent=2) + "\n").encode("ascii")


def _jwe_outputs(
    folder: Path,
    name: str,
    *,
    uses: Sequence[str],
    kid: str | None,
    bits: int,
    days: int,
    legacy: bool,
    now: datetime,
) -> tuple[list[Key], list[_Output]]:
    keys: list[Key] = []
    outputs: list[_Output] = []
    for use in uses:
        key = generate_key(
            kid=kid or f"{name}-{use}",
            use=use,
            size=bits,
            algorithms=("RSA1_5",) if legacy and use == "enc" else None,
            not_after=now + timedelta(days=days),
        ).with_validity(not_before=now.replace(microsecond=0))
        keys.append(key)
        outputs.append(
            _Output(
                folder / f"{key.kid}.secret.jwks.json",
                _jwk_json([key.to_jwk(include_private=True)]),
                0o600,
                f"secret {use} key: stays on your servers",
            )
        )
    outputs.append(
        _Output(
            folder / f"{name}.public.jwks.json",
            _jwk_json([k.to_jwk() for k in keys]),
            0o644,
            "public keys (JWK Set): send it to Google",
        )
    )
    return keys, outputs


def _cmd_generate(args: argparse.Namespace, ctx: _Ctx) -> int:
    folder = Path(args.out_dir)
    name = args.name or f"partner-{ctx.now:%Y-%m-%d}"
    if "/" in name or name.startswith("."):
        raise _UsageError("--name is a file name stem, not a path")
    if args.codec == "pgp":
        if not args.uid:
            raise _UsageError("--uid is required with --codec pgp (e.g. 'Example <k@example.com>')")
        if args.use != "both" or args.kid or args.legacy:
            raise _UsageError("--use, --kid and --legacy are for --codec jwe")
    elif args.passphrase_env or args.passphrase_file:
        raise _UsageError(
            "JWK files carry no encryption; protect JWE secret files with their 0600 mode and "
            "your secret store"
        )
    elif args.kid and args.use == "both":
        raise _UsageError("--kid names one key; give --use enc or --use sig with it")
    uses = ("enc", "sig") if args.use == "both" else (args.use,)
    if args.codec == "pgp":
        planned = [folder / f"{name}.secret.asc", folder / f"{name}.public.asc"]
    else:
        planned = [folder / f"{args.kid or f'{name}-{u}'}.secret.jwks.json" for u in uses]
        planned.append(folder / f"{name}.public.jwks.json")
    if not args.force:
        _refuse_existing(planned)  # before the slow part
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
    keys: list[Key]
    if args.codec == "pgp":
        key, outputs = _pgp_outputs(
            folder,
            name,
            uid=args.uid,
            bits=args.bits,
            days=args.days,
            passphrase=_passphrase(args),
        )
        keys = [key]
    else:
        keys, outputs = _jwe_outputs(
            folder,
            name,
            uses=uses,
            kid=args.kid,
            bits=args.bits,
            days=args.days,
            legacy=args.legacy,
            now=ctx.now,
        )
    _write_all(outputs, force=args.force)
    out = ctx.out
    for key in keys:
        info = describe_key(key)
        if info.codec == "pgp":
            subs = ", ".join(p.key_id for p in info.parts if p.role == "subkey")
            what = f"certify+sign primary, encryption subkey {subs}"
        else:
            what = f"{key.use}, {', '.join(sorted(key.algorithms))}"
        out.write(
            f"generated {info.codec.upper()} key {info.kid} (RSA-{info.size}; {what}; "
            f"expires {_date(info.expires)})\n"
        )
    _rows_table(
        [["file", "mode", "what"]] + [[str(o.path), f"{o.mode:04o}", o.what] for o in outputs],
        out,
    )
    secrets = [o.path for o in outputs if o.mode == 0o600]
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
    return EXIT_OK


# -- keys list / show / check ---------------------------------------------------------------
@dataclass
class _Source:
    path: Path
    keyset: KeySet | None = None
    manifest: bool = False
    environment: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    extra: list[Finding] = field(default_factory=list)


def _mode_findings(path: Path, *, secret: bool, kid: str | None, label: str) -> list[Finding]:
    if os.name != "posix":
        return []
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return []
    if secret and mode & 0o077:
        return [
            Finding(
                "warning",
                kid,
                f"{label} {path.name} is readable by others (mode {mode:04o}); chmod 600 it",
            )
        ]
    if not secret and mode & 0o022:
        return [
            Finding(
                "warning",
                kid,
                f"{label} {path.name} is writable by others (mode {mode:04o}); chmod 644 it",
            )
        ]
    return []


def _load_source(path: Path, passphrase: str | None) -> _Source:
    src = _Source(path)
    try:
        if is_manifest(path):
            src.manifest = True
            manifest = read_manifest(path)
            src.environment = manifest.environment
            src.extra += _mode_findings(path, secret=False, kid=None, label="manifest")
            base = path.parent
            keyset, kids = manifest.load_indexed(base)
            for entry, kid in zip(manifest.keys, kids, strict=True):
                src.files[kid] = entry.file
                if keyset.get(kid).has_secret:
                    src.extra += _mode_findings(
                        base / entry.file, secret=True, kid=kid, label="secret key file"
                    )
                ref = entry.passphrase or manifest.passphrase
                ppath = ref.path(base) if ref is not None else None
                if ppath is not None:
                    src.extra += _mode_findings(
                        ppath, secret=True, kid=kid, label="passphrase file"
                    )
            src.keyset = keyset
        else:
            keys = read_key_file(path, passphrase=passphrase)
            src.keyset = KeySet(keys, primary=keys[0].kid)
            for k in keys:
                src.files[k.kid] = path.name
            if any(k.has_secret for k in keys):
                src.extra += _mode_findings(path, secret=True, kid=None, label="secret key file")
    except EnvelopeError as exc:
        src.error = str(exc)
    except OSError as exc:
        src.error = f"cannot read {path}: {exc.strerror or exc}"
    return src


def _infos(src: _Source) -> list[KeyInfo]:
    ks = src.keyset
    if ks is None:
        return []
    return [describe_key(k, primary=src.manifest and k is ks.primary) for k in ks]


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


def _cmd_list(args: argparse.Namespace, ctx: _Ctx) -> int:
    passphrase = _passphrase(args)
    sources = [_load_source(Path(p), passphrase) for p in args.files]
    when = args.at or ctx.now
    if args.json:
        doc = [
            {
                "file": str(s.path),
                "manifest": s.manifest,
                "environment": s.environment,
                "error": s.error,
                "keys": [dict(i.to_json(), file=s.files.get(i.kid)) for i in _infos(s)],
            }
            for s in sources
        ]
        ctx.out.write(json.dumps(doc, indent=2) + "\n")
    else:
        rows = [["file", "kid", "codec", "key", "use", "status", "half", "created", "expires"]]
        for s in sources:
            if s.error is not None:
                rows.append([str(s.path), f"ERROR: {s.error}", "", "", "", "", "", "", ""])
            for i in _infos(s):
                rows.append(
                    [
                        s.files.get(i.kid, str(s.path)) if s.manifest else str(s.path),
                        i.kid,
                        i.codec,
                        f"{i.kty}-{i.size}",
                        _usage_cell(i),
                        _status_cell(i),
                        "secret" if i.secret else "public",
                        _date(i.created) if i.created else "-",
                        _expiry_cell(i.expires, when),
                    ]
                )
        _rows_table(rows, ctx.out)
    return EXIT_INVALID if any(s.error for s in sources) else EXIT_OK


def _cmd_show(args: argparse.Namespace, ctx: _Ctx) -> int:
    if args.json:
        return _cmd_list(args, ctx)
    passphrase = _passphrase(args)
    sources = [_load_source(Path(p), passphrase) for p in args.files]
    when = args.at or ctx.now
    out = ctx.out
    for s in sources:
        kind = "manifest" if s.manifest else "key file"
        out.write(f"{s.path} ({kind}")
        if s.environment:
            out.write(f", {s.environment}")
        out.write(")\n")
        if s.error is not None:
            out.write(f"  ERROR: {s.error}\n")
            continue
        for i in _infos(s):
            out.write(f"  key {i.kid}\n")
            fields = [
                ("file", s.files.get(i.kid, "")),
                ("codec", i.codec),
                ("key", f"{i.kty}-{i.size}"),
                ("usages", ", ".join(i.usages)),
                ("algorithms", ", ".join(i.algorithms)),
                ("status", _status_cell(i)),
                ("private half", "yes" if i.secret else "no"),
                ("created", _date(i.created) if i.created else "unknown"),
                ("expires", _expiry_cell(i.expires, when)),
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
                    f"{_date(p.created)}  expires {_expiry_cell(p.expires, when)}{state}\n"
                )
    return EXIT_INVALID if any(s.error for s in sources) else EXIT_OK


def _cmd_check(args: argparse.Namespace, ctx: _Ctx) -> int:
    passphrase = _passphrase(args)
    when = args.at or ctx.now
    report: list[tuple[_Source, list[Finding]]] = []
    for p in args.files:
        src = _load_source(Path(p), passphrase)
        findings = list(src.extra)
        if src.error is not None:
            findings.insert(0, Finding("error", None, f"cannot load: {src.error}"))
        elif src.keyset is not None:
            if src.manifest:
                findings += check_keyset(src.keyset, now=when, warn_days=args.warn_days)
            else:
                for k in src.keyset:
                    findings += check_key(k, now=when, warn_days=args.warn_days)
        report.append((src, findings))
    every = [f for _, fs in report for f in fs]
    errors = sum(f.level == "error" for f in every)
    warnings = sum(f.level == "warning" for f in every)
    failed = errors > 0 or (args.strict and warnings > 0)
    if args.json:
        doc = {
            "ok": not failed,
            "at": when.isoformat(),
            "warn_days": args.warn_days,
            "errors": errors,
            "warnings": warnings,
            "files": [
                {
                    "file": str(src.path),
                    "manifest": src.manifest,
                    "keys": list(src.keyset.kids) if src.keyset is not None else [],
                    "findings": [f.to_json() for f in fs],
                }
                for src, fs in report
            ],
        }
        ctx.out.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_INVALID if failed else EXIT_OK
    out = ctx.out
    for src, fs in report:
        head = f"{src.path}"
        if src.keyset is not None:
            kind = "manifest" if src.manifest else "key file"
            env = f", {src.environment}" if src.environment else ""
            head += f" ({kind}, {src.keyset.codec}{env}, {len(src.keyset)} key(s))"
        out.write(head + "\n")
        rows = []
        for f in fs:
            rows.append([f.level.upper(), f.kid or "-", f.message])
        flagged = {f.kid for f in fs}
        if src.keyset is not None:
            rows.extend(["ok", k, "meets the rules"] for k in src.keyset.kids if k not in flagged)
        for level, kid, message in rows:
            out.write(f"  {level:<8}{kid}  {message}\n")
    verdict = "FAILED" if failed else "passed"
    out.write(
        f"check {verdict}: {errors} error(s), {warnings} warning(s)"
        f"{' (strict: warnings fail)' if args.strict else ''}; as of {_date(when)}, "
        f"expiry warning window {args.warn_days} days\n"
    )
    return EXIT_INVALID if failed else EXIT_OK


# -- keys init / rotate ---------------------------------------------------------------------
def _print_manifest_state(ctx: _Ctx, manifest: Path, ks: KeySet) -> None:
    m = read_manifest(manifest)
    files = {e.kid: e.file for e in m.keys}
    rows = [["kid", "status", "file", "expires"]]
    for k in ks.primary_first():
        status = "primary" if k is ks.primary else k.status.value
        rows.append([k.kid, status, files.get(k.kid) or "", _expiry_cell(k.not_after, ctx.now)])
    _rows_table(rows, ctx.out)


def _cmd_init(args: argparse.Namespace, ctx: _Ctx) -> int:
    manifest = Path(args.manifest)
    ks = init_manifest(
        manifest,
        args.key_file,
        kid=args.kid,
        environment=args.environment,
        passphrase=_passphrase_ref(args, manifest.parent),
        use=args.use,
        force=args.force,
    )
    ctx.out.write(f"created {manifest} ({ks.codec}) with primary {ks.primary.kid}\n")
    _print_manifest_state(ctx, manifest, ks)
    return EXIT_OK


def _cmd_rotate(args: argparse.Namespace, ctx: _Ctx) -> int:
    manifest = Path(args.manifest)
    action = args.action
    if action == "add":
        before = load_manifest(manifest)
        ks = add_key(
            manifest,
            args.key_file,
            kid=args.kid,
            status=KeyStatus.DISABLED if args.disabled else KeyStatus.ENABLED,
            passphrase=_passphrase_ref(args, manifest.parent),
            use=args.use,
        )
        kid = next(k for k in ks.kids if k not in before)
        hint = (
            f"{kid} added; it opens envelopes now, sealing still uses {ks.primary.kid}.\n"
            f"next: gpay-envelope keys verify-rotation {manifest} {kid}\n"
        )
    elif action == "promote":
        ks = promote_key(manifest, args.kid, now=ctx.now)
        kid = ks.primary.kid
        hint = (
            f"{kid} is the primary: sealing uses it now; the other keys still open.\n"
            "Keep the old key ENABLED until Google no longer uses it (watch which key opens\n"
            f"Google's messages), then: gpay-envelope keys rotate {manifest} disable OLD_KID\n"
        )
    elif action in ("disable", "enable"):
        status = KeyStatus.DISABLED if action == "disable" else KeyStatus.ENABLED
        ks = set_key_status(manifest, args.kid, status)
        kid = resolve_kid(ks, args.kid)
        hint = f"{kid} is {status.value}" + (
            f"; it neither seals nor opens. Remove it when sure:\n"
            f"  gpay-envelope keys rotate {manifest} remove {kid}\n"
            if status is KeyStatus.DISABLED
            else "\n"
        )
    else:  # remove
        before_manifest = read_manifest(manifest)
        before = load_manifest(manifest)
        kid = resolve_kid(before, args.kid)
        file = next((e.file for e in before_manifest.keys if e.kid == kid), None)
        ks = remove_key(manifest, kid, force=args.force)
        hint = (
            f"{kid} removed from the manifest. Its key file {file or ''} is left in place:\n"
            "destroy the secret key once your retention rules allow.\n"
        )
    ctx.out.write(f"{manifest}: {action} done\n")
    _print_manifest_state(ctx, manifest, ks)
    ctx.out.write(hint)
    return EXIT_OK


# -- keys verify-rotation -------------------------------------------------------------------
def _for_role(ks: KeySet, purpose: str, label: str) -> KeySet:
    """For JWE, the keys of ``ks`` that may be used for ``purpose`` ("enc"/"sig"); the
    primary stays when it qualifies, else the first ENABLED key that does."""
    if ks.codec != "jwe":
        return ks
    keys = [k for k in ks if k.can(purpose)]
    enabled = [k for k in keys if k.status is KeyStatus.ENABLED]
    if not enabled:
        raise KeySetError(f"{label}: no ENABLED key with use {purpose!r}")
    primary = ks.primary.kid if ks.primary.can(purpose) else enabled[0].kid
    return KeySet(keys, primary=primary)


@dataclass
class _Probe:
    """Throwaway keys standing in for Google in verify-rotation."""

    codec: str
    bits: int
    _enc: KeySet | None = None
    _sig: KeySet | None = None

    def _make(self) -> tuple[KeySet, KeySet]:
        if self._enc is None or self._sig is None:
            if self.codec == "pgp":
                from .codecs.pgp import generate_pgp_key

                key = generate_pgp_key(
                    uid="gpay-envelope probe <probe@invalid>",
                    size=self.bits,
                    expires=timedelta(days=1),
                )
                self._enc = self._sig = KeySet([key], primary=key.kid)
            else:
                enc = generate_key(kid="probe-enc", use="enc", size=self.bits)
                sig = generate_key(kid="probe-sig", use="sig", size=self.bits)
                self._enc = KeySet([enc], primary=enc.kid)
                self._sig = KeySet([sig], primary=sig.kid)
        return self._enc, self._sig

    @property
    def enc(self) -> KeySet:
        return self._make()[0]

    @property
    def sig(self) -> KeySet:
        return self._make()[1]


_PROBE = b'{"gpayEnvelopeProbe":"verify-rotation"}'


def _inbound(ks: KeySet, key: Key, public: Key, probe: _Probe) -> tuple[bool, str]:
    """Seal to ``public`` alone, as Google will; open with the whole set."""
    env = seal(
        _PROBE,
        recipients=KeySet([public], primary=public.kid),
        signer=probe.sig,
        codec=ks.codec,
    )
    try:
        res = open_detailed(env, identities=ks, senders=probe.sig.public())
    except EnvelopeError as exc:
        return False, f"did not open: {exc}"
    if res.decrypted_with != key.kid or res.plaintext != _PROBE:
        return False, f"opened by {res.decrypted_with}, not by {key.kid}"
    return True, f"sealed to its public key, opened by {res.decrypted_with}"


def _outbound(ks: KeySet, key: Key, public: Key, probe: _Probe) -> tuple[bool, str]:
    """Seal with the set as it is once ``key`` is primary; verify with ``public`` alone."""
    signer = _for_role(ks.with_primary(key.kid), "sig", "signer")
    env = seal(_PROBE, recipients=probe.enc.public(), signer=signer, codec=ks.codec)
    try:
        res = open_detailed(env, identities=probe.enc, senders=KeySet([public], primary=public.kid))
    except EnvelopeError as exc:
        return False, f"signature not verified: {exc}"
    if key.kid not in res.verified_by:
        return False, f"verified by {res.verified_by}, not by {key.kid}"
    return True, f"signed as primary, verified with its public key ({' '.join(res.algorithms)})"


def _verify_rotation(
    ks: KeySet,
    kid: str,
    *,
    public: Key | None,
    public_label: str,
    now: datetime,
    warn_days: int,
    bits: int = 2048,
) -> tuple[list[list[str]], bool]:
    """Rows of (step, result, detail) and whether every step passed."""
    key = ks.get(kid)
    rows: list[list[str]] = []

    def row(step: str, ok: bool | None, detail: str) -> bool:
        rows.append([step, "n/a" if ok is None else ("ok" if ok else "FAILED"), detail])
        return ok is not False

    ok = row(
        "private half",
        key.has_secret,
        "present" if key.has_secret else "missing: the manifest must name your secret key file",
    )
    ok &= row(
        "status",
        key.status is KeyStatus.ENABLED,
        key.status.value + ("" if key.status is KeyStatus.ENABLED else ": enable it first"),
    )
    errors = [
        f.message
        for f in check_key(key, primary=True, now=now, warn_days=warn_days)
        if f.level == "error"
    ]
    ok &= row("Google's key rules", not errors, "; ".join(errors) or "met (keys check)")
    if public is not None:
        same = public.kid == key.kid
        ok &= row(
            "public key file",
            same,
            f"{public_label} holds {public.kid}" if same else f"{public_label}: no key {key.kid}",
        )
    if not ok:
        return rows, False
    pub = public if public is not None else key.public()
    probe = _Probe(ks.codec, bits)
    inbound = key.can("enc")
    outbound = key.can("sig")
    if inbound:
        ok &= row("Google -> you", *_inbound(ks, key, pub, probe))
    else:
        row("Google -> you", None, "a signing key does not decrypt")
    if outbound:
        ok &= row("you -> Google", *_outbound(ks, key, pub, probe))
    else:
        row("you -> Google", None, "an encryption key does not sign")
    primary = ks.primary
    if primary.kid != key.kid:
        if inbound and primary.can("enc"):
            good, detail = _inbound(ks, primary, primary.public(), probe)
            ok &= row("current primary", good, detail.replace("its public", "the primary's public"))
        elif outbound and primary.can("sig"):
            good, detail = _outbound(ks, primary, primary.public(), probe)
            ok &= row("current primary", good, "still verifies" if good else detail)
    return rows, ok


def _cmd_verify(args: argparse.Namespace, ctx: _Ctx) -> int:
    manifest = Path(args.manifest)
    ks = load_manifest(manifest)
    if args.kid:
        kid = resolve_kid(ks, args.kid)
    else:
        candidates = [
            k.kid
            for k in ks.enabled()
            if k.kid != ks.primary.kid and k.has_secret and k.can("enc") == ks.primary.can("enc")
        ]
        if len(candidates) != 1:
            raise _UsageError(
                "name the key to verify (KID): "
                + ("no new key in the manifest" if not candidates else "several candidates")
            )
        kid = candidates[0]
    public: Key | None = None
    if args.public:
        keys = read_key_file(args.public, codec=ks.codec)
        public = next((k.public() for k in keys if k.kid == kid), keys[0].public())
    ctx.out.write(
        f"verifying {kid} from {manifest} ({ks.codec}); a throwaway key stands in for Google\n"
    )
    rows, ok = _verify_rotation(
        ks,
        kid,
        public=public,
        public_label=str(args.public),
        now=ctx.now,
        warn_days=args.warn_days,
    )
    _rows_table([["step", "result", "detail"], *rows], ctx.out)
    if ok:
        ctx.out.write(
            f"\n{kid} works in every direction it is used for. Next: send its public key to "
            "Google,\nconfirm with an end-to-end call in the sandbox, then:\n"
            f"  gpay-envelope keys rotate {manifest} promote {kid}\n"
        )
        return EXIT_OK
    ctx.out.write(f"\n{kid} is NOT verified: do not send it to Google or promote it.\n")
    return EXIT_INVALID


# -- seal / open ----------------------------------------------------------------------------
def _role_keyset(
    paths: Sequence[str], args: argparse.Namespace, *, purpose: str, label: str
) -> KeySet:
    passphrase = _passphrase(args)
    sets = [load_keyset(p, passphrase=passphrase, codec=args.codec) for p in paths]
    codecs = {s.codec for s in sets}
    if len(codecs) > 1:
        raise KeySetError(f"{label}: keys of several codecs {sorted(codecs)}")
    merged = sets[0]
    if len(sets) > 1:
        merged = KeySet([k for s in sets for k in s], primary=sets[0].primary.kid)
    return _for_role(merged, purpose, label)


def _read_input(ctx: _Ctx, path: str | None, limit: int) -> bytes:
    if path is None or path == "-":
        stream = ctx.stdin if ctx.stdin is not None else sys.stdin.buffer
        return stream.read(limit + 1)
    with open(path, "rb") as fh:
        return fh.read(limit + 1)


def _write_output(ctx: _Ctx, path: str | None, data: bytes, mode: int) -> None:
    if path is None or path == "-":
        buffer = getattr(ctx.out, "buffer", None)
        if buffer is not None:
            ctx.out.flush()
            buffer.write(data)
            buffer.flush()
        else:
            ctx.out.write(data.decode("utf-8", "replace"))
        return
    _write_new(Path(path), data, mode, force=True)


def _cmd_seal(args: argparse.Namespace, ctx: _Ctx) -> int:
    if not args.sign_with and not args.allow_unsigned:
        raise _UsageError("--sign-with is required (or --allow-unsigned for legacy JWE)")
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


def _cmd_open(args: argparse.Namespace, ctx: _Ctx) -> int:
    if not args.sender and not args.allow_unsigned:
        raise _UsageError("--from is required (or --allow-unsigned for legacy JWE)")
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


# -- demo -----------------------------------------------------------------------------------
def _jwe_rotation_demo(out: TextIO, bits: int) -> bool:
    """Partner and a simulated Google rotate the partner's JWE decryption key. True if every
    envelope opened or failed exactly as the rotation rules say."""
    out.write(f"\nJWE: generating RSA-{bits} keys (partner enc k1, k2; Google sig g1)...\n")
    k1 = generate_key(kid="partner-enc-2026", use="enc", size=bits)
    k2 = generate_key(kid="partner-enc-2027", use="enc", size=bits)
    g1 = generate_key(kid="google-sig-1", use="sig", size=bits)
    google_signer = KeySet([g1], primary=g1.kid)
    google_trusts = google_signer.public()
    payload = b'{"requestHeader":{"requestId":"demo-1"},"amount":"12.34"}'

    stages: list[tuple[str, Callable[[KeySet], KeySet]]] = [
        ("1 start", lambda ks: ks),
        ("2 add k2", lambda ks: ks.with_key(k2)),
        ("3 promote k2", lambda ks: ks.with_primary(k2.kid)),
        ("4 disable k1", lambda ks: ks.with_status(k1.kid, KeyStatus.DISABLED)),
        ("5 remove k1", lambda ks: ks.without(k1.kid)),
    ]
    expected_old = [True, True, True, False, False]
    in_flight = seal(
        payload,
        recipients=KeySet([k1.public()], primary=k1.kid),
        signer=google_signer,
        codec="jwe",
    )
    rows = [["stage", "partner keys (primary*)", "Google seals to", "new msg", "old msg (to k1)"]]
    ok = True
    ours = KeySet([k1], primary=k1.kid)
    for (stage, change), old_should_open in zip(stages, expected_old, strict=True):
        ours = change(ours)
        published = ours.public()  # what Google holds: the partner's public keys
        fresh = seal(payload, recipients=published, signer=google_signer, codec="jwe")
        res = open_detailed(fresh, identities=ours, senders=google_trusts)
        new_cell = f"opened by {res.decrypted_with}, signed by {res.verified_by[0]}"
        ok &= res.plaintext == payload
        try:
            old = open_detailed(in_flight, identities=ours, senders=google_trusts)
            old_cell = f"opened by {old.decrypted_with}"
            ok &= old_should_open
        except InvalidEnvelope:
            old_cell = "refused (InvalidEnvelope)"
            ok &= not old_should_open
        rows.append([stage, _keyset_cell(ours), published.primary.kid, new_cell, old_cell])
    _rows_table(rows, out)
    return ok


def _jwe_profiles_demo(out: TextIO, bits: int) -> bool:
    """One message per JWE profile, and a forged one."""
    enc = generate_key(kid="google-enc-1", use="enc", size=bits, legacy=True)
    sig = generate_key(kid="partner-sig-1", use="sig", size=bits)
    google = KeySet([enc], primary=enc.kid)
    partner = KeySet([sig], primary=sig.kid)
    payload = b'{"responseHeader":{"responseTimestamp":"0"},"result":"SUCCESS"}'
    rows = [["profile", "bytes", "algorithms", "result"]]
    ok = True
    for profile in ("signed", "legacy", "legacy-a128"):
        env = seal(
            payload, recipients=google.public(), signer=partner, codec="jwe", profile=profile
        )
        res = open_detailed(env, identities=google, senders=partner.public())
        ok &= res.plaintext == payload
        rows.append([profile, str(len(env)), " ".join(res.algorithms), "opened, signature ok"])
    impostor = KeySet(
        [generate_key(kid="partner-sig-1", use="sig", size=bits)], primary="partner-sig-1"
    )
    forged = seal(payload, recipients=google.public(), signer=impostor, codec="jwe")
    try:
        open_detailed(forged, identities=google, senders=partner.public())
        ok = False
        result = "OPENED (wrong!)"
    except InvalidSignature:
        result = "refused (InvalidSignature -> HTTP 401)"
    rows.append(["signed, forged signer", str(len(forged)), "RSA-OAEP-256 A256GCM RS256", result])
    _rows_table(rows, out)
    return ok


def _quiet_logger() -> logging.Logger:
    log = logging.getLogger("gpay_envelope.manifest.demo")
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return log


def _pgp_rotation_demo(out: TextIO, bits: int, folder: Path) -> bool:
    """The partner rotates its OpenPGP key the way an operator does: key files, a manifest,
    `keys rotate` steps, verify-rotation; its service follows through a KeySetWatcher.
    True if every envelope opened or failed exactly as the rotation rules say."""
    out.write(
        f"\nPGP: the partner rotates its key with files and a manifest in {folder}\n"
        f"(RSA-{bits}); its service reads the manifest through a KeySetWatcher, which\n"
        "reloads on every change, and Google (simulated) holds what the partner sent it.\n"
    )
    manifest = folder / "partner.keyset.json"
    p1, p1_out = _pgp_outputs(
        folder,
        "partner-2026",
        uid="Partner 2026 <keys@partner.example>",
        bits=bits,
        days=365,
        passphrase=None,
    )
    _write_all(p1_out, force=False)
    google_key, _, google_public = _generate_pgp(
        uid="Google (simulated) <google@example.com>", bits=bits, days=365, passphrase=None
    )
    _write_all([_Output(folder / "google.public.asc", google_public, 0o644, "")], force=False)
    google_self = KeySet([google_key], primary=google_key.kid)
    init_manifest(manifest, p1_out[0].path, environment="sandbox")
    watcher = KeySetWatcher(manifest, poll_interval=0, logger=_quiet_logger())
    partner_trusts = load_keyset(folder / "google.public.asc")  # Google's public key, from file
    names = {p1.kid: "p1", google_key.kid: "g1"}
    google_holds = [p1.public()]  # the partner public keys Google trusts and encrypts to
    request = b'{"requestHeader":{"requestId":"pgp-demo"},"amount":"12.34"}'
    reply = b'{"responseHeader":{"responseTimestamp":"0"},"result":"SUCCESS"}'
    in_flight = seal(
        request, recipients=KeySet(google_holds, primary=p1.kid), signer=google_self, codec="pgp"
    )
    state: dict[str, Any] = {"p2": None, "broken": None}

    def add_p2() -> str:
        p2, p2_out = _pgp_outputs(
            folder,
            "partner-2027",
            uid="Partner 2027 <keys@partner.example>",
            bits=bits,
            days=365,
            passphrase=None,
        )
        _write_all(p2_out, force=False)
        state["p2"] = p2
        names[p2.kid] = "p2"
        ks = add_key(manifest, p2_out[0].path)
        _, ok = _verify_rotation(
            ks, p2.kid, public=None, public_label="", now=utcnow(), warn_days=30, bits=bits
        )
        return "rotate add p2, verify-rotation " + ("ok" if ok else "FAILED")

    def send_p2() -> str:
        google_holds.append(state["p2"].public())
        return "p2's public key sent to Google"

    def promote_p2() -> str:
        promote_key(manifest, state["p2"].kid)
        return "rotate promote p2"

    def bad_edit() -> str:
        state["broken"] = manifest.read_bytes()
        manifest.write_bytes(state["broken"][:-20])  # a truncated hand edit
        return "typo in the manifest"

    def fix_and_disable() -> str:
        manifest.write_bytes(state["broken"])
        del google_holds[0]  # Google removed p1 first, then the partner disables it
        set_key_status(manifest, p1.kid, KeyStatus.DISABLED)
        return "fixed; Google drops p1; disable p1"

    def remove_p1() -> str:
        remove_key(manifest, p1.kid)
        return "rotate remove p1"

    steps: list[tuple[str, Callable[[], str], bool]] = [
        ("1 start", lambda: "keys init (p1)", True),
        ("2 add", add_p2, True),
        ("3 exchange", send_p2, True),
        ("4 promote", promote_p2, True),
        ("5 typo", bad_edit, True),
        ("6 disable", fix_and_disable, False),
        ("7 remove", remove_p1, False),
    ]
    rows = [
        [
            "stage",
            "operator step",
            "service keyset",
            "Google -> partner",
            "partner -> Google",
            "in flight (to p1)",
        ]
    ]
    ok = True
    for stage, action, in_flight_opens in steps:
        step = action()
        ks = watcher.current()
        if watcher.last_error:
            step += ": reload refused, old set kept"
        holds = KeySet(google_holds, primary=google_holds[0].kid)
        fresh = seal(request, recipients=holds, signer=google_self, codec="pgp")
        res = open_detailed(fresh, identities=ks, senders=partner_trusts)
        ok &= res.plaintext == request
        to = "+".join(names[k.kid] for k in holds)
        g2p = f"to {to}, opened by {names[res.decrypted_with]}"
        answer = seal(reply, recipients=partner_trusts, signer=ks, codec="pgp")
        back = open_detailed(answer, identities=google_self, senders=holds)
        ok &= back.plaintext == reply
        signed = "+".join(names[k.kid] for k in ks.enabled())
        p2g = f"signed {signed}, Google accepts {'+'.join(names[v] for v in back.verified_by)}"
        try:
            old = open_detailed(in_flight, identities=ks, senders=partner_trusts)
            old_cell = f"opened by {names[old.decrypted_with]}"
            ok &= in_flight_opens
        except InvalidEnvelope:
            old_cell = "refused (InvalidEnvelope)"
            ok &= not in_flight_opens
        rows.append([stage, step, _keyset_cell(ks, names), g2p, p2g, old_cell])
    _rows_table(rows, out)
    out.write(
        "p1, p2: the partner's keys (p1 primary at first); in flight: a message Google sealed\n"
        "to p1 before the rotation began. Each row: the operator step, the key set the\n"
        "partner's service holds after it, and one message each way.\n"
    )
    ok &= watcher.reloads == 4 and load_manifest(manifest).kids == (state["p2"].kid,)
    return ok


def _cmd_demo(args: argparse.Namespace, ctx: _Ctx) -> int:
    out = ctx.out
    out.write(
        "gpay_envelope demo: a partner and a simulated Google exchange sealed messages while\n"
        "the partner rotates its keys (add, verify, promote, disable, remove). Fresh keys;\n"
        "nothing to configure.\n"
    )
    ok = _jwe_profiles_demo(out, args.bits)
    ok &= _jwe_rotation_demo(out, args.bits)
    with contextlib.ExitStack() as stack:
        if args.workdir:
            folder = Path(args.workdir)
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gpay-demo-")))
        ok &= _pgp_rotation_demo(out, args.bits, folder)
        if args.workdir:
            out.write(
                f"\nthe files are in {folder}; try: gpay-envelope keys check "
                f"{folder / 'partner.keyset.json'}\n"
            )
    out.write("\n" + ("every envelope behaved as expected\n" if ok else "UNEXPECTED RESULT\n"))
    return EXIT_OK if ok else EXIT_INVALID


# -- the parser -----------------------------------------------------------------------------
def _keys_parser(sub: Any) -> None:
    keys = sub.add_parser(
        "keys",
        help="generate, inspect, check and rotate keys (docs/rotation.md)",
        description="Key lifecycle: generate, list/show/check, init/rotate a keyset manifest, "
        "verify-rotation. See docs/rotation.md for the runbook.",
    )
    ks = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")

    gen = ks.add_parser(
        "generate",
        help="new keys that meet Google's rules, written with safe permissions",
        description="Generate keys: secret files 0600 (never overwritten without --force), "
        "public files 0644 ready to send to Google. OpenPGP: an RSA certify+sign primary "
        "key with an RSA encryption subkey. JWE: an RSA encryption key and an RSA signing "
        "key (--use), a JWK Set per secret key and one public JWK Set.",
    )
    gen.add_argument("--codec", choices=("pgp", "jwe"), required=True)
    gen.add_argument(
        "--bits", type=int, choices=(2048, 3072, 4096), default=3072, help="RSA size (3072)"
    )
    gen.add_argument("--days", type=_days, default=365, help="lifetime in days (365; at most 730)")
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
    _add_passphrase_options(gen, "a passphrase to protect the OpenPGP secret key")
    gen.set_defaults(run=_cmd_generate)

    def inspect(name: str, help_text: str, run: Callable[[argparse.Namespace, _Ctx], int]) -> Any:
        p = ks.add_parser(name, help=help_text, description=help_text)
        p.add_argument("files", nargs="+", metavar="FILE", help="manifest or key file")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--at", type=_at, help="evaluate dates as of this ISO date")
        _add_passphrase_options(p, "the passphrase of protected key files")
        p.set_defaults(run=run)
        return p

    inspect("list", "one line per key: kid, size, usages, status, expiry", _cmd_list)
    inspect("show", "everything about each key (subkeys, user ids, thumbprints)", _cmd_show)
    check = inspect(
        "check",
        "check keys against Google's rules; exit 1 on an error (expired, expiring soon, "
        "no expiry, lifetime over two years, no encryption subkey, weak, invalid set)",
        _cmd_check,
    )
    check.add_argument(
        "--warn-days", type=int, default=30, help="fail on keys expiring within N days (30)"
    )
    check.add_argument("--strict", action="store_true", help="warnings fail the check too")

    init = ks.add_parser("init", help="create a keyset manifest holding one key (its primary)")
    init.add_argument("manifest", metavar="MANIFEST")
    init.add_argument("key_file", metavar="KEYFILE")
    init.add_argument("--kid", help="which key of the file")
    init.add_argument("--environment", choices=("sandbox", "production"))
    init.add_argument("--use", choices=("enc", "sig"), help="use of a PEM key")
    init.add_argument("--force", action="store_true", help="replace an existing manifest")
    _add_passphrase_options(init, "the key's passphrase (the manifest stores the reference)")
    init.set_defaults(run=_cmd_init)

    rot = ks.add_parser(
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
    _add_passphrase_options(add, "the key's passphrase (the manifest stores the reference)")
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

    ver = ks.add_parser(
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gpay-envelope",
        description="Seal and open Google Pay partner-API envelopes (PGP, JWE); manage and "
        "rotate their keys.",
        epilog="Exit codes: 0 ok, 1 invalid (envelope, key, failed check), 2 usage.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="a full key rotation with fresh keys, PGP and JWE")
    demo.add_argument(
        "--bits",
        type=int,
        default=2048,
        choices=(2048, 3072, 4096),
        help="RSA key size for the demo keys (default 2048, for speed)",
    )
    demo.add_argument("--workdir", help="keep the demo's key files and manifest in this folder")
    demo.set_defaults(run=_cmd_demo)

    _keys_parser(sub)

    for name in ("seal", "open"):
        sp = sub.add_parser(
            name,
            help="seal a payload (stdin or -i)" if name == "seal" else "open an envelope",
        )
        sp.add_argument("--codec", choices=("pgp", "jwe"), help="default: the keys' codec")
        sp.add_argument("-i", "--in", dest="input", metavar="FILE", help="input (default stdin)")
        sp.add_argument(
            "-o", "--out", dest="output", metavar="FILE", help="output (default stdout)"
        )
        sp.add_argument(
            "--allow-unsigned",
            action="store_true",
            help="legacy unsigned JWE only (see docs/security.md)",
        )
        _add_passphrase_options(sp, "the passphrase of a protected key file")
        if name == "seal":
            sp.add_argument(
                "--to", action="append", required=True, metavar="KEYS", help="peer's public keys"
            )
            sp.add_argument(
                "--sign-with", action="append", metavar="KEYS", help="your signing keys"
            )
            sp.add_argument("--profile", help="codec profile (jwe: signed, legacy, legacy-a128)")
            sp.set_defaults(run=_cmd_seal)
        else:
            sp.add_argument(
                "--identity", action="append", required=True, metavar="KEYS", help="your keys"
            )
            sp.add_argument(
                "--from", dest="sender", action="append", metavar="KEYS", help="peer's keys"
            )
            sp.add_argument(
                "-v", "--verbose", action="store_true", help="say which keys opened it (stderr)"
            )
            sp.set_defaults(run=_cmd_open)

    tls = sub.add_parser(
        "tls-check",
        help="check an HTTPS endpoint against Google Pay's transport rules (T1-T4)",
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
    ctx = _Ctx(out=out or sys.stdout, err=err or sys.stderr, stdin=stdin)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    try:
        code: int = args.run(args, ctx)
    except _UsageError as exc:
        ctx.err.write(f"gpay-envelope: error: {exc}\n")
        return EXIT_USAGE
    except EnvelopeError as exc:
        ctx.err.write(f"gpay-envelope: {exc}\n")
        return EXIT_INVALID
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        ctx.err.write(f"gpay-envelope: {where}{exc.strerror or exc}\n")
        return EXIT_INVALID
    return code
