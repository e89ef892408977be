"""The Prometheus instrumentation, scraped from a real prometheus_client registry."""

from __future__ import annotations

import logging
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import gpay_envelope as ge
from gpay_envelope import _observe
from gpay_envelope.observe import prometheus

PAYLOAD = b'{"amount":"12.50"}'


def _samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def registry():
    reg = CollectorRegistry()
    inst = prometheus.instrument(registry=reg)
    yield reg
    inst.close()


def test_opens_and_seals_are_counted_by_codec_kid_and_outcome(registry, partner, google) -> None:
    before = time.time()
    env = ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    for _ in range(3):
        ge.open(env, identities=google.identities, senders=partner.public_sig)
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=google.identities, senders=google.public_sig)
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(b"x.y.z.w.v", identities=google.identities, senders=partner.public_sig)
    s = _samples(registry)
    opens = "gpay_envelope_opens_total"
    assert _value(s, opens, codec="jwe", kid="google-enc-1", outcome="ok") == 3
    assert _value(s, opens, codec="jwe", kid="google-enc-1", outcome="invalid_signature") == 1
    assert _value(s, opens, codec="jwe", kid="", outcome="invalid") == 1
    assert _value(s, "gpay_envelope_seals_total", codec="jwe", kid="partner-sig-1",
                  outcome="ok") == 1
    uses = "gpay_envelope_key_uses_total"
    assert _value(s, uses, codec="jwe", kid="google-enc-1", use="decrypt") == 4
    assert _value(s, uses, codec="jwe", kid="partner-sig-1", use="verify") == 3
    assert _value(s, uses, codec="jwe", kid="partner-sig-1", use="sign") == 1
    assert _value(s, uses, codec="jwe", kid="google-enc-1", use="encrypt") == 1
    last = _value(s, "gpay_envelope_key_last_use_timestamp_seconds", codec="jwe",
                  kid="google-enc-1", use="decrypt")
    assert last is not None and before <= last <= time.time()
    count = _value(s, "gpay_envelope_duration_seconds_count", codec="jwe", operation="open",
                   outcome="ok")
    assert count == 3
    total = _value(s, "gpay_envelope_duration_seconds_sum", codec="jwe", operation="open",
                   outcome="ok")
    assert total is not None and total > 0
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in s.items()
        if name == "gpay_envelope_duration_seconds_bucket" and dict(labels)["operation"] == "open"
        and dict(labels)["outcome"] == "ok"
    )
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and counts[-1] == 3 and buckets[-1][0] == float("inf")


def test_an_old_key_that_decrypts_nothing_shows_no_new_uses(registry, partner, google) -> None:
    old = ge.KeySet(list(google.public_enc), primary="google-enc-2")
    ge.open(ge.seal(PAYLOAD, recipients=old, signer=partner.signer, codec="jwe"),
            identities=google.identities, senders=partner.public_sig)
    s = _samples(registry)
    uses = "gpay_envelope_key_uses_total"
    assert _value(s, uses, codec="jwe", kid="google-enc-2", use="decrypt") == 1
    assert _value(s, uses, codec="jwe", kid="google-enc-1", use="decrypt") is None


def test_close_stops_counting_and_unregisters(partner, google) -> None:
    reg = CollectorRegistry()
    inst = prometheus.instrument(registry=reg)
    with pytest.raises(ValueError, match="Duplicated"):
        prometheus.instrument(registry=reg)
    inst.close()
    assert _observe.watch() is None
    ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    assert not any(name.startswith("gpay_envelope") for name, _ in _samples(reg))


def test_the_logging_hook_counts_without_instrument(caplog, partner, google) -> None:
    reg = CollectorRegistry()
    handler = prometheus.PrometheusHandler(registry=reg)
    logger = logging.getLogger(_observe.AUDIT_LOGGER)
    caplog.set_level(logging.INFO, logger=_observe.AUDIT_LOGGER)
    logger.addHandler(handler)
    try:
        ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
        logger.info("a record without an event is ignored")
    finally:
        logger.removeHandler(handler)
    s = _samples(reg)
    assert _value(s, "gpay_envelope_seals_total", codec="jwe", kid="partner-sig-1",
                  outcome="ok") == 1
