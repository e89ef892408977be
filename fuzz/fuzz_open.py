"""Coverage-guided fuzzing of ``gpay_envelope.open()`` with atheris (libFuzzer), per codec.

    python fuzz/fuzz_open.py --codec jwe -atheris_runs=20000           # a number of inputs
    python fuzz/fuzz_open.py --codec pgp -max_total_time=50            # a time budget
    python fuzz/fuzz_open.py --codec jwe --replay tests/fuzz_corpus/jwe  # no atheris needed
    python fuzz/fuzz_open.py --make-corpus                             # rewrite fuzz/corpus

Any other ``-flag=value`` goes to libFuzzer. Defaults added unless given: ``-timeout=10``
(seconds per input: a hang is a finding), ``-rss_limit_mb=512`` (memory: an input that makes
the process grow past it is a finding), ``-max_len=8192``, ``-print_final_stats=1``. When no
corpus directory is given, new inputs go to a temporary directory and fuzz/corpus/<codec>/ is
read as the seed corpus, so the committed seeds never change by running the fuzzer.

Input format: the first byte selects what the rest is.

- odd (``E``, ``G``): an *envelope*, handed to ``ge.open`` as it is. ``G`` (bit 1 set) opens
  with ``allow_unsigned=True``. Authenticated encryption stops byte mutations at the tag or
  MDC, so this mode fuzzes everything up to and including decryption.
- even (``D``): *decrypted content*, which the harness encrypts to our identity key the way
  anybody holding our public key can, so the fuzzer reaches what runs after decryption:
  DEFLATE / ZIP / ZLIB / BZip2 inflation, packet and signature parsing, the nested JWS. Byte 1
  holds flags (JWE: alg, enc, zip, cty, kid, allow_unsigned; PGP: cipher, allow_unsigned,
  wildcard key id), the rest is the content (JWE: with ``zip`` it is the raw DEFLATE stream).

The oracle (`Harness.check`) fails, i.e. raises, when:

- anything but `InvalidEnvelope` / `InvalidSignature` leaves ``ge.open``, or one of them has
  another message, a ``__cause__`` or a ``__context__``;
- an envelope opens to a payload nobody sealed (envelope mode: only the seeds' payloads can
  authenticate), or a signature verifies on a payload none of our signers signed;
- an envelope without a verified signature opens although unsigned envelopes were not allowed;
- ``decrypted_with`` / ``verified_by`` name a key that is not in the key sets.

It also records *codec escapes*: exceptions other than the two that a codec lets out and
``ge.open`` turns into `InvalidEnvelope`. Not a contract violation (the error contract in
gpay_envelope/_api.py allows it), but each is a parser that did not expect its input; the
first input of each kind is written to the artifact directory. ``--strict-codec`` makes
them findings.

The keys in fuzz/keys/ are throw-away test keys (RSA-2048), made by ``--make-corpus``.
Signatures and key validity are checked at a fixed time stored with them, so the seeds keep
verifying after the keys expire.
"""

from __future__ import annotations

import argparse
import base64
import bz2
import hashlib
import json
import os
import random
import struct
import sys
import tempfile
import traceback
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FUZZ_DIR = Path(__file__).resolve().parent
KEYS_DIR = FUZZ_DIR / "keys"
CORPUS_DIR = FUZZ_DIR / "corpus"
VECTORS = FUZZ_DIR.parent / "tests" / "vectors"
CODECS = ("jwe", "pgp")
#: What the JWE identity keys are bound to: both RSA paddings, on purpose (every seed decrypts).
EVERY_JWE_KEY_ALG = ("RSA-OAEP-256", "RSA-OAEP", "RSA1_5")

#: Payloads the seeds carry; the only plaintexts an envelope-mode input may open to.
PAYLOADS = (
    b'{"requestHeader":{"requestId":"fuzz-1","protocolVersion":{"major":1}},"amount":"12.34"}',
    json.dumps({"memo": "caf\u00e9 \u2713 Z\u00fcrich", "rows": list(range(40))}).encode(),
    b"line one\r\nline two\r\n",
)
ENVELOPE, ENVELOPE_UNSIGNED, CONTENT = b"E", b"G", b"D"

JWE_ENCS = ("A256GCM", "A128GCM", "A192GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512")


class Finding(AssertionError):
    """The oracle saw a contract violation (what libFuzzer reports as a crash)."""


# -- keys -----------------------------------------------------------------------------------
def _meta() -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((KEYS_DIR / "meta.json").read_text())
    return meta


def fuzz_now() -> datetime:
    """The fixed time signatures and key validity are checked against."""
    return datetime.fromtimestamp(_meta()["now"], timezone.utc)


def _cookbook(name: str) -> Any:
    return json.loads((VECTORS / "rfc7520-cookbook" / name).read_text(encoding="utf-8"))


def _wycheproof_rsa() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first RSA group of Wycheproof's JWE vectors: its key and its valid tests."""
    path = VECTORS / "wycheproof" / "testvectors_v1" / "json_web_encryption_test.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    group = next(g for g in data["testGroups"] if g["private"].get("kty") == "RSA")
    return group["private"], [t for t in group["tests"] if t["result"] == "valid"]


