"""``gpay-envelope tls-check``: probe an HTTPS endpoint and print the verdicts on T1-T4.

The probe itself (`gpay_envelope.tls.probe.check_endpoint`) returns data; this module parses
the arguments, renders the report as a table or JSON and maps it to an exit status. The main
command (``gpay_envelope/_cli.py``) mounts it as a subcommand with `add_tls_check_arguments`
and `run_tls_check`; `tls_check_main` runs it on its own (``python -m gpay_envelope.tls``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ..tls import ALLOWED_TLS12_CIPHERS
from ..tls.probe import DEFAULT_TIMEOUT, TLSReport, check_endpoint

__all__ = ["add_tls_check_arguments", "run_tls_check", "tls_check_main"]


def add_tls_check_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``tls-check`` arguments to ``parser`` (for a subcommand of the main CLI).

    Args:
        parser: The parser or subparser to extend.
    """
    parser.add_argument("target", help="https://host[:port] or host[:port] (port 443 if absent)")
    parser.add_argument(
        "--cafile", help="PEM CA or agreed self-signed certificate to trust instead of the system's"
    )
    parser.add_argument(
        "--servername", help="name for SNI and the certificate check, if not the target's host"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per connection (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("must be between 0 and 600 seconds")
    return value


def run_tls_check(args: argparse.Namespace) -> int:
    """Run the probe for parsed ``tls-check`` arguments and print the report.

    Args:
        args: The namespace from a parser set up by `add_tls_check_arguments`.

    Returns:
        0 when the endpoint is compliant, 1 when it is not or cannot be reached, 2 when the
        arguments are unusable (malformed target, unreadable ``--cafile``).
    """
    try:
        report = check_endpoint(
            args.target, cafile=args.cafile, timeout=args.timeout, servername=args.servername
        )
    except ValueError as exc:  # TLSConfigError is a ValueError too
        print(f"gpay-envelope tls-check: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(_render(report))
    return 0 if report.compliant else 1


def tls_check_main(argv: Sequence[str] | None = None) -> int:
    """``gpay-envelope tls-check``: probe an endpoint against Google's transport rules.

    Args:
        argv: The arguments after the command name; ``sys.argv[1:]`` when None.

    Returns:
        The exit status: 0 compliant, 1 not compliant or unreachable, 2 usage error.
    """
    parser = argparse.ArgumentParser(
        prog="gpay-envelope tls-check",
        description="Check an HTTPS endpoint against Google Pay's transport rules (T1-T4).",
    )
    add_tls_check_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    return run_tls_check(args)


def _render(report: TLSReport) -> str:
    lines = [
        f"TLS check of {report.host}:{report.port} (server name {report.server_name})",
        "",
    ]
    if report.error:
        lines += [f"unreachable: {report.error}", ""]
    lines.append(f"{'req':<4} {'level':<12} {'result':<6} detail")
    lines.append(f"{'-' * 4} {'-' * 12} {'-' * 6} {'-' * 40}")
    for r in report.requirements:
        lines.append(f"{r.id:<4} {r.level:<12} {'PASS' if r.passed else 'FAIL':<6} {r.detail}")
    if report.reachable:
        lines += _observation_lines(report)
    lines += ["", "COMPLIANT" if report.compliant else "NOT COMPLIANT"]
    return "\n".join(_printable(line) for line in lines)


def _observation_lines(report: TLSReport) -> list[str]:
    """The protocols, TLS 1.2 suites and certificate the probe saw, one table each."""
    lines = ["", "protocol  accepted  detail"]
    for p in report.protocols:
        lines.append(f"{p.name:<9} {_yes_no(p.accepted):<9} {p.cipher or p.detail}")
    if report.tls12_ciphers:
        lines += ["", "TLS 1.2 suite                           on Google's list"]
        for c in report.tls12_ciphers:
            lines.append(f"{c:<39} {'yes' if c in ALLOWED_TLS12_CIPHERS else 'NO'}")
    cert = report.certificate
    if cert is not None:
        lines += [
            "",
            f"certificate  {cert.subject}",
            f"issuer       {cert.issuer}",
            f"names        {', '.join(cert.dns_names + cert.ip_addresses) or '(CN only)'}",
            f"expires      {cert.not_after.isoformat()} ({_left(cert.days_to_expiry)})",
        ]
    return lines


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "untested"}[value]


def _left(days: int) -> str:
    return "EXPIRED" if days < 0 else f"{days} days left"


def _printable(text: str) -> str:
    # Certificate names come from the server: never let them send escape codes to a terminal.
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
