"""The FastAPI route class and the OpenedEnvelope dependency, through FastAPI's TestClient."""

from __future__ import annotations

import json

import pytest
from adapter_harness import JOSE, open_from_server, seal_for_server, server_view
from conftest import JWEParty
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from gpay_envelope.adapters import KeyHolder, Keys
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
