"""``keys check --usage FILE``: when each checked key was last used, from an audit log.

The file is the JSON-lines audit log `gpay_envelope.observe.AuditJSONFormatter` writes. After
the check's own output comes one row per key (its last decrypt, verify, sign and encrypt) and
the ENABLED, non-primary keys of ours that decrypted nothing for ``--idle-days``: the signal
that the peer stopped sealing to them (docs/rotation.md, step 6). The exit code stays the
check's.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .._keys import Key, KeyStatus
from ..observe.usage import USES, UsageLog, read_usage
from ._common import Command, Ctx, UsageError, date, passphrase, rows_table
from ._inspect import load_source

__all__ = ["add_usage_option"]


def add_usage_option(check: argparse.ArgumentParser) -> None:
    """Give ``keys check`` the ``--usage FILE`` and ``--idle-days N`` options."""
    check.add_argument(
        "--usage",
        metavar="FILE",
        help="also report each key's last use from this JSON-lines audit log "
        "(docs/observability.md)",
    )
    check.add_argument(
        "--idle-days",
        type=int,
        default=7,
        help="with --usage: name the old keys that decrypted nothing for N days (7)",
    )
    run: Command = check.get_default("run")
    check.set_defaults(run=lambda args, ctx: _with_usage(run, args, ctx))


def _with_usage(run: Command, args: argparse.Namespace, ctx: Ctx) -> int:
    if args.usage is None:
        return run(args, ctx)
    if args.idle_days < 1:
        raise UsageError("--idle-days must be at least 1")
    with Path(args.usage).open(encoding="utf-8", errors="replace") as f:
        log = read_usage(f)
    when: datetime = args.at or ctx.now
    keys = _keys(args)
    idle = _idle(log, keys, when, args.idle_days)
    if not args.json:
        code = run(args, ctx)
        _print(ctx, args, log, keys, idle, when)
        return code
    out = io.StringIO()
    code = run(args, dataclasses.replace(ctx, out=out))
    doc = json.loads(out.getvalue())
    doc["usage"] = {
        "file": args.usage,
        "events": log.events,
        "skipped": log.skipped,
        "first": _iso(log.first),
        "last": _iso(log.last),
        "idle_days": args.idle_days,
        "keys": {
            k.kid: {use: _iso(log.last_use.get(k.kid, {}).get(use)) for use in USES}
            for k, _ in keys
        },
        "idle": [k.kid for k in idle],
    }
    ctx.out.write(json.dumps(doc, indent=2) + "\n")
    return code


def _keys(args: argparse.Namespace) -> list[tuple[Key, bool]]:
    """Every key of the checked files, once, with whether it is its set's primary."""
    secret = passphrase(args)
    seen: dict[str, tuple[Key, bool]] = {}
    for p in args.files:
        ks = load_source(Path(p), secret).keyset
        for k in ks or ():
            assert ks is not None
            seen.setdefault(k.kid, (k, k.kid == ks.primary.kid))
    return list(seen.values())


def _idle(
    log: UsageLog, keys: Sequence[tuple[Key, bool]], when: datetime, days: int
) -> list[Key]:
    """Our ENABLED, non-primary decryption keys with no decrypt in the last ``days`` days of a
    log that covers them."""
    out = []
    for key, primary in keys:
        since = log.idle_since(key.kid)
        if (
            key.has_secret
            and key.can("enc")
            and key.status is KeyStatus.ENABLED
            and not primary
            and since is not None
            and (when - since).days >= days
        ):
            out.append(key)
    return out


def _cell(d: datetime | None, when: datetime) -> str:
    return "-" if d is None else f"{date(d)} ({max(0, (when - d).days)}d ago)"


def _print(
    ctx: Ctx,
    args: argparse.Namespace,
    log: UsageLog,
    keys: Sequence[tuple[Key, bool]],
    idle: Sequence[Key],
    when: datetime,
) -> None:
    if log.events == 0:
        ctx.out.write(f"key use: no audit events in {args.usage}\n")
        return
    ctx.out.write(
        f"key use, from {args.usage}: {log.events} event(s), {date(log.first)} to "
        f"{date(log.last)}\n"
    )
    rows = [["kid", *(f"last {use}" for use in USES)]]
    for key, _ in keys:
        last = log.last_use.get(key.kid, {})
        rows.append([key.kid, *(_cell(last.get(use), when) for use in USES)])
    table = io.StringIO()
    rows_table(rows, table)
    ctx.out.writelines(f"  {line}\n" for line in table.getvalue().splitlines())
    for key in idle:
        since = log.idle_since(key.kid)
        assert since is not None
        ctx.out.write(
            f"  IDLE    {key.kid}  decrypted nothing for {(when - since).days} days: the peer "
            "no longer seals to it; disable it (docs/rotation.md, step 7)\n"
        )


def _iso(d: datetime | None) -> str | None:
    return None if d is None else d.isoformat()

