"""RFC 7512 ``pkcs11:`` URIs: which token, which key object, which module, where the PIN is.

Only what addresses a private key is accepted: the token attributes (``token``, ``serial``,
``manufacturer``, ``model``), the object attributes (``object``, ``id``, ``type=private``)
and the query attributes ``module-path`` and ``pin-source``. ``pin-value`` is refused: a URI
is a command-line argument and a log line, and a PIN in one is a PIN on show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from ..errors import KeySetError

__all__ = ["TokenURI", "parse_uri"]

_PATH_ATTRS = frozenset({"token", "serial", "manufacturer", "model", "object", "id", "type"})
_QUERY_ATTRS = frozenset({"module-path", "pin-source"})
# RFC 7512 section 2.3: pchar-like characters, percent-encoded octets.
_VALUE = re.compile(r"(?:[A-Za-z0-9\-._~!$'()*+,=:@&/]|%[0-9A-Fa-f]{2})*").fullmatch


@dataclass(frozen=True)
class TokenURI:
    """A parsed ``pkcs11:`` URI. Holds no PIN, only where to read one (``pin_source``)."""

    token: str | None = None
    serial: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    object: str | None = None
    id: bytes | None = None
    module_path: str | None = None
    pin_source: str | None = None

    def token_match(self) -> dict[str, str]:
        """The token attributes given, by their python-pkcs11 keyword names."""
        names = {"token": "token_label", "serial": "token_serial"}
        out = {}
        for attr in ("token", "serial"):
            value = getattr(self, attr)
            if value is not None:
                out[names[attr]] = value
        return out

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in (("token", self.token), ("object", self.object)) if v]
        if self.id is not None:
            parts.append("id=" + "".join(f"%{b:02x}" for b in self.id))
        return "pkcs11:" + ";".join(parts)


def _decode(name: str, value: str, *, binary: bool = False) -> str | bytes:
    if not _VALUE(value):
        raise KeySetError(f"pkcs11 URI: the value of {name!r} is not percent-encoded correctly")
    raw = unquote_to_bytes(value)
    if binary:
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KeySetError(f"pkcs11 URI: {name!r} is not UTF-8") from None


def _attributes(text: str, sep: str, allowed: frozenset[str], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(sep) if text else ():
        name, eq, value = item.partition("=")
        if name == "pin-value":
            raise KeySetError(
                "pkcs11 URI: pin-value is refused; give the PIN by pin-source or an environment "
                "variable"
            )
        if not eq or name not in allowed:
            raise KeySetError(f"pkcs11 URI: unsupported {where} attribute {name!r}")
        if name in out:
            raise KeySetError(f"pkcs11 URI: {name!r} is given twice")
        out[name] = value
    return out


def parse_uri(uri: str) -> TokenURI:
    """Parse an RFC 7512 ``pkcs11:`` URI that names a private key.

    Raises:
        KeySetError: not a ``pkcs11:`` URI, an attribute this library does not use, a
            ``pin-value``, a ``type`` other than ``private``, or a badly encoded value.
    """
    if not isinstance(uri, str) or not uri.startswith("pkcs11:"):
        raise KeySetError("a token key is addressed by a 'pkcs11:' URI (RFC 7512)")
    path, _, query = uri[len("pkcs11:") :].partition("?")
    attrs = _attributes(path, ";", _PATH_ATTRS, "path")
    queries = _attributes(query, "&", _QUERY_ATTRS, "query")
    values: dict[str, str] = {}
    for name, raw in (*attrs.items(), *queries.items()):
        if name != "id":
            decoded = _decode(name, raw)
            assert isinstance(decoded, str)
            values[name] = decoded
    if values.get("type", "private") != "private":
        raise KeySetError("pkcs11 URI: only type=private names a key this library uses")
    key_id = _decode("id", attrs["id"], binary=True) if "id" in attrs else None
    assert key_id is None or isinstance(key_id, bytes)
    return TokenURI(
        token=values.get("token"),
        serial=values.get("serial"),
        manufacturer=values.get("manufacturer"),
        model=values.get("model"),
        object=values.get("object"),
        id=key_id,
        module_path=values.get("module-path"),
        pin_source=values.get("pin-source"),
    )
