"""examples/partner_asgi.py in-process: its app serves through the envelope route class and
follows a whole rotation of its manifests (promote, disable) without a restart."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
from conftest import JWEParty

import gpay_envelope as ge
from gpay_envelope.adapters import Keys
from gpay_envelope.keystore import add_key, init_manifest, promote_key, set_key_status

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from gpay_envelope.adapters.httpx import AsyncEnvelopeTransport  # noqa: E402

PAYLOAD = b'{"requestHeader":{"requestId":"r-1","requestTimestamp":"1"},"clientMessage":"hi"}'


EXAMPLES = Path(__file__).parents[2] / "examples"


def _example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    path = EXAMPLES / "partner_asgi.py"
    spec = importlib.util.spec_from_file_location("partner_asgi", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    # Registered as the module it is, so pydantic resolves the annotations of its models.
    monkeypatch.setitem(sys.modules, "partner_asgi", example)
    spec.loader.exec_module(example)
    return example


def _manifest(folder: Path, name: str, ks: ge.KeySet) -> Path:
    """One key file holding ``ks`` and a manifest naming each of its keys, the first primary."""
    key_file = folder / f"{name}.jwks.json"
    key_file.write_text(json.dumps(ks.to_jwks(include_private=ks.has_secret)))
    key_file.chmod(0o600 if ks.has_secret else 0o644)
    manifest = folder / f"{name}.keyset.json"
    first, *rest = ks.kids
    init_manifest(manifest, key_file, kid=first)
    for kid in rest:
        add_key(manifest, key_file, kid=kid)
    return manifest


def test_the_example_service_serves_and_follows_a_rotation(
    tmp_path: Path, partner: JWEParty, google: JWEParty, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))  # as when run: its folder is on sys.path
    monkeypatch.delitem(sys.modules, "partner_keys", raising=False)
    example = _example(monkeypatch)
    ours = _manifest(tmp_path, "our-enc", partner.identities)  # partner-enc-1 primary
    _manifest(tmp_path, "our-sig", partner.signer)
    _manifest(tmp_path, "google-enc", google.public_enc)
    _manifest(tmp_path, "google-sig", google.public_sig)
    holder, watchers = example.watch_keys(tmp_path, 0.02)
    try:
        assert holder.get().identities.primary.kid == "partner-enc-1"

        def google_side(kid: str) -> Keys:  # Google seals to one of the partner's keys
            enc = partner.public_enc.get(kid)
            return Keys(
                identities=google.identities,
                senders=partner.public_sig,
                signer=google.signer,
                recipients=ge.KeySet([enc], primary=kid),
            )

        async def call(kid: str) -> int:
            transport = AsyncEnvelopeTransport(
                google_side(kid), transport=httpx.ASGITransport(app=example.build_app(holder))
            )
            async with httpx.AsyncClient(transport=transport) as client:
                response = await client.post("https://partner.test/echo", content=PAYLOAD)
            assert response.status_code != 200 or response.json()["echo"] == json.loads(PAYLOAD)
            return response.status_code

        assert asyncio.run(call("partner-enc-1")) == 200
        promote_key(ours, "partner-enc-2")
        set_key_status(ours, "partner-enc-1", ge.KeyStatus.DISABLED)
        for _ in range(500):  # bounded: at most ~5 s
            if holder.get().identities.get("partner-enc-1").status is ge.KeyStatus.DISABLED:
                break
            time.sleep(0.01)
        assert holder.get().identities.primary.kid == "partner-enc-2"
        assert asyncio.run(call("partner-enc-2")) == 200
        assert asyncio.run(call("partner-enc-1")) == 400  # disabled: no longer opens
    finally:
        for watcher in watchers:
            watcher.stop()
