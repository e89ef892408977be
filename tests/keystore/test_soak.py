"""Rotation soak: threads seal and open continuously, both codecs, while the key sets go
through add / promote / disable / (re-enable) / remove.

Model. Each codec has an adapters `KeyHolder` (the library's) with one immutable `Keys` bundle
for one direction of the exchange: our identity keys (secret) and the peer's signing keys
(``signer``, secret: what it signs with); the keys the peer seals to (``recipients``, the
public halves of our identities) and the sender keys we trust (``senders``, the public halves
of its signer, the same statuses). The rotator changes one set with ``holder.update``; readers
read the bundle once.

- A sealer (the peer) reads a bundle and seals to its recipients with its signer set. The
  envelope records which keys it is encrypted to (JWE: the recipients' primary; PGP: every
  ENABLED recipient key) and signed by (JWE: the signer's primary; PGP: every ENABLED signer
  key).
- An opener picks an envelope, half the time among the newest, otherwise among all sealed so
  far (so one sealed many generations ago is opened too), reads the bundle *at open time*
  once, and calls ``ge.open_detailed`` with that bundle's identities and senders.

"Should" is defined from that open-time bundle G alone:

- it should decrypt iff some key it is encrypted to is in G.identities and ENABLED;
- it should verify iff some key it is signed by is in G.senders and ENABLED;
- so the expected outcome is InvalidEnvelope if it should not decrypt, else
  InvalidSignature if it should not verify, else the payload, with ``decrypted_with`` one of
  those identity keys and ``verified_by`` exactly the ENABLED signer keys (PGP) / the one
  signer (JWE).

Any difference is a failure: zero failed opens of envelopes that should open, zero successful
opens of envelopes that should not, and no wrong error type. Bounded by time (SOAK_SECONDS)
and by counts (MAX_SEALS, MAX_OPENS); the test asserts that every outcome kind occurred, so a
soak that never exercised refusals cannot pass.
"""

from __future__ import annotations

import functools
import random
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import pytest
from conftest import JWEParty
from pgp_fixtures import Party, pgp_party

import gpay_envelope as ge
from gpay_envelope.adapters import KeyHolder, Keys

pytestmark = pytest.mark.slow

SOAK_SECONDS = 8.0
MAX_SEALS = 4000
MAX_OPENS = 8000
FRESH = 32  # openers pick from the newest envelopes half the time, from all the others too
SEALERS, OPENERS = 2, 2


def bundle(identities: ge.KeySet, signer: ge.KeySet) -> Keys:
    """One generation: our identities, the peer's signer, and the public halves of both."""
    return Keys(
        identities=identities,
        senders=signer.public(),
        signer=signer,
        recipients=identities.public(),
    )


@dataclass
class Track:
    """The rotation state of one key set: add -> promote -> disable -> (re-enable ->
    disable ->) remove, then again with the next key of the pool."""

    pool: list[ge.Key]
    stage: int = 0
    new: str = ""
    old: str = ""

    def step(self, ks: ge.KeySet, rnd: random.Random) -> ge.KeySet:
        old = ks.primary.kid
        if self.stage == 0:  # add (ENABLED, not primary)
            candidates = [k for k in self.pool if k.kid not in ks]
            key = rnd.choice(candidates)
            self.new = key.kid
            self.stage = 1
            return ks.with_key(key)
        if self.stage == 1:  # promote
            self.stage = 2
            self.old = old
            return ks.with_primary(self.new)
        if self.stage == 2:  # disable the old primary
            self.stage = 3
            return ks.with_status(self.old, ge.KeyStatus.DISABLED)
        if rnd.random() < 0.3:  # re-enable it for a while (a rollback), then disable again
            self.stage = 2
            return ks.with_status(self.old, ge.KeyStatus.ENABLED)
        self.stage = 0  # remove
        return ks.without(self.old)


@dataclass(frozen=True)
class Sealed:
    codec: str
    envelope: bytes
    payload: bytes
    encrypted_to: frozenset[str]
    signed_by: tuple[str, ...]
    generation: int


def _enabled(ks: ge.KeySet, kid: str) -> bool:
    return kid in ks and ks.get(kid).status is ge.KeyStatus.ENABLED


