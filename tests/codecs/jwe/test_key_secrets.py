"""A failed key load leaves no secret where a traceback can reach it.

Error trackers (Sentry and friends) record the locals of every frame of a traceback, and the
exceptions chained to it. So when a loader fails (bad input, weak key, a binding or validity
check after a successful parse) the exception must carry no ``__context__`` or ``__cause__``,
and no frame it holds may keep the PEM password, the PEM bytes, a private JWK's private members
or a private key object, its own or a good neighbour's in the same set. Records
(``dataclasses.asdict``) must not copy key material out of the keys they hold either.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import json
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

import gpay_envelope as ge
from gpay_envelope import codecs
from gpay_envelope._b64 import b64url_encode
from gpay_envelope.codecs import jwe
from gpay_envelope.codecs.jwe import _joserfc, _keyio

PASSWORD = b"pw-Tr4ceback-S3cret-7f3a"
WRONG_PASSWORD = b"pw-Wr0ng-Guess-9c1e"
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")
PRIVATE_TYPES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    x25519.X25519PrivateKey,
    x448.X448PrivateKey,
    dsa.DSAPrivateKey,
)
LIBRARY = str(Path(ge.__file__).parent)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


# -- key material ---------------------------------------------------------------------------
def _pem(native: Any, password: bytes | None = None) -> bytes:
    protection: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    pem: bytes = native.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection
    )
    return pem


def _b64(n: int, size: int | None = None) -> str:
    return b64url_encode(n.to_bytes(size or -(-n.bit_length() // 8), "big"), pad=False).decode()


def _jwk(native: Any, kid: str) -> dict[str, Any]:
    """A private JWK, written out by hand (joserfc would warn about the weak key)."""
    numbers = native.private_numbers()
    if isinstance(native, rsa.RSAPrivateKey):
        pub = numbers.public_numbers
        values = {"n": pub.n, "e": pub.e, "d": numbers.d, "p": numbers.p, "q": numbers.q}
        values |= {"dp": numbers.dmp1, "dq": numbers.dmq1, "qi": numbers.iqmp}
        return {"kty": "RSA", "kid": kid, **{k: _b64(v) for k, v in values.items()}}
    size = -(-native.curve.key_size // 8)
    pub = numbers.public_numbers
    crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[native.curve.name]
    coords = {
        "x": _b64(pub.x, size),
        "y": _b64(pub.y, size),
        "d": _b64(numbers.private_value, size),
    }
    return {"kty": "EC", "kid": kid, "crv": crv, **coords}


@dataclass(frozen=True)
class Material:
    """Private keys in every form the loaders take, and the secrets each form carries."""

    jwk: dict[str, Any]  # RSA-2048
    jwk2: dict[str, Any]  # another RSA-2048, a good neighbour
    weak_jwk: dict[str, Any]  # RSA-1024
    p384_jwk: dict[str, Any]
    p256_jwk: dict[str, Any]
    pem: bytes  # the RSA-2048 of ``jwk``, unprotected
    protected_pem: bytes  # the same, under PASSWORD
    weak_pem: bytes
    p384_pem: bytes
    ed25519_pem: bytes

    def secrets_of(self, *jwks: Mapping[str, Any]) -> list[str]:
        return [jwk[m] for jwk in jwks for m in PRIVATE_MEMBERS if m in jwk]


@functools.cache
def _material() -> Material:
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p384 = ec.generate_private_key(ec.SECP384R1())
    p256 = ec.generate_private_key(ec.SECP256R1())
    return Material(
        jwk=_jwk(good, "good"),
        jwk2=_jwk(other, "neighbour"),
        weak_jwk=_jwk(weak, "weak"),
        p384_jwk=_jwk(p384, "p384"),
        p256_jwk=_jwk(p256, "p256"),
        pem=_pem(good),
        protected_pem=_pem(good, PASSWORD),
        weak_pem=_pem(weak),
        p384_pem=_pem(p384),
        ed25519_pem=_pem(ed25519.Ed25519PrivateKey.generate()),
    )


def _pem_lines(*pems: bytes) -> list[str]:
    """Base64 body lines of PEMs: any copy or slice of the PEM that a frame keeps holds one."""
    return [line.decode() for pem in pems for line in pem.splitlines()[2:-2]]


# -- what a traceback reaches ---------------------------------------------------------------
def _slot_names(obj: object) -> Iterator[str]:
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        yield from (slots,) if isinstance(slots, str) else slots


def _children(obj: object) -> Iterator[tuple[str, object]]:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield f"[key {k!r}]", k
            yield f"[{k!r}]", v
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, v in enumerate(obj):
            yield f"[{i}]", v
    elif isinstance(obj, types.FunctionType):
        for i, cell in enumerate(obj.__closure__ or ()):
            yield f".<closure {i}>", cell.cell_contents
    elif isinstance(obj, types.MethodType):
        yield ".__self__", obj.__self__
    elif isinstance(obj, BaseException):
        yield ".args", obj.args
    else:
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            yield from ((f".{k}", v) for k, v in attrs.items())
        for name in _slot_names(obj):
            try:
                yield f".{name}", getattr(obj, name)
            except AttributeError:
                continue


def _leaks(
    root: object, texts: list[str], where: str, *, depth: int = 10, opaque: tuple[type, ...] = ()
) -> list[str]:
    """Paths under ``root`` to a private key object or a str/bytes holding one of ``texts``;
    objects of the ``opaque`` types are not looked into."""
    blobs = [t.encode() for t in texts]
    found: list[str] = []
    seen: set[int] = set()
    todo: list[tuple[object, str, int]] = [(root, where, 0)]
    while todo:
        obj, path, level = todo.pop()
        if id(obj) in seen or level > depth:
            continue
        seen.add(id(obj))
        if isinstance(obj, PRIVATE_TYPES):
            found.append(f"{path}: {type(obj).__name__}")
        elif isinstance(obj, str):
            found.extend(f"{path}: secret text" for t in texts if t in obj)
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            raw = bytes(obj)
            found.extend(f"{path}: secret bytes" for b in blobs if b in raw)
        elif not isinstance(obj, (types.ModuleType, type, int, float, type(None), *opaque)):
            todo.extend((v, path + step, level + 1) for step, v in _children(obj))
    return found


def _library_tb(exc: BaseException) -> types.TracebackType | None:
    """The traceback from the first library frame on: the frames above are the test's own,
    which hold the secrets it passed."""
    tb = exc.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith(LIBRARY):
        tb = tb.tb_next
    return tb


def frame_leaks(exc: BaseException, texts: list[str]) -> list[str]:
    """What the exception and the library frames of its traceback hold of ``texts`` or of a
    private key."""
    leaks = _leaks(exc, texts, "exc")
    tb = _library_tb(exc)
    while tb is not None:
        frame = tb.tb_frame
        leaks += _leaks(dict(frame.f_locals), texts, f"{frame.f_code.co_name}()")
        tb = tb.tb_next
    return leaks


def printed_locals(exc: BaseException) -> str:
    """What an error tracker prints: the library frames, each with its locals by repr."""
    te = traceback.TracebackException(type(exc), exc, _library_tb(exc), capture_locals=True)
    return "".join(te.format())


# A private key printed: cryptography's objects, and our Key / JWKMaterial reprs.
PRINTED_PRIVATE = ("PrivateKey object", "secret=True")


def assert_nothing_reachable(exc: BaseException, texts: list[str]) -> None:
    assert exc.__context__ is None and exc.__cause__ is None, "a chained exception travels along"
    assert _library_tb(exc) is not None, "the raise site is in the library"
    assert not frame_leaks(exc, texts)
    printed = printed_locals(exc)
    assert not [t for t in (*texts, *PRINTED_PRIVATE) if t in printed]
    assert not [t for t in texts if t in str(exc)]


# -- the failures ---------------------------------------------------------------------------
Case = Callable[[Material], tuple[Callable[[], object], list[str]]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn

    return register


def _jwk_case(name: str, change: Mapping[str, Any], **kwargs: Any) -> None:
    @case(f"from_jwk: {name}")
    def build(m: Material) -> tuple[Callable[[], object], list[str]]:
        jwk = {**m.jwk, **change}
        return (lambda: ge.Key.from_jwk(jwk, **kwargs)), m.secrets_of(m.jwk)


for _name, _change, _kwargs in [
    ("bad kty", {"kty": "oct"}, {}),
    ("n not a string", {"n": 5}, {}),
    ("e not base64url", {"e": "!!"}, {}),
    ("unsupported alg", {"alg": "HS256"}, {}),
    ("use 'sig' with an encryption alg", {"use": "sig", "alg": "RSA-OAEP"}, {}),
    ("unknown use", {"use": "wrap"}, {}),
    ("kid not a string", {"kid": 7}, {}),
    ("empty kid", {"kid": ""}, {}),
    ("nbf not a number", {"nbf": "soon"}, {}),
    ("exp out of range", {"exp": 10**30}, {}),
    ("exp before nbf", {"nbf": 2_000_000_000, "exp": 1_000_000_000}, {}),
    ("algorithms for another key type", {}, {"algorithms": ["ES256"]}),
    ("algorithms as one string", {}, {"algorithms": "RSA1_5"}),
    ("naive not_after", {}, {"not_after": datetime(2030, 1, 1)}),
    ("not_after before not_before", {}, {"not_before": NOW, "not_after": NOW - timedelta(1)}),
    ("status not a KeyStatus", {}, {"status": "enabled"}),
    ("unknown keyword", {}, {"passphrase": "x"}),
]:
    _jwk_case(_name, _change, **_kwargs)


@case("from_jwk: bad JSON text")
def _bad_json_text(m: Material) -> tuple[Callable[[], object], list[str]]:
    text = json.dumps(m.jwk)[:-2]
    return (lambda: ge.Key.from_jwk(text)), m.secrets_of(m.jwk)


@case("from_jwk: bad JSON bytes")
def _bad_json_bytes(m: Material) -> tuple[Callable[[], object], list[str]]:
    raw = json.dumps(m.jwk).encode() + b",]"
    return (lambda: ge.Key.from_jwk(raw)), m.secrets_of(m.jwk)


@case("from_jwk: JSON that is not an object")
def _json_list(m: Material) -> tuple[Callable[[], object], list[str]]:
    text = json.dumps([m.jwk])
    return (lambda: ge.Key.from_jwk(text)), m.secrets_of(m.jwk)


@case("from_jwk: weak RSA")
def _weak_jwk(m: Material) -> tuple[Callable[[], object], list[str]]:
    return (lambda: ge.Key.from_jwk(m.weak_jwk)), m.secrets_of(m.weak_jwk)


@case("from_jwk: unsupported curve")
def _p384_jwk(m: Material) -> tuple[Callable[[], object], list[str]]:
    return (lambda: ge.Key.from_jwk(m.p384_jwk)), m.secrets_of(m.p384_jwk)


@case("from_jwk: EC key bound to an RSA alg")
def _ec_rsa_alg(m: Material) -> tuple[Callable[[], object], list[str]]:
    jwk = {**m.p256_jwk, "alg": "RSA-OAEP"}
    return (lambda: ge.Key.from_jwk(jwk)), m.secrets_of(jwk)


@case("codec key_from_jwk: binding")
def _codec_jwk(m: Material) -> tuple[Callable[[], object], list[str]]:
    return (lambda: jwe.key_from_jwk(m.jwk, algorithms=["ES256"])), m.secrets_of(m.jwk)


def _jwks_case(name: str, keys: Callable[[Material], object], **kwargs: Any) -> None:
    @case(f"from_jwks: {name}")
    def build(m: Material) -> tuple[Callable[[], object], list[str]]:
        jwks = {"keys": keys(m)}
        return (lambda: ge.KeySet.from_jwks(jwks, **kwargs)), m.secrets_of(m.jwk, m.jwk2)


for _name, _keys, _kwargs in [
    ("keys not a list", lambda m: m.jwk, {}),
    ("too many keys", lambda m: [m.jwk] * 65, {}),
    ("weak neighbour", lambda m: [m.jwk, m.jwk2, m.weak_jwk], {}),
    ("neighbour with a bad alg", lambda m: [m.jwk, {**m.jwk2, "alg": "HS256"}], {}),
    ("neighbour with a bad exp", lambda m: [m.jwk, {**m.jwk2, "exp": "never"}], {}),
    ("unsupported curve neighbour", lambda m: [m.jwk, m.jwk2, m.p384_jwk], {}),
    ("duplicate kid", lambda m: [m.jwk, m.jwk2, {**m.jwk2}], {}),
    ("primary not in the set", lambda m: [m.jwk, m.jwk2], {"primary": "nope"}),
    ("primary disabled", lambda m: [m.jwk, m.jwk2], {"status": ge.KeyStatus.DISABLED}),
    ("naive not_after", lambda m: [m.jwk, m.jwk2], {"not_after": datetime(2030, 1, 1)}),
    ("unknown keyword", lambda m: [m.jwk, m.jwk2], {"password": PASSWORD}),
]:
    _jwks_case(_name, _keys, **_kwargs)


@case("from_jwks: bad JSON")
def _jwks_bad_json(m: Material) -> tuple[Callable[[], object], list[str]]:
    text = json.dumps({"keys": [m.jwk, m.jwk2]})[:-1]
    return (lambda: ge.KeySet.from_jwks(text)), m.secrets_of(m.jwk, m.jwk2)


@case("codec keys_from_jwks: weak neighbour")
def _codec_jwks(m: Material) -> tuple[Callable[[], object], list[str]]:
    jwks = {"keys": [m.jwk, m.weak_jwk]}
    return (lambda: jwe.keys_from_jwks(jwks)), m.secrets_of(m.jwk, m.weak_jwk)


def _pem_case(name: str, pem: Callable[[Material], Any], **kwargs: Any) -> None:
    @case(f"from_pem: {name}")
    def build(m: Material) -> tuple[Callable[[], object], list[str]]:
        data = pem(m)
        secrets = [PASSWORD.decode(), WRONG_PASSWORD.decode(), *_pem_lines(m.pem, m.weak_pem)]
        secrets += _pem_lines(m.protected_pem, m.p384_pem, m.ed25519_pem)
        return (lambda: ge.Key.from_pem(data, kid="k", **kwargs)), secrets


for _name, _pemf, _kwargs in [
    ("wrong password", lambda m: m.protected_pem, {"password": WRONG_PASSWORD}),
    ("no password for a protected PEM", lambda m: m.protected_pem, {}),
    ("password for an unprotected PEM", lambda m: m.pem, {"password": PASSWORD}),
    ("truncated PEM", lambda m: m.protected_pem[:400], {"password": PASSWORD}),
    ("PEM as str", lambda m: m.pem.decode(), {}),
    ("weak RSA", lambda m: m.weak_pem, {}),
    ("unsupported curve", lambda m: m.p384_pem, {}),
    ("unsupported key type", lambda m: m.ed25519_pem, {}),
    (
        "binding after a good password",
        lambda m: m.protected_pem,
        {"password": PASSWORD, "use": "sig", "algorithms": ["RSA-OAEP-256"]},
    ),
    (
        "validity after a good password",
        lambda m: m.protected_pem,
        {"password": PASSWORD, "not_before": NOW, "not_after": NOW},
    ),
    (
        "status after a good password",
        lambda m: m.protected_pem,
        {"password": PASSWORD, "status": "disabled"},
    ),
    ("algorithms for another key type", lambda m: m.pem, {"algorithms": ["ES256"]}),
    ("unknown use", lambda m: m.pem, {"use": "both"}),
    ("unknown keyword", lambda m: m.protected_pem, {"password": PASSWORD, "passwrd": PASSWORD}),
]:
    _pem_case(_name, _pemf, **_kwargs)


@case("from_pem: empty kid after a good password")
def _pem_empty_kid(m: Material) -> tuple[Callable[[], object], list[str]]:
    pem = m.protected_pem
    return (lambda: ge.Key.from_pem(pem, kid="", password=PASSWORD)), [
        PASSWORD.decode(),
        *_pem_lines(pem),
    ]


@case("codec key_from_pem: wrong password")
def _codec_pem(m: Material) -> tuple[Callable[[], object], list[str]]:
    pem = m.protected_pem
    return (lambda: jwe.key_from_pem(pem, kid="k", password=WRONG_PASSWORD)), [
        WRONG_PASSWORD.decode(),
        *_pem_lines(pem),
    ]


def _pems_case(name: str, pems: Callable[[Material], dict[str, bytes]], **kwargs: Any) -> None:
    @case(f"KeySet.from_pem: {name}")
    def build(m: Material) -> tuple[Callable[[], object], list[str]]:
        data = pems(m)
        secrets = [PASSWORD.decode(), *_pem_lines(*data.values())]
        return (lambda: ge.KeySet.from_pem(data, **kwargs)), secrets


for _name, _pemsf, _kwargs in [
    ("weak neighbour", lambda m: {"a": m.pem, "b": m.weak_pem}, {}),
    (
        "unprotected neighbour of a protected PEM",
        lambda m: {"a": m.protected_pem, "b": m.pem},
        {"password": PASSWORD},
    ),
    ("primary not in the set", lambda m: {"a": m.pem}, {"primary": "nope"}),
    ("binding", lambda m: {"a": m.protected_pem}, {"password": PASSWORD, "algorithms": ["ES256"]}),
    ("unknown keyword", lambda m: {"a": m.pem}, {"pasword": PASSWORD}),
]:
    _pems_case(_name, _pemsf, **_kwargs)


def _generate_case(name: str, make: Callable[..., object], **kwargs: Any) -> None:
    # Nothing secret is passed in: what must not stay behind is the key just generated.
    @case(f"generate_key: {name}")
    def build(m: Material) -> tuple[Callable[[], object], list[str]]:
        return (lambda: make(size=2048, **{"kid": "g", **kwargs})), []


for _name, _kwargs in [
    ("algorithms for another key type", {"algorithms": ["ES256"]}),
    ("naive not_after", {"not_after": datetime(2030, 1, 1)}),
    ("unknown use", {"use": "both"}),
]:
    _generate_case(_name, ge.generate_key, **_kwargs)
    _generate_case(f"codec, {_name}", jwe.generate_key, **_kwargs)
_generate_case("empty kid", ge.generate_key, kid="")


@functools.cache
def _pgp_secret_key() -> bytes:
    """An OpenPGP secret key, protected with PASSWORD, armored."""
    from gpay_envelope.codecs.pgp import generate_pgp_key, key_to_pgp

    key = generate_pgp_key(uid="Trace <t@example.com>", size=2048, passphrase=PASSWORD.decode())
    return key_to_pgp(key, include_private=True)


def _pgp_case(name: str, data: Callable[[bytes], Any], **kwargs: Any) -> None:
    # The key-model facade of the pgp codec works the same way (gpay_envelope/_keyload.py).
    @case(f"KeySet.from_pgp: {name}")
    def build(m: Material) -> tuple[Callable[[], object], list[str]]:
        armored = _pgp_secret_key()
        given = data(armored)
        secrets = [PASSWORD.decode(), WRONG_PASSWORD.decode(), *_pem_lines(armored)[2:]]
        return (lambda: ge.KeySet.from_pgp(given, **kwargs)), secrets


for _name, _dataf, _kwargs in [
    ("wrong passphrase", lambda a: a, {"passphrase": WRONG_PASSWORD.decode()}),
    ("no passphrase", lambda a: a, {}),
    ("key given twice", lambda a: [a, a], {"passphrase": PASSWORD.decode()}),
    ("primary not in the set", lambda a: a, {"passphrase": PASSWORD.decode(), "primary": "x"}),
    (
        "naive not_after",
        lambda a: a,
        {"passphrase": PASSWORD.decode(), "not_after": NOW.replace(tzinfo=None)},
    ),
    ("unknown keyword", lambda a: a, {"passphrase": PASSWORD.decode(), "password": PASSWORD}),
]:
    _pgp_case(_name, _dataf, **_kwargs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_failed_load_reaches_no_secret(name: str) -> None:
    call, secrets = CASES[name](_material())
    with pytest.raises((ge.KeySetError, TypeError)) as info:
        call()
    assert_nothing_reachable(info.value, secrets)


def test_the_errors_keep_their_type_and_message() -> None:
    m = _material()
    with pytest.raises(ge.KeySetError, match=r"^the JWK is RSA-1024; at least RSA-2048"):
        ge.KeySet.from_jwks({"keys": [m.jwk, m.weak_jwk]})
    with pytest.raises(ge.KeySetError, match=r"^duplicate key id 'good'$"):
        ge.KeySet.from_jwks({"keys": [m.jwk, m.jwk]})
    with pytest.raises(ge.KeySetError, match=r"^key 'k': the PEM could not be loaded$"):
        ge.Key.from_pem(m.protected_pem, kid="k", password=WRONG_PASSWORD)
    with pytest.raises(TypeError, match=r"^pem must be bytes$"):
        ge.Key.from_pem(m.pem.decode(), kid="k")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="passphrase"):
        ge.Key.from_jwk(m.jwk, passphrase="x")
    # A good load still works, with the password.
    key = ge.Key.from_pem(m.protected_pem, kid="k", password=PASSWORD)
    assert key.has_secret and key.to_jwk(include_private=True)["d"] == m.jwk["d"]


def test_an_unexpected_error_becomes_a_key_set_error_naming_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dependency's own error might quote the input: only its type is kept."""
    m = _material()

    class Broken:
        @staticmethod
        def import_key(value: Mapping[str, Any]) -> NoReturn:
            raise AttributeError(f"cannot use d={value['d']}")

    monkeypatch.setattr(_keyio, "RSAKey", Broken)
    with pytest.raises(
        ge.KeySetError, match=r"^the key could not be loaded \(AttributeError\)$"
    ) as info:
        ge.Key.from_jwk(m.jwk)
    assert_nothing_reachable(info.value, m.secrets_of(m.jwk))


