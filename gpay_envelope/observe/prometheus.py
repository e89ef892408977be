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
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from .._observe import AuditEvent, add_sink, remove_sink
from . import SinkHandler
from ._labels import DURATION_BUCKETS, call_labels, key_uses

__all__ = ["Instrumentation", "PrometheusHandler", "instrument"]


class _Metrics:
    """The collectors of one registry, and how an event updates them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        per_call = ("codec", "kid", "outcome")
        per_key = ("codec", "kid", "use")
        self.opens = Counter(
            "gpay_envelope_opens", "Envelopes opened, by outcome", per_call, registry=registry
        )
        self.seals = Counter(
            "gpay_envelope_seals", "Envelopes sealed, by outcome", per_call, registry=registry
        )
        self.uses = Counter(
            "gpay_envelope_key_uses", "Operations per key and use", per_key, registry=registry
        )
        self.last_use = Gauge(
            "gpay_envelope_key_last_use_timestamp_seconds",
            "When a key was last used, per use (Unix time)",
            per_key,
            registry=registry,
        )
        self.duration = Histogram(
            "gpay_envelope_duration_seconds",
            "Time spent in one open or seal",
            ("codec", "operation", "outcome"),
            buckets=DURATION_BUCKETS,
            registry=registry,
        )

        # The labelled children, looked up once per label set: `labels()` costs four times
        # what the update does. The label sets are few (codecs x our kids x outcomes).
        self._calls: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
        self._keys: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def record(self, event: AuditEvent) -> None:
        codec, kid, outcome = call_labels(event)
        call = (event.operation, codec, kid, outcome)
        children = self._calls.get(call)
        if children is None:
            calls = self.opens if event.operation == "open" else self.seals
            children = (
                calls.labels(codec, kid, outcome),
                self.duration.labels(codec, event.operation, outcome),
            )
            self._calls[call] = children
        children[0].inc()
        children[1].observe(event.duration)
        for key, use in key_uses(event):
            per_key = self._keys.get((codec, key, use))
            if per_key is None:
                per_key = (self.uses.labels(codec, key, use), self.last_use.labels(codec, key, use))
                self._keys[(codec, key, use)] = per_key
            per_key[0].inc()
            per_key[1].set(event.at)

    def unregister(self) -> None:
        for collector in (self.opens, self.seals, self.uses, self.last_use, self.duration):
            self.registry.unregister(collector)


class Instrumentation:
    """The metrics `instrument` registered; `close` stops them and unregisters them."""

    def __init__(self, metrics: _Metrics) -> None:
        self._metrics = metrics

    @property
    def registry(self) -> CollectorRegistry:
        """The registry the metrics live in."""
        return self._metrics.registry

    def close(self) -> None:
        """Stop counting and remove the metrics from the registry."""
        remove_sink(self._metrics.record)
        self._metrics.unregister()


def instrument(*, registry: CollectorRegistry | None = None) -> Instrumentation:
    """Count every later open and seal in ``registry`` (default: prometheus_client's global
    registry, the one ``start_http_server`` and ``make_asgi_app`` serve).

    Raises:
        ValueError: the registry already holds these metrics (instrument once per registry).
    """
    metrics = _Metrics(REGISTRY if registry is None else registry)
    add_sink(metrics.record)
    return Instrumentation(metrics)


class PrometheusHandler(SinkHandler):
    """The logging hook: counts the audit records it receives, like `instrument` does.

    For a logging configuration (``{"class": "gpay_envelope.observe.prometheus.
    PrometheusHandler"}`` on the ``gpay_envelope.audit`` logger, level INFO); use it or
    `instrument`, not both, or every call counts twice.
    """

    def __init__(
        self, level: int = logging.NOTSET, *, registry: CollectorRegistry | None = None
    ) -> None:
        super().__init__(_Metrics(REGISTRY if registry is None else registry).record, level)