def expected(item: Sealed, gen: Keys) -> tuple[str, frozenset[str], frozenset[str]]:
    """(outcome, identity kids that may decrypt, sender kids that must verify) under ``gen``."""
    can_decrypt = frozenset(k for k in item.encrypted_to if _enabled(gen.identities, k))
    verifiers = frozenset(k for k in item.signed_by if _enabled(gen.senders, k))
    if not can_decrypt:
        return "InvalidEnvelope", can_decrypt, verifiers
    if not verifiers:
        return "InvalidSignature", can_decrypt, verifiers
    return "opened", can_decrypt, verifiers


class Soak:
    def __init__(self, holders: dict[str, KeyHolder], tracks: dict[str, tuple[Track, Track]]):
        self.holders = holders
        self.tracks = tracks
        #: The generation number of every bundle a holder has held (for the failure messages).
        self.numbers: dict[Keys, int] = {h.get(): 0 for h in holders.values()}
        self.deadline = time.monotonic() + SOAK_SECONDS
        self.recent: list[Sealed] = []
        self.lock = threading.Lock()  # guards `recent` and the counters only
        self.seals = 0
        self.opens = 0
        self.generations = Counter[str]()
        self.outcomes = Counter[tuple[str, str]]()
        self.failures: list[str] = []
        self.errors: list[BaseException] = []
        self.stop = threading.Event()

    def running(self) -> bool:
        return (
            not self.stop.is_set()
            and time.monotonic() < self.deadline
            and self.seals < MAX_SEALS
            and self.opens < MAX_OPENS
        )

    def guard(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # recorded and re-raised in the main thread
            self.errors.append(exc)
            self.stop.set()

    # -- the rotator -----------------------------------------------------------------------
    def rotator(self, seed: int) -> None:
        rnd = random.Random(seed)
        while self.running():
            codec = rnd.choice(sorted(self.holders))
            turn = "identities" if rnd.random() < 0.5 else "signer"
            self.holders[codec].update(functools.partial(self.next_bundle, codec, turn, rnd))
            with self.lock:
                self.generations[codec] += 1
            time.sleep(rnd.uniform(0.002, 0.02))

    def next_bundle(self, codec: str, turn: str, rnd: random.Random, gen: Keys) -> Keys:
        """One rotation step of our identities or of the peer's signer (the rotator is the
        only writer); the new bundle is numbered before the holder hands it out."""
        ids_track, snd_track = self.tracks[codec]
        if turn == "identities":
            new = bundle(ids_track.step(gen.identities, rnd), gen.signer)
        else:
            new = bundle(gen.identities, snd_track.step(gen.signer, rnd))
        with self.lock:
            self.numbers[new] = self.numbers[gen] + 1
        return new

    # -- sealers ---------------------------------------------------------------------------
    def sealer(self, seed: int) -> None:
        rnd = random.Random(seed)
        while self.running():
            codec = rnd.choice(sorted(self.holders))
            gen = self.holders[codec].get()
            payload = b'{"n":"%s"}' % secrets.token_hex(8).encode()
            recipients = gen.recipients
            if codec == "jwe":
                profile = rnd.choice(["signed", "legacy"])
                to = frozenset({recipients.primary.kid})
                by: tuple[str, ...] = (gen.signer.primary.kid,)
            else:
                profile = rnd.choice(["default", "zip"])
                to = frozenset(k.kid for k in recipients.enabled())
                by = tuple(k.kid for k in gen.signer.enabled())
            envelope = ge.seal(payload, recipients=recipients, signer=gen.signer, codec=codec,
                               profile=profile)  # fmt: skip
            with self.lock:
                item = Sealed(codec, envelope, payload, to, by, self.numbers[gen])
                self.recent.append(item)
                self.seals += 1
            time.sleep(rnd.uniform(0, 0.004))  # leave the openers most of the time

    # -- openers ---------------------------------------------------------------------------
    def opener(self, seed: int) -> None:
        rnd = random.Random(seed)
        while self.running():
            with self.lock:
                pool = self.recent[-FRESH:] if rnd.random() < 0.5 else self.recent
                item = rnd.choice(pool) if pool else None
            if item is None:
                time.sleep(0.001)
                continue
            gen = self.holders[item.codec].get()  # the one read: "should" is judged on it
            want, may_decrypt, verifiers = expected(item, gen)
            try:
                res = ge.open_detailed(item.envelope, identities=gen.identities,
                                       senders=gen.senders)  # fmt: skip
            except (ge.InvalidEnvelope, ge.InvalidSignature) as exc:
                got = type(exc).__name__
                ok = got == want
            else:
                got = "opened"
                ok = (
                    want == "opened"
                    and res.plaintext == item.payload
                    and res.decrypted_with in may_decrypt
                    and frozenset(res.verified_by) == verifiers
                    and len(res.verified_by) == len(verifiers)
                )
            with self.lock:
                number = self.numbers[gen]
                self.opens += 1
                self.outcomes[(item.codec, got)] += 1
                if not ok:
                    self.failures.append(
                        f"{item.codec} sealed at generation {item.generation} to "
                        f"{sorted(item.encrypted_to)} by {list(item.signed_by)}, opened at "
                        f"{number} with identities {gen.identities!r} senders "
                        f"{gen.senders.kids}: expected {want}, got {got}"
                    )

    def run(self) -> None:
        threads = [threading.Thread(target=self.guard, args=(self.rotator, 1), daemon=True)]
        threads += [
            threading.Thread(target=self.guard, args=(self.sealer, 10 + i), daemon=True)
            for i in range(SEALERS)
        ]
        threads += [
            threading.Thread(target=self.guard, args=(self.opener, 20 + i), daemon=True)
            for i in range(OPENERS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=SOAK_SECONDS + 60)
        assert not any(t.is_alive() for t in threads), "a soak thread did not stop"


@pytest.fixture(scope="module")
def extra_jwe_signers() -> list[ge.Key]:
    return [ge.generate_key(kid=f"soak-sig-{i}", use="sig", size=2048) for i in (3, 4)]


def test_rotation_soak_both_codecs(
    partner: JWEParty,
    google: JWEParty,
    spare_keys: tuple[ge.Key, ...],
    extra_jwe_signers: list[ge.Key],
) -> None:
    pgp_keys: Party = pgp_party()
    jwe_ids = [*partner.identities, *spare_keys]
    jwe_sig = [*google.signer, *extra_jwe_signers]
    pgp_ids = [pgp_keys.keys[n] for n in ("g1", "g2", "g3")]
    pgp_sig = [pgp_keys.keys[n] for n in ("p1", "p2", "u1")]

    def first(keys: list[ge.Key]) -> ge.KeySet:
        return ge.KeySet(keys[:1], primary=keys[0].kid)

    holders = {
        "jwe": KeyHolder(bundle(first(jwe_ids), first(jwe_sig))),
        "pgp": KeyHolder(bundle(first(pgp_ids), first(pgp_sig))),
    }
    tracks = {"jwe": (Track(jwe_ids), Track(jwe_sig)), "pgp": (Track(pgp_ids), Track(pgp_sig))}
    soak = Soak(holders, tracks)
    soak.run()
    if soak.errors:
        raise soak.errors[0]
    summary = (
        f"{soak.seals} seals, {soak.opens} opens, generations {dict(soak.generations)}, "
        f"outcomes {dict(soak.outcomes)}"
    )
    print(f"\n[soak] {summary}")
    assert soak.failures == [], f"{len(soak.failures)} wrong outcomes ({summary}): " + "\n".join(
        soak.failures[:5]
    )
    for codec in ("jwe", "pgp"):
        assert soak.generations[codec] >= 10, summary
        for outcome in ("opened", "InvalidEnvelope", "InvalidSignature"):
            assert soak.outcomes[(codec, outcome)] > 0, f"no {codec} {outcome}: {summary}"


def test_the_oracle_can_fail(partner: JWEParty, google: JWEParty) -> None:
    """The soak's judge against hand-made generations: a stale envelope to a disabled key is
    InvalidEnvelope, to a removed signer InvalidSignature, and a current one opens."""
    a, b = list(partner.identities)
    ids = ge.KeySet([a, b], primary=a.kid)
    senders = google.public_sig
    env = Sealed("jwe", b"", b"x", frozenset({b.kid}), (senders.primary.kid,), 0)
    gen = bundle(ids, google.signer)
    assert expected(env, gen)[0] == "opened"
    disabled = replace(gen, identities=ids.with_status(b.kid, ge.KeyStatus.DISABLED))
    assert expected(env, disabled)[0] == "InvalidEnvelope"
    other = senders.with_primary(list(senders)[1].kid).without(senders.primary.kid)
    assert expected(env, replace(gen, senders=other))[0] == "InvalidSignature"
    assert expected(env, replace(gen, identities=ids.without(b.kid), senders=other))[0] == (
        "InvalidEnvelope"
    )
