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

import threading
from collections.abc import Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from .._observe import AuditEvent, add_sink, remove_sink
from ._labels import call_labels, key_uses

__all__ = ["Instrumentation", "instrument"]


class Instrumentation:
    """The instruments `instrument` made; `close` stops feeding them (OpenTelemetry has no
    way to remove an instrument from its meter).

    The counters are asynchronous: the totals are kept here, under one lock, and reported
    when the SDK collects. A synchronous ``Counter.add`` costs the SDK about 6 us a call,
    several per open; an increment here costs a fraction of that. The duration histogram has
    no asynchronous form and is recorded directly.
    """

    def __init__(self, meter: metrics.Meter) -> None:
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str, str, str], int] = {}
        self._uses: dict[tuple[str, str, str], int] = {}
        self._last: dict[tuple[str, str, str], float] = {}
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
            "gpay_envelope.duration", unit="s", description="Time spent in one open or seal"
        )
        self._duration_attrs: dict[tuple[str, str, str], dict[str, str]] = {}

    def record(self, event: AuditEvent) -> None:
        """Count one event (the sink `instrument` registers)."""
        codec, kid, outcome = call_labels(event)
        call = (event.operation, codec, kid, outcome)
        with self._lock:
            self._calls[call] = self._calls.get(call, 0) + 1
            for key, use in key_uses(event):
                self._uses[(codec, key, use)] = self._uses.get((codec, key, use), 0) + 1
                self._last[(codec, key, use)] = event.at
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
            with self._lock:
                calls = [(k, n) for k, n in self._calls.items() if k[0] == operation]
            return [
                Observation(n, {"codec": codec, "kid": kid, "outcome": outcome})
                for (_, codec, kid, outcome), n in calls
            ]

        return observe

    def _observe_uses(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            uses = list(self._uses.items())
        return [Observation(n, _key_attrs(k)) for k, n in uses]

    def _observe_last_use(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            last = list(self._last.items())
        return [Observation(at, _key_attrs(k)) for k, at in last]

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
