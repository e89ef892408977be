"""The adapters' shared parts: the key bundle and holder, content types, header and body
rules of the exchange (gpay_envelope/adapters/_exchange.py), and imports that need no framework.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import httpx
import pytest
from conftest import JWEParty

import gpay_envelope as ge
from gpay_envelope.adapters import CONTENT_TYPES, KeyHolder, Keys, envelope_content_type
from gpay_envelope.adapters._exchange import (
    Engine,
    HeaderEdit,
    Refused,
    ServerExchange,
    find_header,
    parse_content_length,
    rejection_for,
    require_https,
)


def test_keys_are_checked(server_keys: Keys, partner: JWEParty) -> None:
    with pytest.raises(TypeError, match="senders"):
        Keys(
            identities=partner.identities,
            senders="google",  # type: ignore[arg-type]
            signer=partner.signer,
            recipients=partner.public_enc,
        )
    with pytest.raises(ge.KeySetError, match="identities holds no private key"):
        dataclasses.replace(server_keys, identities=partner.public_enc)
    with pytest.raises(ge.KeySetError, match="signer holds no private key"):
        dataclasses.replace(server_keys, signer=partner.public_sig)
    k = partner.public_enc.primary
    other = ge.Key(kid="x", codec="other", material=k.material, algorithms=k.algorithms)
    with pytest.raises(ge.KeySetError, match="one codec"):
        dataclasses.replace(server_keys, recipients=ge.KeySet([other], primary="x"))
    assert server_keys.codec == "jwe"
    with pytest.raises(dataclasses.FrozenInstanceError):
        server_keys.signer = partner.signer  # type: ignore[misc]


def test_key_holder_swaps_whole_bundles(server_keys: Keys, client_keys: Keys) -> None:
    holder = KeyHolder(server_keys)
    assert holder() is holder.get() is server_keys
    holder.set(client_keys)
    assert holder() is client_keys
    new = holder.update(lambda k: dataclasses.replace(k, signer=server_keys.signer))
    assert holder() is new and new.signer is server_keys.signer
    with pytest.raises(ge.KeySetError):
        holder.update(lambda k: dataclasses.replace(k, signer=k.senders))
    assert holder() is new  # a failed change changes nothing
    with pytest.raises(TypeError):
        holder.set("keys")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        holder.update(lambda k: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError):
        KeyHolder(None)  # type: ignore[arg-type]
    assert "PRIVATE" not in repr(holder) and "KeyHolder(Keys(" in repr(holder)


def test_content_types_follow_the_spec() -> None:
    assert envelope_content_type("pgp") == "application/octet-stream; charset=utf-8"  # H1
    assert envelope_content_type("jwe") == "application/jose; charset=utf-8"  # H2
    assert envelope_content_type("custom") == "application/octet-stream"
    assert dict(CONTENT_TYPES) == {
        "pgp": "application/octet-stream; charset=utf-8",
        "jwe": "application/jose; charset=utf-8",
    }


def test_content_length_parsing() -> None:
    assert parse_content_length(None) is None
    assert parse_content_length(b" 12 ") == 12
    for bad in ("", "-1", "1e3", "0x10", "\uff11\uff12", "12, 12"):
        with pytest.raises(ValueError):
            parse_content_length(bad)


def test_importing_the_package_needs_no_framework() -> None:
    code = (
        "import sys, gpay_envelope, gpay_envelope.adapters, gpay_envelope.adapters.asgi, "
        "gpay_envelope.adapters.wsgi\n"
        "bad = {'httpx', 'requests', 'starlette', 'uvicorn', 'anyio', 'fastapi', 'flask', "
        "'django'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- exchange rules


def test_one_header_edit_applies_alike_to_every_header_form() -> None:
    edit = HeaderEdit(
        frozenset({"content-type", "transfer-encoding"}), (("Content-Type", "application/json"),)
    )
    wsgi = [("Content-Type", "text/plain"), ("X-Kept", "1"), ("Transfer-Encoding", "chunked")]
    assert edit.apply(wsgi) == [("X-Kept", "1"), ("Content-Type", "application/json")]
    asgi = [(b"content-type", b"text/plain"), (b"x-kept", b"1")]
    assert edit.apply_raw(asgi) == [(b"x-kept", b"1"), (b"content-type", b"application/json")]
    headers = httpx.Headers({"Content-Type": "text/plain", "X-Kept": "1"})
    edit.apply_to(headers)
    assert dict(headers) == {"x-kept": "1", "content-type": "application/json"}
    environ = {"CONTENT_TYPE": "text/plain", "HTTP_TRANSFER_ENCODING": "chunked", "HTTP_X": "1"}
    edit.apply_to_environ(environ)
    assert environ == {"HTTP_X": "1", "CONTENT_TYPE": "application/json"}
    assert find_header(asgi, "x-kept") == "1" and find_header(wsgi, "content-length") is None


def test_statuses_of_the_server_side(server_keys: Keys) -> None:
    assert rejection_for(ge.InvalidEnvelope()).status == 400
    assert rejection_for(ge.InvalidSignature()).status == 401
    exchange = ServerExchange(Engine(server_keys, limits=ge.Limits(max_envelope=4096)))
    assert exchange.declared_length(b"4096") == 4096
    for value, status in ((b"4097", 413), (b"-1", 400)):
        with pytest.raises(Refused) as refused:
            exchange.declared_length(value)
        assert refused.value.rejection.status == status
    with pytest.raises(Refused) as refused:
        exchange.open_request(None)  # the body went over the cap
    assert (refused.value.rejection.status, refused.value.rejection.body_unread) == (413, True)
    with pytest.raises(Refused) as refused:
        exchange.open_request(b"not an envelope")
    assert refused.value.rejection.status == 400
    assert ServerExchange.passes_untouched(204) and not ServerExchange.passes_untouched(200)


def test_the_client_side_sends_over_https_only() -> None:
    require_https("https://partner.test/api")
    require_https("HTTPS://partner.test/api")
    for url in ("http://partner.test/api", "", "httpsx://partner.test", "ftp://x"):
        with pytest.raises(ValueError, match="https only"):
            require_https(url)