class Keys:
    """The key sets one codec's harness opens with, and the payloads they can legitimately
    yield."""

    def __init__(self, codec: str) -> None:
        import gpay_envelope as ge

        self.codec = codec
        self.now = fuzz_now()
        self.known: set[bytes] = set(PAYLOADS)
        self.known_signed: set[bytes] = set(PAYLOADS)
        if codec == "jwe":
            ours = ge.KeySet.from_jwks((KEYS_DIR / "jwe.json").read_text())
            # Bound to both paddings on purpose, so that every seed reaches decryption.
            enc = [k.with_algorithms(EVERY_JWE_KEY_ALG) for k in ours if k.use == "enc"]
            sig = [k for k in ours if k.use == "sig"]
            extra_ids: list[ge.Key] = []
            extra_sig: list[ge.Key] = []
            for name in (
                "jwe/5_1.key_encryption_using_rsa_v15_and_aes-hmac-sha2.json",
                "jwe/5_2.key_encryption_using_rsa-oaep_with_aes-gcm.json",
            ):
                case = _cookbook(name)
                extra_ids.append(
                    ge.Key.from_jwk(case["input"]["key"], algorithms=[case["input"]["alg"]])
                )
                self.known.add(case["input"]["plaintext"].encode())
            # Section 6 encrypts to the section 5.2 key (same kid, same modulus).
            nested = _cookbook("6.nesting_signatures_and_encryption.json")
            extra_sig.append(ge.Key.from_jwk(nested["sign"]["input"]["key"]).public())
            self.known_signed.add(nested["sign"]["input"]["payload"].encode())
            jwk, tests = _wycheproof_rsa()
            wycheproof = ge.Key.from_jwk(jwk)
            self.known.update(bytes.fromhex(t["pt"]) for t in tests)
            self.known |= self.known_signed
            # Section 6 and Wycheproof envelopes carry no kid and the trial stops after
            # max_trials (3) RSA-OAEP keys: Samwise second, Wycheproof third.
            frodo, samwise = extra_ids
            self.identities = ge.KeySet(
                [enc[0], samwise, wycheproof, *enc[1:], frodo], primary=enc[0].kid
            )
            self.signer = ge.KeySet(sig, primary=sig[0].kid)
            self.senders = ge.KeySet(
                [*self.signer.public(), *extra_sig], primary=self.signer.primary.kid
            )
        else:
            ids = ge.KeySet.from_pgp((KEYS_DIR / "pgp-identities.asc").read_bytes())
            signer = ge.KeySet.from_pgp((KEYS_DIR / "pgp-senders.asc").read_bytes())
            self.identities = ids
            self.signer = signer
            self.senders = signer.public()
        self.recipients = self.identities.public()
        self.identity_kids = frozenset(self.identities.kids)
        self.sender_kids = frozenset(self.senders.kids)


