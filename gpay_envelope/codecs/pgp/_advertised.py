"""What an OpenPGP key asks its peers to send, next to what this version sends and reads.

A key's self-signature lists preferred ciphers, hashes, compression and AEAD ciphersuites, and
features. Peers choose what they send to the key from these, so a list that names something
`open` refuses, or a feature this version does not read, is a message that will not open;
a list that leaves out what `seal` sends is only informative (seal sends Google's profile to
every key). Used by `keystore.check.check_key` for `keys check`.
"""

from __future__ import annotations

from typing import Literal

from . import wire as op
from ._codec import OPEN_HASHES, SEAL_CIPHER, SEAL_HASH
from ._material import PGPMaterial

__all__ = ["advertised_findings"]

Level = Literal["warning", "note"]

# Registry numbers (RFC 9580 section 9), here only to name what a key lists.
_CIPHERS = {1: "IDEA", 2: "TripleDES", 3: "CAST5", 4: "Blowfish", 7: "AES128", 8: "AES192",
            9: "AES256", 10: "Twofish", 11: "Camellia128", 12: "Camellia192", 13: "Camellia256"}
_HASHES = {1: "MD5", 2: "SHA1", 3: "RIPEMD160", 8: "SHA256", 9: "SHA384", 10: "SHA512",
           11: "SHA224", 12: "SHA3-256", 14: "SHA3-512"}
_AEADS = {1: "EAX", 2: "OCB", 3: "GCM"}


def _name(table: dict[int, str], value: int) -> str:
    return table.get(value, f"unknown algorithm {value}")


def advertised_findings(material: PGPMaterial) -> list[tuple[Level, str]]:
    """(level, message) pairs about what ``material``'s self-signatures advertise."""
    prefs = material.preferences
    out: list[tuple[Level, str]] = []
    features = prefs.get(op.SUB_FEATURES, b"")
    flags = features[0] if features else 0
    if flags & op.FEATURE_SEIPD_V2:
        out.append((
            "note",
            "advertises SEIPDv2: peers may send RFC 9580 messages (v6 PKESK, AEAD), which this "
            "version opens; seal sends SEIPD v1, which every peer reads",
        ))
    if flags & op.FEATURE_LIBREPGP_OCB:
        out.append((
            "warning",
            "advertises LibrePGP's OCB-encrypted data (GnuPG 2.3 and later): a GnuPG peer may "
            "send it, and this version refuses it; turn the feature off (gpg: setpref without "
            "AEAD, or --rfc4880) or ask the peer to send SEIPD",
        ))
    if features and not flags & op.FEATURE_SEIPD_V1:
        out.append(("note", "does not advertise SEIPD v1 (MDC); seal sends it all the same"))
    readable = set(op.SYMMETRIC_KEY_SIZES)
    ciphers = prefs.get(op.SUB_PREFERRED_SYMMETRIC, b"")
    refused = [_name(_CIPHERS, c) for c in ciphers if c not in readable]
    if refused and ciphers[0] not in readable:
        out.append((
            "warning",
            f"prefers {refused[0]}, which open refuses: a peer picks the first cipher it "
            "shares with the key, and sends a message that will not open",
        ))
    elif refused:
        out.append((
            "note",
            f"also lists ciphers that open refuses ({', '.join(refused)}); peers pick the first "
            f"they share, {_name(_CIPHERS, ciphers[0])}",
        ))
    if ciphers and ciphers[0] != SEAL_CIPHER and ciphers[0] in readable:
        out.append((
            "note",
            f"prefers {_name(_CIPHERS, ciphers[0])}; seal encrypts with AES256 (Google's profile)",
        ))
    hashes_ = prefs.get(op.SUB_PREFERRED_HASH, b"")
    unverified = [_name(_HASHES, h) for h in hashes_ if h not in OPEN_HASHES]
    if unverified:
        out.append((
            "note",
            f"lists hashes that open does not verify ({', '.join(unverified)}); peers sign with "
            "their own choice, mostly the first listed",
        ))
    if hashes_ and hashes_[0] != SEAL_HASH:
        out.append((
            "note",
            f"prefers {_name(_HASHES, hashes_[0])}; seal signs with SHA384 (Google's profile)",
        ))
    suites = prefs.get(op.SUB_PREFERRED_AEAD, b"")
    pairs = [(suites[i], suites[i + 1]) for i in range(0, len(suites) - 1, 2)]
    odd = [f"{_name(_CIPHERS, c)}/{_name(_AEADS, a)}" for c, a in pairs
           if c not in readable or a not in _AEADS]
    if odd:
        out.append((
            "warning",
            f"prefers AEAD ciphersuites that open refuses ({', '.join(odd)})",
        ))
    return out
