"""``open --explain``: why one of the operator's own envelopes does not open.

The library's `open` answers every bad envelope with the one opaque `InvalidEnvelope`, so that
a stranger learns nothing from the answer (docs/security.md). An operator looking at an
envelope on their own machine, with their own keys, needs the opposite: this module reads the
envelope's public structure (its encoding, the key ids and algorithms it names) and compares it
with the keys given, then tries the real `open_detailed` and reports only which stage failed.
It prints kids, algorithm names and counts, never key material or any byte of the payload.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .._api import open_detailed
from .._b64 import b64url_decode
from .._keys import Key, KeySet, KeyStatus
from ..errors import InvalidSignature, KeySetError, OpenError
from ..keystore import describe_key
from ..keystore.rotation import for_purpose

_ARMOR = b"-----BEGIN PGP MESSAGE-----"
_PKESK, _SEIPD, _MARKER, _PADDING = 1, 18, 10, 21


@dataclass
class Diagnosis:
    """What was found, in order; ``opens`` says whether the envelope opened."""

    lines: list[str] = field(default_factory=list)
    opens: bool = False

    def say(self, text: str) -> None:
        """Add one finding."""
        self.lines.append(text)


def _kids(keys: Iterable[Key]) -> str:
    return ", ".join(k.kid for k in keys) or "none"


def _key_state(key: Key, now: datetime) -> str | None:
    """Why ``key`` cannot be used now, or None."""
    if key.status is not KeyStatus.ENABLED:
        return "DISABLED in your set"
    if key.not_after is not None and key.not_after <= now:
        return f"expired on {key.not_after:%Y-%m-%d}"
    if key.not_before is not None and key.not_before > now:
        return f"not valid before {key.not_before:%Y-%m-%d}"
    return None


def _encoding(text: bytes, what: str, d: Diagnosis) -> bytes | None:
    """``text`` decoded as web-safe base64, or None with the reason said."""
    found = [c for c in "+/" if c.encode() in text]
    if found:
        d.say(
            f"{what}: {' and '.join(repr(c) for c in found)} found: standard base64, not "
            "web-safe base64url ('-' and '_'; RFC 4648 section 5)"
        )
        return None
    if any(c in text for c in b" \t\r\n"):
        d.say(f"{what}: whitespace inside the base64url text")
        return None
    try:
        return b64url_decode(text)
    except ValueError:
        d.say(f"{what}: not valid base64url (a character outside A-Z a-z 0-9 - _, or cut short)")
        return None


# -- JWE ------------------------------------------------------------------------------------
def _jwe_header(envelope: bytes, d: Diagnosis) -> dict[str, Any] | None:
    parts = envelope.split(b".")
    if len(parts) != 5:
        d.say(
            f"not a compact JWE: {len(parts)} part(s) separated by '.', a compact JWE has 5 "
            "(header.key.iv.ciphertext.tag)"
        )
        return None
    names = ("protected header", "encrypted key", "iv", "ciphertext", "tag")
    decoded = [_encoding(p, f"JWE {n}", d) for n, p in zip(names, parts, strict=True)]
    if decoded[0] is None:
        return None
    try:
        header = json.loads(decoded[0])
    except ValueError:
        d.say("JWE protected header: not JSON")
        return None
    if not isinstance(header, dict):
        d.say("JWE protected header: not a JSON object")
        return None
    shown = {k: header[k] for k in ("alg", "enc", "kid", "zip", "cty") if k in header}
    d.say(f"JWE header: {json.dumps(shown)}")
    return header


def _jwe_keys(header: dict[str, Any], identities: KeySet, now: datetime, d: Diagnosis) -> None:
    kid, alg = header.get("kid"), header.get("alg")
    mine = [k for k in identities if k.can("enc")]
    if kid is None:
        d.say(f"the envelope names no kid: every key is tried in turn ({_kids(mine)})")
        named = mine
    else:
        named = [k for k in mine if k.kid == kid]
        if not named:
            d.say(f"names kid {kid!r} while your encryption keys are {_kids(mine)}")
            return
    for key in named:
        state = _key_state(key, now)
        if state is not None:
            d.say(f"key {key.kid} is {state}: it does not open envelopes")
        elif alg not in key.algorithms:
            d.say(
                f"algorithm {alg} is not bound to key {key.kid} (it allows "
                f"{', '.join(sorted(key.algorithms))})"
            )
        elif not key.has_secret:
            d.say(f"key {key.kid} has no private half here: it cannot decrypt")


# -- OpenPGP --------------------------------------------------------------------------------
def _pgp_binary(envelope: bytes, d: Diagnosis) -> bytes | None:
    if envelope[:1] and envelope[0] & 0x80:
        d.say("OpenPGP: binary packets")
        return envelope
    if _ARMOR in envelope[:200]:
        from ..codecs.pgp import wire

        try:
            blocks = wire.dearmor(envelope, max_blocks=1, strict=True)
        except Exception:  # the armor reader's own error type: only its verdict counts
            d.say("OpenPGP: the ASCII armor is damaged (line, checksum or base64 error)")
            return None
        d.say("OpenPGP: ASCII armored")
        return blocks[0][1] if blocks else None
    raw = _encoding(envelope, "OpenPGP base64url text", d)
    if raw is not None:
        d.say("OpenPGP: web-safe base64 text")
    return raw


def _pgp_recipients(raw: bytes, d: Diagnosis) -> list[str | None] | None:
    """The key ids (hex) the public-key packets name (None: a wildcard), or None."""
    from ..codecs.pgp import wire

    try:
        packets = wire.read_packets(raw, max_packets=64)
    except Exception:  # the packet reader's Malformed, whatever its detail
        d.say("OpenPGP: the packets are malformed or cut short (truncated envelope?)")
        return None
    hints: list[str | None] = []
    tags = []
    for tag, body in packets:
        tags.append(tag)
        if tag == _PKESK and body[:1] == b"\x03" and len(body) >= 9:
            keyid = binascii.hexlify(body[1:9]).decode().upper()
            hints.append(None if set(keyid) == {"0"} else keyid)
        elif tag == _PKESK and body[:1] == b"\x06" and len(body) >= 3:
            hints.append(binascii.hexlify(body[3 : 2 + body[1]]).decode().upper() or None)
    if _SEIPD not in tags:
        d.say(
            "OpenPGP: no integrity-protected encrypted data packet (tag 18); messages "
            "without integrity protection or for a password only are refused"
        )
        return None
    if not hints:
        d.say("OpenPGP: no public-key encrypted session key packet: sealed to no key")
        return None
    return hints


def _pgp_keys(hints: list[str | None], identities: KeySet, now: datetime, d: Diagnosis) -> None:
    subkeys: dict[str, Key] = {}
    for key in identities:
        for part in describe_key(key).parts:
            if "encrypt" in part.usages:
                subkeys[part.key_id] = key
                subkeys[part.fingerprint] = key
    named = [h for h in hints if h is not None]
    shown = ", ".join(h or "(wildcard)" for h in hints)
    d.say(f"sealed to {len(hints)} key(s): {shown}")
    ours = {subkeys[h].kid: subkeys[h] for h in named if h in subkeys}
    if named and not ours and None not in hints:
        mine = ", ".join(sorted(k for k in subkeys if len(k) == 16)) or "none"
        d.say(f"names key id(s) {', '.join(named)} while your encryption subkeys are {mine}")
        return
    for key in ours.values():
        state = _key_state(key, now)
        if state is not None:
            d.say(f"key {key.kid} is {state}: it does not open envelopes")
        elif not key.has_secret:
            d.say(f"key {key.kid} has no private half here: it cannot decrypt")


# -- the whole diagnosis --------------------------------------------------------------------
def _structure(envelope: bytes, identities: KeySet, now: datetime, d: Diagnosis) -> None:
    if identities.codec == "jwe":
        header = _jwe_header(envelope, d)
        if header is not None:
            _jwe_keys(header, identities, now, d)
        return
    raw = _pgp_binary(envelope, d)
    hints = _pgp_recipients(raw, d) if raw is not None else None
    if hints is not None:
        _pgp_keys(hints, identities, now, d)


def _senders_note(senders: KeySet | None, now: datetime, d: Diagnosis) -> None:
    if senders is None:
        d.say("no --from keys given: a signed envelope cannot be verified")
        return
    signers = [k for k in senders if k.can("sig")]
    usable = [k for k in signers if _key_state(k, now) is None]
    for key in signers:
        state = _key_state(key, now)
        if state is not None:
            d.say(f"sender key {key.kid} is {state}: signatures by it are not accepted")
    d.say(f"trusted signers (--from): {_kids(usable)}")


def explain(
    envelope: bytes,
    *,
    identities: KeySet,
    senders: KeySet | None,
    allow_unsigned: bool,
    now: datetime,
) -> Diagnosis:
    """Diagnose ``envelope`` against the operator's keys; nothing of the payload is kept."""
    d = Diagnosis()
    d.say(f"envelope: {len(envelope)} bytes; your {identities.codec} keys: {_kids(identities)}")
    stripped = envelope.strip()
    if not stripped:
        d.say("the envelope is empty")
        return d
    looks_pgp = stripped[:1] and (stripped[0] & 0x80 or _ARMOR in stripped[:200])
    if identities.codec == "jwe" and looks_pgp:
        d.say("this is an OpenPGP envelope, but your --identity keys are JWE keys")
        return d
    if identities.codec == "pgp" and stripped.count(b".") == 4:
        d.say("this looks like a compact JWE, but your --identity keys are OpenPGP keys")
        return d
    _structure(stripped, identities, now, d)
    _senders_note(senders, now, d)
    try:
        result = open_detailed(
            envelope,
            identities=for_purpose(identities, "enc", label="--identity"),
            senders=for_purpose(senders, "sig", label="--from") if senders else None,
            allow_unsigned=allow_unsigned,
        )
    except KeySetError as exc:
        d.say(f"the keys cannot open anything: {exc}")
    except InvalidSignature:
        d.say(
            "it decrypts with your keys, but carries no valid signature by a trusted key "
            "(signed by another key, by an expired or disabled one, or not signed)"
        )
    except OpenError:
        d.say("it does not decrypt with your keys (another recipient, a damaged or cut envelope)")
    else:
        signers = ", ".join(result.verified_by) or "nobody (unsigned)"
        d.say(
            f"it opens: decrypted with {result.decrypted_with}, signed by {signers} "
            f"({' '.join(result.algorithms)}); {len(result.plaintext)} bytes of payload, not shown"
        )
        d.opens = True
        del result
    return d