def test_the_checks_see_what_an_unguarded_load_leaves() -> None:
    """The checks are not vacuous: the codec's inner steps, called directly, leave the JWK and
    the private key in their frames, and both the frame walk and the printed locals show it."""
    m = _material()
    with pytest.raises(ge.KeySetError) as info:
        _keyio._key_from_jwk(
            m.jwk, _keyio.Binding(["ES256"], False, ge.KeyStatus.ENABLED, None, None)
        )
    secrets = m.secrets_of(m.jwk)
    leaks = frame_leaks(info.value, secrets)
    assert any("RSAPrivateKey" in leak for leak in leaks)
    assert any("['d']: secret text" in leak for leak in leaks)
    printed = printed_locals(info.value)
    assert m.jwk["d"] in printed and "secret=True" in printed


# -- records --------------------------------------------------------------------------------
def _dataclasses_of(*modules: types.ModuleType) -> set[type]:
    return {
        obj
        for module in modules
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if dataclasses.is_dataclass(obj) and obj.__module__.startswith("gpay_envelope")
    }


def _records(key: ge.Key, sig: ge.Key) -> dict[type, object]:
    return {
        codecs.Limits: codecs.Limits(),
        codecs.SealRequest: codecs.SealRequest(
            plaintext=b"payload",
            recipients=(key.public(),),
            signers=(sig,),
            profile="signed",
            now=NOW,
            limits=codecs.Limits(),
        ),
        codecs.OpenRequest: codecs.OpenRequest(
            envelope=b"envelope",
            identities=(key,),
            senders=(sig.public(),),
            allow_unsigned=False,
            now=NOW,
            limits=codecs.Limits(),
        ),
        codecs.OpenResult: codecs.OpenResult(b"payload", "jwe", key.kid, (sig.kid,), ("RS256",)),
        codecs.OpenTrace: codecs.OpenTrace(key.kid),
        jwe.Profile: jwe.PROFILES["signed"],
        _joserfc.Registries: _joserfc.registries(1 << 20, 1 << 21),
        _keyio.Binding: _keyio.Binding(["RSA1_5"], True, ge.KeyStatus.ENABLED, None, NOW),
    }


