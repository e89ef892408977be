"""examples/partner_service.py serves sealed requests with keys loaded from files."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import Any

import httpx
from adapter_harness import PAYLOAD
from conftest import JWEParty

import gpay_envelope as ge
from gpay_envelope.adapters import KeyHolder, Keys
from gpay_envelope.adapters.httpx import AsyncEnvelopeTransport


def test_the_example_service_serves_and_reloads(
    tmp_path: Path, partner: JWEParty, google: JWEParty
) -> None:
    spec = importlib.util.spec_from_file_location(
        "partner_service", Path(__file__).parents[2] / "examples" / "partner_service.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    def write(name: str, ks: ge.KeySet, **extra: Any) -> None:
        data = ks.to_jwks(include_private=ks.has_secret) | extra
        (tmp_path / f"{name}.jwks").write_text(json.dumps(data))

    write("our-enc", partner.identities, primary="partner-enc-2", disabled=["partner-enc-1"])
    write("our-sig", partner.signer)
    write("google-enc", google.public_enc)
    write("google-sig", google.public_sig)
    keys = example.load_keys(tmp_path)
    assert keys.identities.primary.kid == "partner-enc-2"
    assert keys.identities.get("partner-enc-1").status is ge.KeyStatus.DISABLED
    holder = KeyHolder(keys)
    google_side = Keys(
        identities=google.identities,
        senders=partner.public_sig,
        signer=google.signer,
        recipients=ge.KeySet([partner.public_enc.get("partner-enc-2")], primary="partner-enc-2"),
    )

    async def call() -> httpx.Response:
        transport = AsyncEnvelopeTransport(
            google_side, transport=httpx.ASGITransport(app=example.build_app(holder))
        )
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.post("https://partner.test/echo", content=PAYLOAD)

    response = asyncio.run(call())
    assert response.status_code == 200
    assert response.json()["echo"] == json.loads(PAYLOAD)
