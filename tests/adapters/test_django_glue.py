"""The Django middleware, configured from settings.GPAY_ENVELOPE, through Django's test Client.

Django's settings can be configured once per process: this module configures them (with
itself as the URLconf) and each test sets GPAY_ENVELOPE with override_settings; the test
Client builds the middleware afresh for each Client, so it reads the overridden settings.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from adapter_harness import (
    JOSE,
    PAYLOAD,
    open_from_server,
    seal_for_server,
    server_view,
)
from conftest import JWEParty
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.test import Client, override_settings
from django.urls import path
from glue_keys import config_of, write_manifests

from gpay_envelope.adapters import Keys
from gpay_envelope.adapters.django import open_result

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="django-glue-tests",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["testserver"],
        MIDDLEWARE=["gpay_envelope.adapters.django.EnvelopeMiddleware"],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()


def echo(request: HttpRequest) -> HttpResponse:
    opened = open_result(request)
    assert opened is not None
    return JsonResponse({"echo": json.loads(request.body), "kid": opened.decrypted_with,
                         "type": request.content_type})


def stream(request: HttpRequest) -> StreamingHttpResponse:
    body = request.read()
    response = StreamingHttpResponse(iter([b'{"streamed":', body, b"}"]),
                                     content_type="application/json")
    response.set_cookie("seen", "1")
    return response


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok" if open_result(request) is None else b"opened?")


urlpatterns = [path("echo", echo), path("stream", stream), path("health", health)]



@pytest.fixture
def configured(
    tmp_path: Path, partner: JWEParty, google: JWEParty
) -> Iterator[dict[str, Any]]:
    setting = {**config_of(write_manifests(tmp_path, server_view(partner, google))),
               "PATHS": ["/echo", "/stream"]}
    with override_settings(GPAY_ENVELOPE=setting):
        yield setting


def post(url: str, body: bytes) -> Any:
    return Client().post(url, data=body, content_type=JOSE)


def test_the_middleware_opens_the_request_and_seals_the_response(
    configured: dict[str, Any], client_keys: Keys
) -> None:
    response = post("/echo", seal_for_server(client_keys))
    assert response.status_code == 200
    assert response["Content-Type"] == JOSE
    assert int(response["Content-Length"]) == len(response.content)
    opened = open_from_server(client_keys, response.content)
    assert json.loads(opened.plaintext) == {
        "echo": json.loads(PAYLOAD), "kid": "partner-enc-1", "type": "application/json",
    }


def test_a_streamed_response_is_sealed_whole_and_keeps_its_cookies(
    configured: dict[str, Any], client_keys: Keys
) -> None:
    response = post("/stream", seal_for_server(client_keys))
    assert response.status_code == 200
    assert not response.streaming
    assert response.cookies["seen"].value == "1"
    assert open_from_server(client_keys, response.content).plaintext == (
        b'{"streamed":' + PAYLOAD + b"}"
    )


def test_rejections_and_unprotected_paths(
    configured: dict[str, Any], client_keys: Keys, partner: JWEParty
) -> None:
    plain = post("/echo", PAYLOAD)
    assert (plain.status_code, plain.content) == (400, b"invalid envelope\n")
    # Sealed to the partner, but signed by a key the partner does not trust as Google's.
    untrusted = dataclasses.replace(client_keys, signer=partner.signer)
    unsigned = post("/echo", seal_for_server(untrusted))
    assert (unsigned.status_code, unsigned.content) == (401, b"invalid signature\n")
    health = Client().get("/health")
    assert (health.status_code, health.content) == (200, b"ok")


def test_the_cap_is_max_envelope_not_djangos_upload_limit(
    configured: dict[str, Any], client_keys: Keys
) -> None:
    envelope = seal_for_server(client_keys)
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100):
        assert post("/echo", envelope).status_code == 200
    small = {**configured, "LIMITS": {"max_envelope": 100}}
    with override_settings(GPAY_ENVELOPE=small):
        too_large = post("/echo", envelope)
    assert (too_large.status_code, too_large.content) == (413, b"envelope too large\n")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (None, r"settings\.GPAY_ENVELOPE must be a dict"),
        ({"IDENTITIES": "a", "SENDERS": "b", "PATH": ["/"]},
         r"unknown setting settings\.GPAY_ENVELOPE\['PATH'\]"),
        ({"SENDERS": "b"}, r"settings\.GPAY_ENVELOPE\['IDENTITIES'\] is not set"),
        ({"KEYS": "not keys"}, r"settings\.GPAY_ENVELOPE\['KEYS'\] must be Keys"),
    ],
)
def test_bad_settings_are_improperly_configured(setting: Any, message: str) -> None:
    with override_settings(GPAY_ENVELOPE=setting), pytest.raises(
        ImproperlyConfigured, match=message
    ):
        Client().get("/health")
