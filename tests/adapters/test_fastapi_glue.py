"""The FastAPI route class and the OpenedEnvelope dependency, through FastAPI's TestClient."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from adapter_harness import JOSE, open_from_server, seal_for_server, server_view
from conftest import JWEParty
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from gpay_envelope.adapters import KeyHolder, Keys, _exchange
from gpay_envelope.adapters.fastapi import OpenedEnvelope, envelope_route

REQUEST = b'{"requestId":"r-7","amount":"12.34"}'


class EchoRequest(BaseModel):
    requestId: str  # noqa: N815 - the partner API's field name
    amount: str


def fastapi_app(keys: Keys) -> FastAPI:
    router = APIRouter(route_class=envelope_route(keys=KeyHolder(keys)))

    @router.post("/echo")
    async def echo(body: EchoRequest, opened: OpenedEnvelope) -> dict[str, str]:
        return {"echo": body.requestId, "kid": opened.decrypted_with,
                "by": ",".join(opened.verified_by)}

    app = FastAPI()
    app.include_router(router, prefix="/v1")

    @app.get("/health")
    async def health() -> str:
        return "ok"

    @app.post("/unwired")
    async def unwired(opened: OpenedEnvelope) -> str:
        return opened.decrypted_with

    return app



@pytest.fixture(scope="module")
def client(partner: JWEParty, google: JWEParty) -> TestClient:
    return TestClient(fastapi_app(server_view(partner, google)))


def test_the_route_opens_the_body_fastapi_parses_and_seals_the_answer(
    client: TestClient, client_keys: Keys
) -> None:
    response = client.post(
        "/v1/echo", content=seal_for_server(client_keys, REQUEST), headers={"content-type": JOSE}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == JOSE
    opened = open_from_server(client_keys, response.content)
    assert json.loads(opened.plaintext) == {
        "echo": "r-7", "kid": "partner-enc-1", "by": "google-sig-1",
    }
    assert opened.verified_by == ("partner-sig-1",)


def test_a_validation_error_of_an_opened_request_is_sealed(
    client: TestClient, client_keys: Keys
) -> None:
    response = client.post("/v1/echo", content=seal_for_server(client_keys, b'{"amount":1}'))
    assert response.status_code == 422
    detail = json.loads(open_from_server(client_keys, response.content).plaintext)["detail"]
    assert {tuple(d["loc"]) for d in detail} >= {("body", "requestId")}


def test_rejections_come_before_the_endpoint_and_other_routes_pass(
    client: TestClient, client_keys: Keys
) -> None:
    plain = client.post("/v1/echo", content=REQUEST, headers={"content-type": "application/json"})
    assert (plain.status_code, plain.content) == (400, b"invalid envelope\n")
    health = client.get("/health")
    assert (health.status_code, health.json()) == (200, "ok")


def test_the_dependency_refuses_a_route_that_opens_nothing(
    client: TestClient, client_keys: Keys
) -> None:
    with pytest.raises(RuntimeError, match="route_class=envelope_route"):
        client.post("/unwired", content=seal_for_server(client_keys, REQUEST))


def test_wrong_keys_are_refused_when_the_route_class_is_made() -> None:
    with pytest.raises(TypeError, match="keys must be Keys"):
        envelope_route(keys="keys.json")  # type: ignore[arg-type]


def test_the_route_class_of_the_app_itself(
    partner: JWEParty, google: JWEParty, client_keys: Keys
) -> None:
    app = FastAPI()
    app.router.route_class = envelope_route(keys=server_view(partner, google))

    @app.post("/echo")
    async def echo(body: EchoRequest) -> dict[str, str]:
        return {"echo": body.amount}

    response = TestClient(app).post("/echo", content=seal_for_server(client_keys, REQUEST))
    assert response.status_code == 200
    assert open_from_server(client_keys, response.content).plaintext == b'{"echo":"12.34"}'


@pytest.mark.parametrize(("inline_max", "on_the_loop"), [(None, True), (0, False)])
def test_inline_max_reaches_the_middleware(
    partner: JWEParty,
    google: JWEParty,
    client_keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
    inline_max: int | None,
    on_the_loop: bool,
) -> None:
    opened_in: list[int] = []
    real = _exchange.open_detailed

    def recording(*args: Any, **kwargs: Any) -> Any:
        opened_in.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(_exchange, "open_detailed", recording)
    options = {} if inline_max is None else {"inline_max": inline_max}
    app = FastAPI()
    app.router.route_class = envelope_route(keys=server_view(partner, google), **options)
    endpoint_in: list[int] = []

    @app.post("/echo")
    async def echo(body: EchoRequest) -> dict[str, str]:
        endpoint_in.append(threading.get_ident())  # an async endpoint runs on the loop
        return {"echo": body.amount}

    response = TestClient(app).post("/echo", content=seal_for_server(client_keys, REQUEST))
    assert response.status_code == 200
    assert open_from_server(client_keys, response.content).plaintext == b'{"echo":"12.34"}'
    assert (opened_in == endpoint_in) is on_the_loop


@pytest.mark.parametrize(("bad", "error"), [(-1, ValueError), ("0", TypeError)])
def test_a_bad_inline_max_is_refused_when_the_route_class_is_made(
    partner: JWEParty, google: JWEParty, bad: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match="inline_max"):
        envelope_route(keys=server_view(partner, google), inline_max=bad)
