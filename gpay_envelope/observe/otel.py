"""OpenTelemetry metrics of every open and seal (the ``otel`` extra: opentelemetry-api).

    from gpay_envelope.observe import otel
    otel.instrument()                           # the global MeterProvider; or meter_provider=

Instruments (meter ``gpay_envelope``; docs/observability.md): the (asynchronous) counters
``gpay_envelope.opens`` and ``gpay_envelope.seals`` (attributes ``codec``, ``kid``,
``outcome``), ``gpay_envelope.key.uses`` (``codec``, ``kid``, ``use``), the histogram
``gpay_envelope.duration`` in seconds (``codec``, ``operation``, ``outcome``) and the gauge
``gpay_envelope.key.last_use`` (Unix time of each key's last use, per use). Only the API is
needed here; the SDK and the exporter are the application's choice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from .._observe import AuditEvent, add_sink, remove_sink
from ._labels import DURATION_BUCKETS, Totals, call_labels

__all__ = ["Instrumentation", "instrument"]


class Instrumentation:
    """The instruments `instrument` made; `close` stops feeding them (OpenTelemetry has no
    way to remove an instrument from its meter).

    The counters and the gauge are asynchronous: the `Totals` are kept here and reported when
    the SDK collects, since a synchronous ``Counter.add`` costs the SDK about 6 us a call and
    an open would make several. The duration histogram has no asynchronous form and is
    recorded directly.
    """

    def __init__(self, meter: metrics.Meter) -> None:
        self.totals = Totals(durations=False)
        meter.create_observable_counter(
            "gpay_envelope.opens",
            callbacks=[self._observe_calls("open")],
            unit="{envelope}",
            description="Envelopes opened, by outcome",
        )
        meter.create_observable_counter(
            "gpay_envelope.seals",
            callbacks=[self._observe_calls("seal")],
            unit="{envelope}",
            description="Envelopes sealed, by outcome",
        )
        meter.create_observable_counter(
            "gpay_envelope.key.uses",
            callbacks=[self._observe_uses],
            unit="{operation}",
            description="Operations per key and use",
        )
        meter.create_observable_gauge(
            "gpay_envelope.key.last_use",
            callbacks=[self._observe_last_use],
            unit="s",
            description="When a key was last used, per use (Unix time)",
        )
        self.duration = meter.create_histogram(
            "gpay_envelope.duration",
            unit="s",
            description="Time spent in one open or seal",
            # The SDK's default boundaries are made for milliseconds (0, 5, 10, ...): every
            # call in seconds would land in the first bucket.
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._duration_attrs: dict[tuple[str, str, str], dict[str, str]] = {}

    def record(self, event: AuditEvent) -> None:
        """Count one event (the sink `instrument` registers)."""
        self.totals.record(event)
        codec, _, outcome = call_labels(event)
        labels = (codec, event.operation, outcome)
        attrs = self._duration_attrs.get(labels)
        if attrs is None:
            attrs = {"codec": codec, "operation": event.operation, "outcome": outcome}
            self._duration_attrs[labels] = attrs
        self.duration.record(event.duration, attrs)

    def _observe_calls(
        self, operation: str
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(n, {"codec": codec, "kid": kid, "outcome": outcome})
                for (op, codec, kid, outcome), n in self.totals.snapshot().calls.items()
                if op == operation
            ]

        return observe

    def _observe_uses(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(n, _key_attrs(k)) for k, n in self.totals.snapshot().uses.items()]

    def _observe_last_use(self, options: CallbackOptions) -> Iterable[Observation]:
        last = self.totals.snapshot().last_use
        return [Observation(at, _key_attrs(k)) for k, at in last.items()]

    def close(self) -> None:
        """Stop counting."""
        remove_sink(self.record)


def _key_attrs(key: tuple[str, str, str]) -> dict[str, str]:
    codec, kid, use = key
    return {"codec": codec, "kid": kid, "use": use}


def instrument(*, meter_provider: MeterProvider | None = None) -> Instrumentation:
    """Count every later open and seal with a meter of ``meter_provider`` (default: the
    global one, `opentelemetry.metrics.set_meter_provider`)."""
    meter = metrics.get_meter("gpay_envelope", meter_provider=meter_provider)
    inst = Instrumentation(meter)
    add_sink(inst.record)
    return inst