def make_keys() -> None:
    """Generate fresh throw-away keys into fuzz/keys/ (the seeds must be re-made after)."""
    import gpay_envelope as ge
    from gpay_envelope.codecs.pgp import generate_pgp_key, key_to_pgp

    KEYS_DIR.mkdir(parents=True, exist_ok=True)
    enc = [
        ge.generate_key(kid=f"fuzz-enc-{i}", use="enc", size=2048, algorithms=EVERY_JWE_KEY_ALG)
        for i in (1, 2)
    ]
    sig = [ge.generate_key(kid=f"fuzz-sig-{i}", use="sig", size=2048) for i in (1, 2)]
    jwks = ge.KeySet([*enc, *sig], primary=enc[0].kid).to_jwks(include_private=True)
    (KEYS_DIR / "jwe.json").write_text(json.dumps(jwks, indent=1) + "\n")
    roles = (("identities", ("fuzz-g1", "fuzz-g2")), ("senders", ("fuzz-p1", "fuzz-p2")))
    for role, names in roles:
        keys = [generate_pgp_key(uid=f"{n} <{n}@fuzz.example>", size=2048) for n in names]
        blob = b"".join(key_to_pgp(k, include_private=True) for k in keys)
        (KEYS_DIR / f"pgp-{role}.asc").write_bytes(blob)
    created = max(
        k.material.parts[0].created  # type: ignore[attr-defined]
        for k in ge.KeySet.from_pgp((KEYS_DIR / "pgp-senders.asc").read_bytes())
    )
    meta = {
        "now": created + 3600,
        "note": "Throw-away RSA-2048 test keys for fuzz/fuzz_open.py. Never use them for "
        "anything else. 'now' is the fixed time the harness checks signatures against.",
    }
    (KEYS_DIR / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


# -- building content-mode envelopes --------------------------------------------------------
class _Sealer:
    """Encrypts arbitrary content to our identity key, as an attacker with our public key can.

    PKESKs (the RSA public-key step) are made once per cipher; each input only pays for the
    symmetric encryption.
    """

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        if keys.codec == "pgp":
            from gpay_envelope.codecs.pgp import wire as op

            self.op = op
            now = int(keys.now.timestamp())
            part = keys.recipients.primary.material.encryption_parts(now)[0]  # type: ignore[attr-defined]
            self.pgp: dict[tuple[int, bool], tuple[bytes, bytes]] = {}
            for cipher in (op.SYM_AES256, op.SYM_AES128, op.SYM_AES192):
                session = hashlib.sha256(bytes((cipher,))).digest()[
                    : op.SYMMETRIC_KEY_SIZES[cipher]
                ]
                payload = op.session_key_payload(cipher, session)
                for wildcard in (False, True):
                    keyid = b"\0" * 8 if wildcard else part.keyid
                    pkesk = op.pkesk_packet(keyid, part.public_key, payload)
                    self.pgp[(cipher, wildcard)] = (session, pkesk)
        else:
            from joserfc._rfc7516.models import JWEZipModel

            from gpay_envelope.codecs.jwe import _joserfc as jx

            class Raw(JWEZipModel):
                name = "DEF"
                description = "pass-through: the input is the DEFLATE stream"

                def compress(self, s: bytes) -> bytes:
                    return s

                def decompress(self, s: bytes) -> bytes:
                    return s

            registry = jx.OpenJWERegistry(max_ciphertext=1 << 24, inflate_cap=1 << 20)
            raw = Raw()
            registry.get_zip = lambda name: raw  # type: ignore[method-assign]
            self.jwe_registry = registry

    def pgp_envelope(self, flags: int, content: bytes) -> tuple[bytes, bool]:
        op = self.op
        cipher = (op.SYM_AES256, op.SYM_AES128, op.SYM_AES192, op.SYM_AES256)[flags & 3]
        session, pkesk = self.pgp[(cipher, bool(flags & 8))]
        return pkesk + op.encrypt_seipd(session, content), bool(flags & 4)

    def jwe_envelope(self, flags: int, content: bytes) -> tuple[bytes, bool]:
        from joserfc import jwe

        key = self.keys.identities.primary
        header: dict[str, Any] = {
            "alg": "RSA1_5" if flags & 1 else "RSA-OAEP-256",
            "enc": (*JWE_ENCS, "A256GCM", "A128CBC-HS256")[(flags >> 1) & 7],
        }
        if flags & 16:
            header["zip"] = "DEF"
        if flags & 32:
            header["cty"] = "JWT"
        if flags & 64:
            header["kid"] = key.kid
        token = jwe.encrypt_compact(
            header,
            content,
            key.material.jose,  # type: ignore[attr-defined]
            registry=self.jwe_registry,
        )
        return token.encode("ascii"), bool(flags & 128)


# -- the oracle -----------------------------------------------------------------------------
def _canonical(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class Escapes:
    """Codec escapes: exceptions other than the library's two that a codec let out."""

    def __init__(self, outdir: Path | None) -> None:
        self.outdir = outdir
        self.seen: dict[str, int] = {}
        self.last: str | None = None

    def record(self, exc: BaseException, data: bytes) -> None:
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if "gpay_envelope" in f.filename or "joserfc" in f.filename
        ]
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        key = f"{type(exc).__name__} at {where}"
        self.last = key
        first = key not in self.seen
        self.seen[key] = self.seen.get(key, 0) + 1
        if first:
            print(f"\n[fuzz_open] codec escape: {key}: {exc!r}"[:400], file=sys.stderr)
            if self.outdir is not None:
                self.outdir.mkdir(parents=True, exist_ok=True)
                name = "escape-" + hashlib.sha1(data).hexdigest()  # noqa: S324 - a file name
                (self.outdir / name).write_bytes(data)


def peak_rss_kib() -> int | None:
    """This process's peak resident set (VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Harness:
    """Runs one input through ``ge.open`` and checks the contract (see the module docstring).

    ``memory_mib``: when set, an input that raises the process's peak RSS more than this
    above its level after start-up is a finding (docs/hardening.md: < 64 MiB per envelope).
    """

    def __init__(
        self,
        codec: str,
        *,
        escapes_dir: Path | None = None,
        strict_codec: bool = False,
        memory_mib: int | None = None,
    ) -> None:
        import gpay_envelope as ge

        self.ge = ge
        self.keys = Keys(codec)
        self.sealer = _Sealer(self.keys)
        self.escapes = Escapes(escapes_dir)
        self.strict_codec = strict_codec
        self.current = b""
        self.outcomes: dict[str, int] = {}
        from gpay_envelope.codecs import default_registry

        inner = default_registry.get(codec)
        harness = self

        class Recording:
            name = inner.name
            profiles = inner.profiles

            def seal(self, request: Any) -> bytes:
                return inner.seal(request)

            def open(self, request: Any) -> Any:
                try:
                    return inner.open(request)
                except (ge.InvalidEnvelope, ge.InvalidSignature):
                    raise
                except Exception as exc:
                    harness.escapes.record(exc, harness.current)
                    raise

        self.registry = ge.CodecRegistry()
        self.registry.register(codec, Recording)
        self.known_canonical = {_canonical(p) for p in self.keys.known_signed}
        self.memory_kib: int | None = None
        if memory_mib is not None:
            for path in corpus_files([CORPUS_DIR / codec]):  # warm up: caches, registries
                self.check(path.read_bytes())
            base = peak_rss_kib()
            self.memory_kib = None if base is None else base + memory_mib * 1024
            self.outcomes.clear()

    def envelope_of(self, data: bytes) -> tuple[bytes, bool, bool] | None:
        """(envelope, allow_unsigned, content_mode) for an input; None for an empty one."""
        if not data:
            return None
        mode, body = data[0], data[1:]
        if mode & 1:
            return body, bool(mode & 2), False
        if not body:
            return None
        flags, content = body[0], body[1:]
        if self.keys.codec == "pgp":
            env, unsigned = self.sealer.pgp_envelope(flags, content)
        else:
            env, unsigned = self.sealer.jwe_envelope(flags, content)
        return env, unsigned, True

    def check(self, data: bytes) -> str:
        """Run one input; return the outcome's name. Raises `Finding` on a violation."""
        ge = self.ge
        made = self.envelope_of(data)
        if made is None:
            return "empty"
        envelope, allow_unsigned, content_mode = made
        self.current = data
        self.escapes.last = None
        try:
            res = ge.open_detailed(
                envelope,
                identities=self.keys.identities,
                senders=self.keys.senders,
                allow_unsigned=allow_unsigned,
                registry=self.registry,
                now=self.keys.now,
            )
        except (ge.InvalidEnvelope, ge.InvalidSignature) as exc:
            if type(exc) not in (ge.InvalidEnvelope, ge.InvalidSignature):
                raise Finding(f"a subclass escaped: {type(exc)!r}") from None
            if exc.__cause__ is not None or exc.__context__ is not None:
                raise Finding("the error carries a cause or context") from None
            if str(exc) != type(exc).MESSAGE or exc.args != (type(exc).MESSAGE,):
                raise Finding(f"the error message changed: {exc.args!r}") from None
            if self.strict_codec and self.escapes.last is not None:
                raise Finding(f"codec escape: {self.escapes.last}") from None
            outcome = type(exc).__name__
        else:
            self._check_opened(res, allow_unsigned=allow_unsigned, content_mode=content_mode)
            outcome = "opened-signed" if res.verified_by else "opened-unsigned"
        if self.memory_kib is not None:
            peak = peak_rss_kib()
            if peak is not None and peak > self.memory_kib:
                raise Finding(f"peak RSS {peak} KiB is over the per-input budget")
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        return outcome

    def _check_opened(self, res: Any, *, allow_unsigned: bool, content_mode: bool) -> None:
        keys = self.keys
        if res.decrypted_with not in keys.identity_kids:
            raise Finding(f"decrypted_with {res.decrypted_with!r} is not an identity key")
        if not set(res.verified_by) <= keys.sender_kids:
            raise Finding(f"verified_by {res.verified_by!r} names unknown senders")
        if not res.verified_by and not allow_unsigned:
            raise Finding("opened without a verified signature, unsigned not allowed")
        if len(res.plaintext) > self.ge.DEFAULT_LIMITS.max_plaintext:
            raise Finding("a plaintext over max_plaintext was returned")
        if res.verified_by and _canonical(res.plaintext) not in self.known_canonical:
            raise Finding("a signature verified on a payload none of our signers signed")
        if not content_mode and res.plaintext not in keys.known:
            raise Finding("an envelope opened to a payload nobody sealed")


# -- structure-aware mutation ---------------------------------------------------------------
_JWE_VALUES: dict[str, list[Any]] = {
    "alg": ["RSA1_5", "RSA-OAEP", "RSA-OAEP-256", "dir", "none", "A128KW", "ECDH-ES", "", 1,
            None, ["RSA1_5"], {"a": 1}, "RSA1_5\u0000", "rsa1_5"],
    "enc": [*JWE_ENCS, "A128CBC", "none", "", 0, None, ["A256GCM"]],
    "zip": ["DEF", "def", "GZIP", "", None, 1, ["DEF"]],
    "kid": ["fuzz-enc-1", "fuzz-enc-2", "", "x" * 300, 7, None, ["fuzz-enc-1"], {"k": "v"}],
    "cty": ["JWT", "jwt", "JOSE", "application/json", "", 1, None, ["JWT"]],
    "typ": ["JOSE", "JWT", 1],
    "crit": [["exp"], [], "zip", ["b64"]],
    "b64": [False, True],
    "x5u": ["http://127.0.0.1/"],
    "jku": ["http://127.0.0.1/"],
}  # fmt: skip


def mutate_json_header(raw: bytes, rnd: random.Random) -> bytes:
    """Change, add or drop one member of a JSON header, or break its JSON."""
    try:
        head = json.loads(raw)
    except ValueError:
        head = None
    if not isinstance(head, dict):
        return raw
    name = rnd.choice(sorted(_JWE_VALUES))
    choice = rnd.randrange(10)
    if choice == 0:
        head.pop(name, None)
    elif choice == 1:
        return json.dumps(head).encode()[: rnd.randrange(1, 40)]
    elif choice == 2:
        return (json.dumps(head)[:-1] + f', "{name}": 1, "{name}": 2}}').encode()  # duplicates
    else:
        head[name] = rnd.choice(_JWE_VALUES[name])
    return json.dumps(head, separators=(",", ":")).encode()


def _b64d(seg: bytes) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(seg + b"=" * (-len(seg) % 4))
    except ValueError:
        return None


def _b64e(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def split_packets(data: bytes) -> list[tuple[int, bytes]] | None:
    """A lenient packet splitter for mutation (definite lengths only); None if it fails."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data) and len(out) < 64:
        ctb = data[pos]
        if not ctb & 0x80:
            return None
        if ctb & 0x40:
            tag = ctb & 0x3F
            if pos + 1 >= len(data):
                return None
            first = data[pos + 1]
            if first < 192:
                size, hdr = first, 2
            elif first < 224 and pos + 2 < len(data):
                size, hdr = ((first - 192) << 8) + data[pos + 2] + 192, 3
            elif first == 255 and pos + 5 < len(data):
                size, hdr = struct.unpack(">I", data[pos + 2 : pos + 6])[0], 6
            else:
                return None
        else:
            tag, kind = (ctb >> 2) & 0x0F, ctb & 3
            if kind == 3:
                size, hdr = len(data) - pos - 1, 1
            else:
                width = 1 << kind
                size, hdr = int.from_bytes(data[pos + 1 : pos + 1 + width], "big"), 1 + width
        body = data[pos + hdr : pos + hdr + size]
        if len(body) != size:
            return None
        out.append((tag, body))
        pos += hdr + size
    return out


def _header(tag: int, size: int, style: int) -> bytes:
    """A packet header in one of several spellings (new/old format, widths)."""
    if style == 0 or tag > 15:
        if size < 192:
            return bytes((0xC0 | tag, size))
        if size < 8384:
            n = size - 192
            return bytes((0xC0 | tag, (n >> 8) + 192, n & 0xFF))
        return bytes((0xC0 | tag, 255)) + struct.pack(">I", size)
    if style == 1:
        return bytes((0xC0 | tag, 255)) + struct.pack(">I", size)
    if style == 2 and size < 256:
        return bytes((0x80 | (tag << 2), size))
    if style == 3:
        return bytes((0x80 | (tag << 2) | 2,)) + struct.pack(">I", size)
    return bytes((0x80 | (tag << 2) | 1,)) + struct.pack(">H", size & 0xFFFF)


def _partial(tag: int, body: bytes, chunk_exp: int) -> bytes:
    """A new-format packet with partial body lengths of 2**chunk_exp bytes."""
    size = 1 << chunk_exp
    out = [bytes((0xC0 | tag,))]
    pos = 0
    while len(body) - pos > size:
        out.append(bytes((224 + chunk_exp,)) + body[pos : pos + size])
        pos += size
    rest = body[pos:]
    out.append(_header(tag, len(rest), 0)[1:] + rest)
    return b"".join(out)


def mutate_packets(data: bytes, rnd: random.Random, byte_mutate: Callable[[bytes], bytes]) -> bytes:
    """One structural change to an OpenPGP packet sequence."""
    packets = split_packets(data)
    if not packets:
        return byte_mutate(data)
    i = rnd.randrange(len(packets))
    tag, body = packets[i]
    choice = rnd.randrange(9)
    if choice == 0:  # another tag
        packets[i] = (rnd.choice([1, 2, 3, 4, 8, 9, 10, 11, 18, 19, 20, 60, 63]), body)
    elif choice == 1:  # the body mutated
        packets[i] = (tag, byte_mutate(body))
    elif choice == 2:  # a packet duplicated or dropped
        if rnd.randrange(2):
            packets.insert(i, packets[i])
        else:
            del packets[i]
    elif choice == 3 and tag == 8 and body:  # another compression algorithm
        packets[i] = (tag, bytes((rnd.choice([0, 1, 2, 3, 4, 110, 255]),)) + body[1:])
    elif choice == 4:  # wrap everything from i on in a compressed packet
        algo = rnd.choice([0, 1, 2, 3])
        rest = b"".join(_header(t, len(b), 0) + b for t, b in packets[i:])
        if algo == 1:
            c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            rest = c.compress(rest) + c.flush()
        elif algo == 2:
            rest = zlib.compress(rest)
        elif algo == 3:
            rest = bz2.compress(rest)
        packets[i:] = [(8, bytes((algo,)) + rest)]
    elif choice == 5 and len(packets) > 1:  # two packets swapped
        j = rnd.randrange(len(packets))
        packets[i], packets[j] = packets[j], packets[i]
    out = []
    for n, (t, b) in enumerate(packets):
        if n == i and choice in (6, 7) and t < 64:
            out.append(_partial(t, b, rnd.choice([0, 1, 4, 9, 12])) if choice == 6 else b"")
            if choice == 7:  # a header in another spelling, possibly a wrong length
                size = len(b) + rnd.choice([0, 0, 0, -1, 1, 1 << 31])
                out.append(_header(t, max(size, 0) & 0xFFFFFFFF, rnd.randrange(5)) + b)
        elif n == i and choice == 8:  # old-format indeterminate length
            out.append(bytes((0x80 | ((t & 15) << 2) | 3,)) + b)
        else:
            out.append(_header(t, len(b), 0) + b)
    return b"".join(out)


def _pgp_forms(body: bytes) -> tuple[bytes, Callable[[bytes], bytes]] | None:
    """The binary message inside an envelope-mode PGP input, and how to spell it again."""
    if body[:1] and body[0] & 0x80:
        return body, lambda b: b
    if body.startswith(b"-----BEGIN PGP MESSAGE-----"):
        from gpay_envelope.codecs.pgp import wire as op

        try:
            blocks = op.dearmor(body, max_blocks=1, strict=True)
        except op.Malformed:
            return None
        return (blocks[0][1], lambda b: op.armor("MESSAGE", b)) if blocks else None
    raw = _b64d(body.strip().rstrip(b"="))
    if raw is None:
        return None
    padded = body.strip().endswith(b"=")
    return raw, (lambda b: base64.urlsafe_b64encode(b) if padded else _b64e(b))


def custom_mutator(codec: str, byte_mutate: Callable[[bytes, int], bytes]) -> Any:
    """A libFuzzer custom mutator: byte mutations most of the time, and structure-aware ones
    that look through base64, JSON headers and packet framing the rest of the time."""

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        rnd = random.Random(seed)  # noqa: S311 - mutation choices, not secrets
        choice = rnd.randrange(10)
        if not data or choice < 4:
            return byte_mutate(data, max_size)
        mode, body = data[:1], data[1:]

        def bytes_of(b: bytes) -> bytes:
            return byte_mutate(b, max(2 * len(b), 64))

        if choice == 4:
            return bytes((data[0] ^ rnd.choice([1, 2]),)) + body  # another mode
        out = None
        if mode[0] & 1 and codec == "jwe" and body.count(b".") == 4:
            segs = body.split(b".")
            i = rnd.choice([0, 0, 1, 2, 3, 4])
            raw = _b64d(segs[i])
            if raw is not None:
                raw = mutate_json_header(raw, rnd) if i == 0 else bytes_of(raw)
                segs[i] = _b64e(raw)
                out = mode + b".".join(segs)
        elif mode[0] & 1 and codec == "pgp":
            forms = _pgp_forms(body)
            if forms is not None:
                raw, spell = forms
                out = mode + spell(mutate_packets(raw, rnd, bytes_of))
        elif not mode[0] & 1 and len(body) > 1:
            flags, content = body[:1], body[1:]
            if choice == 5:
                flags = bytes((flags[0] ^ (1 << rnd.randrange(8)),))
            elif codec == "pgp":
                content = mutate_packets(content, rnd, bytes_of)
            elif content.count(b".") == 2:  # a nested JWS
                segs = content.split(b".")
                i = rnd.randrange(3)
                raw = _b64d(segs[i])
                if raw is not None:
                    raw = mutate_json_header(raw, rnd) if i == 0 else bytes_of(raw)
                    segs[i] = _b64e(raw)
                    content = b".".join(segs)
            else:
                content = bytes_of(content)
            out = mode + flags + content
        if out is None or len(out) > max_size:
            return byte_mutate(data, max_size)
        return out

    return mutate


# -- the seed corpus ------------------------------------------------------------------------
def _jws(keys: Keys, payload: bytes, *, alg: str = "RS256", kid: bool = True) -> bytes:
    from joserfc import jws

    from gpay_envelope.codecs.jwe import _joserfc as jx

    key = keys.signer.primary
    header = {"alg": alg, **({"kid": key.kid} if kid else {})}
    registry = jx.registries(4 << 20, 8 << 20).jws
    return jws.serialize_compact(header, payload, key.material.jose, registry=registry).encode()  # type: ignore[attr-defined]


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def jwe_seeds(keys: Keys) -> Iterator[tuple[str, bytes]]:
    import gpay_envelope as ge

    def seal(payload: bytes, profile: str, recipients: Any, signer: Any) -> bytes:
        return ge.seal(
            payload,
            recipients=recipients,
            signer=signer,
            codec="jwe",
            profile=profile,
            allow_unsigned=signer is None,
            now=keys.now,
        )

    second = keys.recipients.with_primary("fuzz-enc-2")
    yield "signed-oaep-gcm", ENVELOPE + seal(PAYLOADS[0], "signed", keys.recipients, keys.signer)
    yield "legacy-rsa1_5-def", ENVELOPE + seal(PAYLOADS[1], "legacy", second, keys.signer)
    yield "legacy-a128-unsigned", ENVELOPE_UNSIGNED + seal(PAYLOADS[2], "legacy-a128", second, None)
    yield "cookbook-5_1", ENVELOPE_UNSIGNED + _cookbook(
        "jwe/5_1.key_encryption_using_rsa_v15_and_aes-hmac-sha2.json"
    )["output"]["compact"].encode()
    yield "cookbook-6-nested", ENVELOPE + _cookbook("6.nesting_signatures_and_encryption.json")[
        "encrypt"
    ]["output"]["compact"].encode()
    _jwk, tests = _wycheproof_rsa()
    yield "wycheproof-valid", ENVELOPE_UNSIGNED + tests[0]["jwe"].encode()
    # Content mode: flags bit 0 RSA1_5, bits 1-3 enc, 4 zip, 5 cty, 6 kid, 7 allow_unsigned.
    jws = _jws(keys, PAYLOADS[0])
    yield "content-jws-def", CONTENT + bytes((1 | 5 << 1 | 16 | 32 | 64,)) + _deflate(jws)
    ps256 = _jws(keys, PAYLOADS[1], alg="PS256", kid=False)
    yield "content-ps256-no-kid", CONTENT + bytes((0,)) + ps256
    yield "content-unsigned-def", CONTENT + bytes((16 | 64 | 128,)) + _deflate(PAYLOADS[1])


def pgp_seeds(keys: Keys) -> Iterator[tuple[str, bytes]]:
    import gpay_envelope as ge
    from gpay_envelope.codecs.pgp import wire as op

    def seal(payload: bytes, profile: str) -> bytes:
        return ge.seal(
            payload,
            recipients=keys.recipients,
            signer=keys.signer,
            codec="pgp",
            profile=profile,
            now=keys.now,
        )

    env = seal(PAYLOADS[0], "default")
    yield "b64url-two-recipients-two-signers", ENVELOPE + env
    raw = base64.urlsafe_b64decode(seal(PAYLOADS[1], "zip"))
    yield "binary-zip", ENVELOPE + raw
    yield "armored", ENVELOPE + op.armor("MESSAGE", base64.urlsafe_b64decode(env))
    packets = op.read_packets(raw, max_packets=10)
    seipd = packets[-1][1]
    chunked = _partial(op.TAG_SEIPD, seipd, 9)  # gpg-style partial body lengths
    old = b"".join(_header(t, len(b), 4) + b for t, b in packets[:-1])  # old-format PKESKs
    wild = b"".join(
        op.packet(t, b[:1] + b"\0" * 8 + b[9:]) for t, b in packets[:-1]
    )  # gpg --throw-keyids
    yield "unpadded-partial-old-headers", ENVELOPE + _b64e(old + chunked)
    yield "wildcard-keyids", ENVELOPE + wild + op.packet(op.TAG_SEIPD, seipd)

    now = int(keys.now.timestamp())
    signers = list(keys.signer)

    def inner(data: bytes, *, sigtype: int = op.SIG_BINARY, count: int = 1) -> bytes:
        ops, sigs = [], []
        hasher = op.signature_hasher(op.HASH_SHA256)
        hasher.update(_canonical(data) if sigtype == op.SIG_TEXT else data)
        for i, key in enumerate(signers[:count]):
            part, private = key.material.signing_part(now)  # type: ignore[attr-defined]
            hashed = op.subpacket(op.SUB_CREATED, now.to_bytes(4, "big")) + op.subpacket(
                op.SUB_ISSUER_FINGERPRINT, b"\x04" + part.fingerprint
            )
            body = op.signature_body(
                private,
                sigtype=sigtype,
                hashalg=op.HASH_SHA256,
                hashed=hashed,
                unhashed=op.subpacket(op.SUB_ISSUER, part.keyid),
                hasher=hasher,
            )
            sigs.append(op.packet(op.TAG_SIGNATURE, body))
            ops.insert(0, op.ops_packet(hashalg=op.HASH_SHA256, keyid=part.keyid, last=i == 0))
        fmt = b"t" if sigtype == op.SIG_TEXT else b"b"
        literal = _partial(op.TAG_LITERAL, fmt + b"\x04name" + b"\0\0\0\0" + data, 4)
        return b"".join((*ops, literal, *sigs))

    one = inner(PAYLOADS[0])
    # Content mode: flags bits 0-1 cipher (AES256/128/192), bit 2 allow_unsigned, bit 3
    # wildcard key id.
    yield "content-one-signer", CONTENT + b"\x00" + one
    two = inner(PAYLOADS[1], count=2)
    zipped = op.packet(op.TAG_COMPRESSED, b"\x01" + op.compress(op.COMP_ZIP, two))
    yield "content-zip-two-signers", CONTENT + b"\x01" + zipped
    zlibbed = op.packet(op.TAG_COMPRESSED, b"\x02" + zlib.compress(one))
    yield "content-zlib", CONTENT + b"\x02" + zlibbed
    bzipped = op.packet(op.TAG_COMPRESSED, b"\x03" + bz2.compress(one))
    yield "content-bzip2-wildcard", CONTENT + b"\x08" + bzipped
    yield "content-text-signature", CONTENT + b"\x00" + inner(PAYLOADS[2], sigtype=op.SIG_TEXT)
    # Just over the inflation cap (max_plaintext + 256 KiB): refused while inflating.
    over = (4 << 20) + (256 << 10) + 1
    literal = b"\xcb\xff" + struct.pack(">I", over + 6) + b"b\x00\0\0\0\0"
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = c.compress(literal) + c.compress(bytes(over)) + c.flush()
    yield "content-zip-over-cap", CONTENT + b"\x04" + op.packet(op.TAG_COMPRESSED, b"\x01" + bomb)


def make_corpus() -> None:
    """(Re)make fuzz/keys/ and the seed corpus fuzz/corpus/{jwe,pgp}/."""
    make_keys()
    for codec, seeds in (("jwe", jwe_seeds), ("pgp", pgp_seeds)):
        keys = Keys(codec)
        harness = Harness(codec)
        outdir = CORPUS_DIR / codec
        outdir.mkdir(parents=True, exist_ok=True)
        for old in outdir.iterdir():
            old.unlink()
        for name, data in seeds(keys):
            outcome = harness.check(data)
            print(f"{codec}/{name}: {len(data)} bytes, {outcome}")
            (outdir / name).write_bytes(data)


# -- running --------------------------------------------------------------------------------
def corpus_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.is_file())
        else:
            yield path


def replay(codec: str, paths: list[Path], strict_codec: bool, memory_mib: int | None) -> int:
    """Run files through the oracle without atheris; exit status 1 on any finding."""
    harness = Harness(codec, strict_codec=strict_codec, memory_mib=memory_mib)
    bad = 0
    files = list(corpus_files(paths or [CORPUS_DIR / codec]))
    for path in files:
        try:
            outcome = harness.check(path.read_bytes())
        except Exception as exc:
            bad += 1
            outcome = f"FINDING {type(exc).__name__}: {exc}"
        print(f"{path}: {outcome}")
    print(f"{len(files)} inputs, {bad} findings, outcomes {harness.outcomes}, "
          f"codec escapes {harness.escapes.seen}")  # fmt: skip
    return 1 if bad else 0


_DEFAULTS = {
    "-timeout": "10",
    "-rss_limit_mb": "512",
    "-max_len": "8192",
    "-print_final_stats": "1",
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", choices=CODECS)
    parser.add_argument("--make-corpus", action="store_true", help="remake keys and seeds")
    parser.add_argument("--replay", action="store_true", help="run the given files, no atheris")
    parser.add_argument("--strict-codec", action="store_true", help="codec escapes are findings")
    parser.add_argument(
        "--memory-mib",
        type=int,
        default=64,
        help="per-input peak RSS growth that is a finding (default 64; 0: off)",
    )
    opts, rest = parser.parse_known_args(argv[1:])
    if opts.make_corpus:
        make_corpus()
        return 0
    if opts.codec is None:
        parser.error("--codec is required")
    flags = [a for a in rest if a.startswith("-")]
    dirs = [Path(a) for a in rest if not a.startswith("-")]
    if opts.replay:
        return replay(opts.codec, dirs, opts.strict_codec, opts.memory_mib or None)

    import atheris

    with atheris.instrument_imports(include=["gpay_envelope", "joserfc"]):
        import gpay_envelope
        import gpay_envelope.codecs.jwe
        import gpay_envelope.codecs.pgp  # noqa: F401

    given = {f.split("=", 1)[0] for f in flags}
    work = Path(tempfile.mkdtemp(prefix=f"gpay-fuzz-{opts.codec}-"))
    flags += [f"{k}={v}" for k, v in _DEFAULTS.items() if k not in given]
    if "-artifact_prefix" not in given:
        flags.append(f"-artifact_prefix={work}/")
    if not dirs:
        (work / "corpus").mkdir()
        dirs = [work / "corpus", CORPUS_DIR / opts.codec]
    escapes_dir = Path(
        next((f.split("=", 1)[1] for f in flags if f.startswith("-artifact_prefix=")), str(work))
    )
    harness = Harness(
        opts.codec,
        escapes_dir=escapes_dir,
        strict_codec=opts.strict_codec,
        memory_mib=opts.memory_mib or None,
    )
    print(f"[fuzz_open] codec={opts.codec} work={work} flags={flags}", file=sys.stderr)

    def test_one_input(data: bytes) -> None:
        harness.check(data)

    atheris.Setup(
        [argv[0], *flags, *map(str, dirs)],
        test_one_input,
        # Looked up per call: atheris swaps in the real Mutate only once Fuzz() runs.
        custom_mutator=custom_mutator(opts.codec, lambda d, n: atheris.Mutate(d, n)),
    )
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main(sys.argv))
