"""Key lifecycle on disk: keyset manifests, key files, checks against Google's key rules, and
a watcher that picks up a changed manifest without a restart.

============================  ============================================================
module                        gives
============================  ============================================================
``keystore.manifest``         `Manifest` and its JSON form, `load_manifest`, `load_keyset`,
                              `save_manifest`
``keystore.edits``            the rotation steps: `init_manifest`, `add_key`, `promote_key`,
                              `set_key_status`, `remove_key`
``keystore.files``            `read_key_file` (OpenPGP, JWK, JWK Set, PEM), `is_manifest`,
                              `atomic_write`; `Revocation`, `LoadReport`
``keystore.watch``            `KeySetWatcher`: the current set, reloaded on a change;
                              `watched_keys`: a `KeyHolder` fed by watchers
``keystore.holder``           `Keys` (one exchange's four key sets) and `KeyHolder` (the
                              current `Keys`, swapped whole); the web adapters read it
``keystore.check``            `describe_key`, `check_key`, `check_keyset`: Google's key rules
``keystore.rotation``         `verify_rotation`: a new key tried inbound and outbound
``keystore.tokens``           a manifest entry for a PKCS#11 token key (docs/hsm.md)
============================  ============================================================

Everything is importable from ``gpay_envelope.keystore`` itself.

A key whose OpenPGP file carries its revocation is never trusted: the set loaders
(`load_manifest`, `load_keyset`, `KeySetWatcher`) leave it out, log it (ERROR) and report it
(`Revocation`, for `check_keyset`); docs/rotation.md says what happens when it was the primary.
"""

from __future__ import annotations

from .._policy import MAX_LIFETIME, ONE_YEAR
from .check import Finding, KeyInfo, PartInfo, check_key, check_keyset, describe_key
from .edits import add_key, init_manifest, promote_key, remove_key, resolve_kid, set_key_status
from .files import LoadReport, Revocation, is_manifest, read_key_file
from .holder import KeyHolder, KeyProvider, Keys
from .manifest import (
    MANIFEST_VERSION,
    Manifest,
    ManifestEntry,
    PassphraseRef,
    load_keyset,
    load_manifest,
    read_manifest,
    save_manifest,
)
from .watch import KeySetWatcher, watched_keys

__all__ = [
    "MANIFEST_VERSION",
    "MAX_LIFETIME",
    "ONE_YEAR",
    "Finding",
    "KeyHolder",
    "KeyInfo",
    "KeyProvider",
    "KeySetWatcher",
    "Keys",
    "LoadReport",
    "Manifest",
    "ManifestEntry",
    "PartInfo",
    "PassphraseRef",
    "Revocation",
    "add_key",
    "check_key",
    "check_keyset",
    "describe_key",
    "init_manifest",
    "is_manifest",
    "load_keyset",
    "load_manifest",
    "promote_key",
    "read_key_file",
    "read_manifest",
    "remove_key",
    "resolve_kid",
    "save_manifest",
    "set_key_status",
    "watched_keys",
]
