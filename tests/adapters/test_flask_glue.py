"""The Flask extension, configured from app.config, through Flask's own test client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from adapter_harness import (
    JOSE,
    PAYLOAD,
    open_from_server,
    seal_for_server,
)
from conftest import JWEParty
from flask import Flask, abort, request
from glue_keys import add_identity, config_of, write_manifests

from gpay_envelope.adapters import KeyHolder, Keys, PathConfigError
from gpay_envelope.adapters.flask import GpayEnvelope, SettingsError, open_result
from gpay_envelope.errors import KeySetError


@pytest.fixture
def manifests(tmp_path: Path, server_keys: Keys) -> dict[str, Path]:
    return write_manifests(tmp_path / "keys", server_keys)


def flask_app(**config: Any) -> Flask:
    app = Flask("flask_glue")
    app.config.update({f"GPAY_ENVELOPE_{name}": value for name, value in config.items()})

    @app.post("/echo")
    def echo() -> dict[str, Any]:
        opened = open_result()
        assert opened is not None
        return {"echo": request.get_json(), "kid": opened.decrypted_with}

    @app.post("/refuse")
    def refuse() -> None:
        abort(403)

    @app.get("/health")
    def health() -> str:
        return "ok" if open_result() is None else "opened?"

    return app


def post(app: Flask, path: str, body: bytes) -> Any:
    return app.test_client().post(path, data=body, content_type=JOSE)


def test_the_extension_opens_the_request_and_seals_the_response(
    manifests: dict[str, Path], client_keys: Keys
) -> None:
    app = flask_app(**config_of(manifests), PATHS=["/echo", "/refuse"])
    GpayEnvelope(app)
    response = post(app, "/echo", seal_for_server(client_keys))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JOSE
    opened = open_from_server(client_keys, response.data)
    assert json.loads(opened.plaintext) == {"echo": json.loads(PAYLOAD), "kid": "partner-enc-1"}
    assert opened.verified_by == ("partner-sig-1",)


def test_rejections_never_reach_a_view_and_other_paths_pass(
    manifests: dict[str, Path], client_keys: Keys
) -> None:
    app = flask_app(**config_of(manifests), PATHS=["/echo", "/refuse"])
    GpayEnvelope(app)
    plain = post(app, "/echo", PAYLOAD)
    assert (plain.status_code, plain.data) == (400, b"invalid envelope\n")
    health = app.test_client().get("/health")
    assert (health.status_code, health.data) == (200, b"ok")
    # Flask's own error page for an opened request is a response to an authenticated peer.
    refused = post(app, "/refuse", seal_for_server(client_keys))
    assert refused.status_code == 403
    assert b"Forbidden" in open_from_server(client_keys, refused.data).plaintext


def test_init_app_with_a_key_holder(server_keys: Keys, client_keys: Keys) -> None:
    extension = GpayEnvelope()
    app = flask_app(KEYS=KeyHolder(server_keys))
    extension.init_app(app)
    assert GpayEnvelope.settings(app).watchers == ()
    response = post(app, "/echo", seal_for_server(client_keys))
    assert response.status_code == 200
    assert json.loads(open_from_server(client_keys, response.data).plaintext)["kid"] == (
        "partner-enc-1"
    )
    with pytest.raises(RuntimeError, match="already set up"):
        extension.init_app(app)


def test_a_manifest_edit_is_followed_without_a_restart(
    manifests: dict[str, Path], partner: JWEParty, client_keys: Keys
) -> None:
    app = flask_app(**config_of(manifests), POLL_INTERVAL=0)
    GpayEnvelope(app)
    to_new = client_keys.recipients.with_primary("partner-enc-2")
    sealed = seal_for_server(Keys(client_keys.identities, client_keys.senders,
                                  client_keys.signer, to_new))
    assert post(app, "/echo", sealed).status_code == 400  # not one of the server's keys yet
    add_identity(manifests, partner, "partner-enc-2")
    response = post(app, "/echo", sealed)
    assert response.status_code == 200
    assert json.loads(open_from_server(client_keys, response.data).plaintext)["kid"] == (
        "partner-enc-2"
    )
    (watcher, *_) = GpayEnvelope.settings(app).watchers
    assert watcher.reloads == 1


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"PATH": ["/echo"]}, SettingsError, "unknown setting GPAY_ENVELOPE_PATH;"),
        ({"IDENTITIES": "x.keyset.json"}, SettingsError, "GPAY_ENVELOPE_SENDERS is not set"),
        ({}, SettingsError, "GPAY_ENVELOPE_IDENTITIES is not set"),
        ({"PATHS": "/echo"}, SettingsError, "GPAY_ENVELOPE_PATHS must be a list"),
        ({"PATHS": ["echo"]}, PathConfigError, "must start with '/'"),
        ({"POLL_INTERVAL": -1}, SettingsError, "GPAY_ENVELOPE_POLL_INTERVAL must be a number"),
        ({"LIMITS": {"max_envelop": 1}}, SettingsError, "GPAY_ENVELOPE_LIMITS: "),
        ({"PROFILE": 3}, SettingsError, "GPAY_ENVELOPE_PROFILE must be str, not int"),
    ],
)
def test_config_mistakes_are_refused_when_the_app_is_set_up(
    manifests: dict[str, Path], config: dict[str, Any], error: type[Exception], message: str
) -> None:
    base = {} if "IDENTITIES" in config or config == {} else config_of(manifests)
    app = flask_app(**{**base, **config})
    with pytest.raises(error, match=message.replace("(", r"\(")):
        GpayEnvelope(app)
    assert "gpay_envelope" not in app.extensions


def test_keys_and_manifests_together_are_refused(
    manifests: dict[str, Path], server_keys: Keys
) -> None:
    app = flask_app(**config_of(manifests), KEYS=server_keys)
    with pytest.raises(SettingsError, match="either GPAY_ENVELOPE_KEYS or manifests"):
        GpayEnvelope(app)


def test_a_manifest_that_does_not_load_stops_the_set_up(
    manifests: dict[str, Path],
) -> None:
    manifests["senders"].write_text("{not json")
    with pytest.raises(KeySetError, match=r"senders\.keyset\.json"):
        GpayEnvelope(flask_app(**config_of(manifests)))


def test_the_config_can_come_from_environment_variables(
    manifests: dict[str, Path], client_keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in config_of(manifests).items():
        monkeypatch.setenv(f"FLASK_GPAY_ENVELOPE_{name}", value)
    monkeypatch.setenv("FLASK_GPAY_ENVELOPE_PATHS", '["/echo"]')  # JSON, as Flask reads it
    app = flask_app()
    app.config.from_prefixed_env()
    GpayEnvelope(app)
    assert GpayEnvelope.settings(app).paths == ("/echo",)
    assert post(app, "/echo", seal_for_server(client_keys)).status_code == 200
    assert post(app, "/refuse", b"not sealed").status_code == 403  # not a protected path
