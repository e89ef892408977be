"""``keys check``: each file's findings against Google's rules, as text or JSON, and the
verdict as the exit code."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..keystore import Finding, check_key, check_keyset
from ._common import EXIT_INVALID, EXIT_OK, Ctx, date, passphrase, passphrase_flag
from ._inspect import Source, load_source


def sources(args: argparse.Namespace) -> list[Source]:
    """Every FILE argument loaded (`load_source`), with the passphrase options given."""
    secret = passphrase(args)
    return [load_source(Path(p), secret, passphrase_flag(args)) for p in args.files]


# -- keys check -----------------------------------------------------------------------------
def _findings(src: Source, *, when: datetime, warn_days: int) -> list[Finding]:
    """The file's mode findings, then the key rules (a manifest is also checked as a set)."""
    findings = [*src.extra, *src.notes]
    if src.error is not None:
        findings.insert(0, Finding("error", None, f"cannot load: {src.error}"))
    elif src.keyset is not None:
        if src.manifest:
            findings += check_keyset(src.keyset, now=when, warn_days=warn_days)
        else:
            for k in src.keyset:
                findings += check_key(k, now=when, warn_days=warn_days)
    return findings


_Report = list[tuple[Source, list[Finding]]]


@dataclass(frozen=True)
class _Tally:
    """The counts over every file checked, and the verdict."""

    errors: int
    warnings: int
    failed: bool

    @classmethod
    def of(cls, report: _Report, *, strict: bool) -> _Tally:
        every = [f for _, fs in report for f in fs]
        errors = sum(f.level == "error" for f in every)
        warnings = sum(f.level == "warning" for f in every)
        return cls(errors, warnings, errors > 0 or (strict and warnings > 0))


def _check_json(
    report: _Report, tally: _Tally, *, when: datetime, warn_days: int
) -> dict[str, Any]:
    return {
        "ok": not tally.failed,
        "at": when.isoformat(),
        "warn_days": warn_days,
        "errors": tally.errors,
        "warnings": tally.warnings,
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


def _print_findings(ctx: Ctx, src: Source, fs: Sequence[Finding]) -> None:
    """The file's heading, its findings, then "ok" for every key no finding names."""
    head = f"{src.path}"
    if src.keyset is not None:
        env = f", {src.environment}" if src.environment else ""
        head += f" ({src.kind}, {src.keyset.codec}{env}, {len(src.keyset)} key(s))"
    ctx.out.write(head + "\n")
    rows = [[f.level.upper(), f.kid or "-", f.message] for f in fs]
    flagged = {f.kid for f in fs}
    if src.keyset is not None:
        rows.extend(["ok", k, "meets the rules"] for k in src.keyset.kids if k not in flagged)
    for level, kid, message in rows:
        ctx.out.write(f"  {level:<8}{kid}  {message}\n")


def _print_check(
    ctx: Ctx, report: _Report, tally: _Tally, *, when: datetime, args: argparse.Namespace
) -> None:
    for src, fs in report:
        _print_findings(ctx, src, fs)
    verdict = "FAILED" if tally.failed else "passed"
    ctx.out.write(
        f"check {verdict}: {tally.errors} error(s), {tally.warnings} warning(s)"
        f"{' (strict: warnings fail)' if args.strict else ''}; as of {date(when)}, "
        f"expiry warning window {args.warn_days} days\n"
    )


def cmd_check(args: argparse.Namespace, ctx: Ctx) -> int:
    """``keys check``: every file's findings, the tally, exit 1 when the check fails."""
    when = args.at or ctx.now
    report = [(src, _findings(src, when=when, warn_days=args.warn_days)) for src in sources(args)]
    tally = _Tally.of(report, strict=args.strict)
    if args.json:
        doc = _check_json(report, tally, when=when, warn_days=args.warn_days)
        ctx.out.write(json.dumps(doc, indent=2) + "\n")
    else:
        _print_check(ctx, report, tally, when=when, args=args)
    return EXIT_INVALID if tally.failed else EXIT_OK
