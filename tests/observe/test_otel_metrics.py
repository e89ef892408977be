"""The OpenTelemetry instrumentation, read back through the SDK's in-memory metric reader."""

from __future__ import annotations

import time

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import gpay_envelope as ge
from gpay_envelope.observe import otel

PAYLOAD = b'{"amount":"12.50"}'


def _points(reader: InMemoryMetricReader) -> dict[str, list]:
    data = reader.get_metrics_data()
    out: dict[str, list] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            assert sm.scope.name == "gpay_envelope"
            for m in sm.metrics:
                out[m.name] = list(m.data.data_points)
    return out


def _by_attrs(points, **attrs: str):
    found = [p for p in points if dict(p.attributes) == attrs]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.fixture
def reader():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    inst = otel.instrument(meter_provider=provider)
    yield reader
    inst.close()
    provider.shutdown()


def test_opens_seals_key_uses_durations_and_last_use(reader, pgp_keys) -> None:
    before = time.time()
    env = ge.seal(PAYLOAD, recipients=pgp_keys.public("g1"), signer=pgp_keys.secret("p1", "p2"))
    ge.open(env, identities=pgp_keys.secret("g1"), senders=pgp_keys.public("p1", "p2"))
    ge.open(env, identities=pgp_keys.secret("g1"), senders=pgp_keys.public("p2"))
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=pgp_keys.secret("g1"), senders=pgp_keys.public("u1"))
    g1, p1, p2 = (pgp_keys.kid(n) for n in ("g1", "p1", "p2"))
    pts = _points(reader)
    opens = pts["gpay_envelope.opens"]
    assert _by_attrs(opens, codec="pgp", kid=g1, outcome="ok").value == 2
    assert _by_attrs(opens, codec="pgp", kid=g1, outcome="invalid_signature").value == 1
    assert _by_attrs(pts["gpay_envelope.seals"], codec="pgp", kid=p1, outcome="ok").value == 1
    uses = pts["gpay_envelope.key.uses"]
    assert _by_attrs(uses, codec="pgp", kid=g1, use="decrypt").value == 3
    assert _by_attrs(uses, codec="pgp", kid=p1, use="verify").value == 1
    assert _by_attrs(uses, codec="pgp", kid=p2, use="verify").value == 2
    assert _by_attrs(uses, codec="pgp", kid=p2, use="sign").value == 1
    hist = _by_attrs(pts["gpay_envelope.duration"], codec="pgp", operation="open", outcome="ok")
    assert hist.count == 2 and hist.sum > 0
    # Boundaries in seconds, from 0.2 ms: the SDK's default ones are for milliseconds.
    assert hist.explicit_bounds[0] == 0.0002 and hist.explicit_bounds[-1] == 5.0
    assert sum(hist.bucket_counts) == 2 and hist.bucket_counts[-1] == 0
    last = _by_attrs(pts["gpay_envelope.key.last_use"], codec="pgp", kid=g1, use="decrypt")
    assert before <= last.value <= time.time()


def test_close_stops_counting(partner, google) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    inst = otel.instrument(meter_provider=provider)
    ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    inst.close()
    ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    seals = _points(reader)["gpay_envelope.seals"]
    assert _by_attrs(seals, codec="jwe", kid="partner-sig-1", outcome="ok").value == 1
    provider.shutdown()