def _key_objects(root: object) -> Iterator[ge.Key]:
    todo = [root]
    while todo:
        obj = todo.pop()
        if isinstance(obj, ge.Key):
            yield obj
        elif isinstance(obj, dict):
            todo.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            todo.extend(obj)


def test_asdict_copies_no_key_material() -> None:
    m = _material()
    key = ge.Key.from_jwk(m.jwk)
    sig = ge.Key.from_jwk(m.jwk2, algorithms=["RS256"])
    names = ("_algs", "_codec", "_joserfc", "_keyio")
    modules = [importlib.import_module(f"gpay_envelope.codecs.jwe.{n}") for n in names]
    records = _records(key, sig)
    assert _dataclasses_of(codecs, jwe, *modules) == set(records), "a new record: add it here"
    secrets = m.secrets_of(m.jwk, m.jwk2)
    for cls, record in records.items():
        out = dataclasses.asdict(record)  # type: ignore[call-overload]
        # Keys come out as the very objects that went in (Key.__deepcopy__ returns itself):
        # asdict makes no copy of a private half, and prints a key by its secret-free repr.
        fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}  # type: ignore[arg-type]
        put_in = sorted(map(id, _key_objects(fields)))
        assert sorted(map(id, _key_objects(out))) == put_in, cls
        # Outside those keys, nothing: no private key object, no private JWK member.
        assert not _leaks(out, secrets, cls.__name__, opaque=(ge.Key,)), cls
        assert all(s not in repr(out) for s in secrets), cls


def test_key_material_is_neither_copied_nor_pickled() -> None:
    import copy
    import pickle

    key = ge.Key.from_jwk(_material().jwk)
    material = key.material
    assert copy.deepcopy(material) is material and copy.copy(material) is material
    with pytest.raises(TypeError, match="secret material"):
        pickle.dumps(material)
    with pytest.raises(TypeError):
        pickle.dumps(key.public().material)
    assert copy.deepcopy({"k": key})["k"] is key


def test_a_password_for_an_unencrypted_pem_is_named_as_such() -> None:
    m = _material()
    with pytest.raises(ge.KeySetError, match="not encrypted, but a password was given"):
        ge.Key.from_pem(m.pem, kid="k", password=PASSWORD)
    with pytest.raises(ge.KeySetError, match="could not be loaded"):
        ge.Key.from_pem(m.protected_pem, kid="k", password=WRONG_PASSWORD)
    assert ge.Key.from_pem(m.protected_pem, kid="k", password=PASSWORD).has_secret
    assert ge.Key.from_pem(m.pem, kid="k").has_secret
