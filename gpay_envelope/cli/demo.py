"""``demo``: a partner and a simulated Google exchange sealed messages while the partner
rotates its keys, JWE in memory and OpenPGP through key files, a manifest and a
`KeySetWatcher`. Fresh keys; nothing to configure."""

from __future__ import annotations

import argparse
import contextlib
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from .._api import open_detailed, seal
from .._keys import Key, KeySet, KeyStatus, utcnow
from .._policy import DEFAULT_LIFETIME, GENERATE_RSA_BITS, MIN_RSA_BITS
from ..codecs.jwe import generate_key
from ..errors import InvalidEnvelope, InvalidSignature
from ..keystore import (
    KeySetWatcher,
    add_key,
    init_manifest,
    load_keyset,
    load_manifest,
    promote_key,
    remove_key,
    set_key_status,
)
from ..keystore.rotation import verify_rotation
from ._common import (
    EXIT_INVALID,
    EXIT_OK,
    Commands,
    Ctx,
    Output,
    add_command,
    examples,
    keyset_cell,
    rows_table,
    write_all,
)
from ._newkeys import PUBLIC_MODE, generate_pgp, pgp_outputs


def _in_flight(
    envelope: bytes,
    *,
    identities: KeySet,
    senders: KeySet,
    should_open: bool,
    names: dict[str, str] | None = None,
) -> tuple[str, bool]:
    """Open a message sealed before the rotation began: the table cell, and whether it opened
    or was refused as the rotation rules say (``should_open``)."""
    try:
        old = open_detailed(envelope, identities=identities, senders=senders)
    except InvalidEnvelope:
        return "refused (InvalidEnvelope)", not should_open
    kid = old.decrypted_with if names is None else names[old.decrypted_with]
    return f"opened by {kid}", should_open


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
        old_cell, as_expected = _in_flight(
            in_flight, identities=ours, senders=google_trusts, should_open=old_should_open
        )
        ok &= as_expected
        rows.append([stage, keyset_cell(ours), published.primary.kid, new_cell, old_cell])
    rows_table(rows, out)
    return ok


def _jwe_profiles_demo(out: TextIO, bits: int) -> bool:
    """One message per JWE profile, and a forged one."""
    # One key for both families on purpose (a demo of every profile); a real key serves one
    # padding only (`legacy=True` binds RSA1_5 alone).
    both = ("RSA-OAEP-256", "RSA1_5")
    enc = generate_key(kid="google-enc-1", use="enc", size=bits, algorithms=both)
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
    rows_table(rows, out)
    return ok


def _quiet_logger() -> logging.Logger:
    log = logging.getLogger("gpay_envelope.manifest.demo")
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return log


def _partner_key(folder: Path, year: int, bits: int) -> tuple[Key, Path]:
    """The partner's OpenPGP key for ``year``, written to ``folder`` as an operator's
    `keys generate` would; the key and its secret file."""
    key, outputs = pgp_outputs(
        folder,
        f"partner-{year}",
        uid=f"Partner {year} <keys@partner.example>",
        bits=bits,
        days=DEFAULT_LIFETIME.days,
        passphrase=None,
    )
    write_all(outputs, force=False)
    return key, outputs[0].path


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
    p1, p1_secret = _partner_key(folder, 2026, bits)
    google_key, _, google_public = generate_pgp(
        uid="Google (simulated) <google@example.com>",
        bits=bits,
        days=DEFAULT_LIFETIME.days,
        passphrase=None,
    )
    write_all([Output(folder / "google.public.asc", google_public, PUBLIC_MODE, "")], force=False)
    google_self = KeySet([google_key], primary=google_key.kid)
    init_manifest(manifest, p1_secret, environment="sandbox")
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
        p2, p2_secret = _partner_key(folder, 2027, bits)
        state["p2"] = p2
        names[p2.kid] = "p2"
        ks = add_key(manifest, p2_secret)
        ok = verify_rotation(ks, p2.kid, now=utcnow(), warn_days=30, probe_bits=bits).ok
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
        old_cell, as_expected = _in_flight(
            in_flight,
            identities=ks,
            senders=partner_trusts,
            should_open=in_flight_opens,
            names=names,
        )
        ok &= as_expected
        rows.append([stage, step, keyset_cell(ks, names), g2p, p2g, old_cell])
    rows_table(rows, out)
    out.write(
        "p1, p2: the partner's keys (p1 primary at first); in flight: a message Google sealed\n"
        "to p1 before the rotation began. Each row: the operator step, the key set the\n"
        "partner's service holds after it, and one message each way.\n"
    )
    ok &= watcher.reloads == 4 and load_manifest(manifest).kids == (state["p2"].kid,)
    return ok


def _cmd_demo(args: argparse.Namespace, ctx: Ctx) -> int:
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


def add_parser(sub: Commands) -> None:
    """Add the ``demo`` command."""
    demo = add_command(
        sub,
        "demo",
        help="a full key rotation with fresh keys, PGP and JWE",
        description="Make fresh keys for a partner and for Google, then walk a whole rotation "
        "(add, verify, promote, disable, remove) sealing and opening envelopes both ways at each "
        "step, PGP and JWE; exit 1 if any envelope does not behave as expected.",
        epilog=examples(
            "gpay-envelope demo",
            "gpay-envelope demo --bits 3072 --workdir demo-keys  # keep the files to look at",
        ),
    )
    demo.add_argument(
        "--bits",
        type=int,
        default=MIN_RSA_BITS,
        choices=GENERATE_RSA_BITS,
        help=f"RSA key size for the demo keys (default {MIN_RSA_BITS}, for speed)",
    )
    demo.add_argument("--workdir", help="keep the demo's key files and manifest in this folder")
    demo.set_defaults(run=_cmd_demo)
