"""The ``gpay-envelope`` command (also ``python -m gpay_envelope``).

Exit codes: 0 ok, 1 invalid (an envelope, a key, a check that failed), 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from . import __version__
from ._api import open_detailed, seal
from ._keyio import generate_key
from ._keys import KeySet, KeyStatus
from .errors import EnvelopeError, InvalidEnvelope, InvalidSignature
from .tls import add_tls_check_arguments, run_tls_check

__all__ = ["main"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _rows_table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        out.write("\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


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
        keys = ", ".join(
            k.kid
            + ("*" if k.kid == ours.primary.kid else "")
            + ("" if k.status is KeyStatus.ENABLED else " (disabled)")
            for k in ours
        )
        rows.append([stage, keys, published.primary.kid, new_cell, old_cell])
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


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    out.write(
        "gpay_envelope demo: a partner and a simulated Google exchange sealed messages while\n"
        "the partner rotates its keys (add, promote, disable, remove). Fresh keys, no files.\n"
    )
    ok = _jwe_profiles_demo(out, args.bits)
    ok &= _jwe_rotation_demo(out, args.bits)
    out.write("\n" + ("every envelope behaved as expected\n" if ok else "UNEXPECTED RESULT\n"))
    return EXIT_OK if ok else EXIT_INVALID


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gpay-envelope",
        description="Seal and open Google Pay partner-API envelopes (PGP, JWE).",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="seal and open with fresh keys through a key rotation")
    demo.add_argument(
        "--bits",
        type=int,
        default=2048,
        choices=(2048, 3072, 4096),
        help="RSA key size for the demo keys (default 2048, for speed)",
    )
    demo.set_defaults(run=_cmd_demo)
    tls = sub.add_parser(
        "tls-check",
        help="check an HTTPS endpoint against Google Pay's transport rules (T1-T4)",
    )
    add_tls_check_arguments(tls)
    tls.set_defaults(run=lambda args, out: run_tls_check(args))
    return p


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line; return the exit code."""
    stream = out or sys.stdout
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    try:
        code: int = args.run(args, stream)
    except EnvelopeError as exc:
        sys.stderr.write(f"gpay-envelope: {exc}\n")
        return EXIT_INVALID
    return code
