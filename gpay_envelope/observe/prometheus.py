"""Prometheus metrics of every open and seal (the ``prometheus`` extra: prometheus_client).

    from gpay_envelope.observe import prometheus
    prometheus.instrument()                      # the default registry; or registry=...

or, from a logging configuration alone, a `PrometheusHandler` on the ``gpay_envelope.audit``
logger at INFO. The metrics (docs/observability.md):

- ``gpay_envelope_opens_total{codec, kid, outcome}``, ``gpay_envelope_seals_total{...}``:
  calls by outcome; ``kid`` is our key that decrypted (open) or signed first (seal).
- ``gpay_envelope_key_uses_total{codec, kid, use}``: each key each call used, ``use`` one of
  ``decrypt``, ``verify``, ``encrypt``, ``sign``.
- ``gpay_envelope_key_last_use_timestamp_seconds{codec, kid, use}``: when that last happened;
  ``time() - ...{use="decrypt"}`` is how long an old key has opened nothing.
- ``gpay_envelope_duration_seconds{codec, operation, outcome}``: a histogram of call times.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .._observe import add_sink, remove_sink
from . import SinkHandler
from ._labels import DURATION_BUCKETS, Snapshot, Totals

__all__ = ["Instrumentation", "PrometheusHandler", "instrument"]

_PER_CALL = ["codec", "kid", "outcome"]
_PER_KEY = ["codec", "kid", "use"]
_LE = [*(repr(b) for b in DURATION_BUCKETS), "+Inf"]


class _Collector(Collector):
    """Reports the `Totals` at each scrape (a custom collector: the events only update plain
    counts, prometheus_client's own metric objects take a lock per labelled value)."""

    def __init__(self, totals: Totals) -> None:
        self.totals = totals

    def collect(self) -> Iterator[Metric]:
        return _families(self.totals.snapshot())

    def describe(self) -> Iterator[Metric]:
        # The names, for the registry's check that no two collectors export the same one.
        return _families(Snapshot({}, {}, {}, {}))


def _families(snap: Snapshot) -> Iterator[Metric]:
    """The metric families of one snapshot."""
    opens = CounterMetricFamily(
        "gpay_envelope_opens", "Envelopes opened, by outcome", labels=_PER_CALL
    )
    seals = CounterMetricFamily(
        "gpay_envelope_seals", "Envelopes sealed, by outcome", labels=_PER_CALL
    )
    for (operation, codec, kid, outcome), n in snap.calls.items():
        (opens if operation == "open" else seals).add_metric([codec, kid, outcome], n)
    uses = CounterMetricFamily(
        "gpay_envelope_key_uses", "Operations per key and use", labels=_PER_KEY
    )
    for key, n in snap.uses.items():
        uses.add_metric(list(key), n)
    last = GaugeMetricFamily(
        "gpay_envelope_key_last_use_timestamp_seconds",
        "When a key was last used, per use (Unix time)",
        labels=_PER_KEY,
    )
    for key, at in snap.last_use.items():
        last.add_metric(list(key), at)
    duration = HistogramMetricFamily(
        "gpay_envelope_duration_seconds",
        "Time spent in one open or seal",
        labels=["codec", "operation", "outcome"],
    )
    for key, (counts, total) in snap.durations.items():
        running, buckets = 0, []
        for le, n in zip(_LE, counts, strict=True):
            running += n
            buckets.append((le, float(running)))
        duration.add_metric(list(key), buckets, total)
    yield from (opens, seals, uses, last, duration)


class Instrumentation:
    """The metrics `instrument` registered; `close` stops them and unregisters them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.totals = Totals()
        self._collector = _Collector(self.totals)
        registry.register(self._collector)

    def close(self) -> None:
        """Stop counting and remove the metrics from the registry."""
        remove_sink(self.totals.record)
        self.registry.unregister(self._collector)


def instrument(*, registry: CollectorRegistry | None = None) -> Instrumentation:
    """Count every later open and seal in ``registry`` (default: prometheus_client's global
    registry, the one ``start_http_server`` and ``make_asgi_app`` serve).

    Raises:
        ValueError: the registry already holds these metrics (instrument once per registry).
    """
    inst = Instrumentation(REGISTRY if registry is None else registry)
    add_sink(inst.totals.record)
    return inst


class PrometheusHandler(SinkHandler):
    """The logging hook: counts the audit records it receives, like `instrument` does.

    For a logging configuration (``{"class": "gpay_envelope.observe.prometheus.
    PrometheusHandler"}`` on the ``gpay_envelope.audit`` logger, level INFO); use it or
    `instrument`, not both, or every call counts twice.
    """

    def __init__(
        self, level: int = logging.NOTSET, *, registry: CollectorRegistry | None = None
    ) -> None:
        self.instrumentation = Instrumentation(REGISTRY if registry is None else registry)
        super().__init__(self.instrumentation.totals.record, level)
