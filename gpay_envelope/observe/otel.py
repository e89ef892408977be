"""OpenTelemetry metrics of every open and seal (the ``otel`` extra: opentelemetry-api).

    from gpay_envelope.observe import otel
    otel.instrument()                           # the global MeterProvider; or meter_provider=

Instruments (meter ``gpay_envelope``; docs/observability.md): counters
``gpay_envelope.opens`` and ``gpay_envelope.seals`` (attributes ``codec``, ``kid``,
``outcome``), ``gpay_envelope.key.uses`` (``codec``, ``kid``, ``use``), the histogram
``gpay_envelope.duration`` in seconds (``codec``, ``operation``, ``outcome``) and the gauge
``gpay_envelope.key.last_use`` (Unix time of each key's last use, per use). Only the API is
needed here; the SDK and the exporter are the application's choice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from .._observe import AuditEvent, add_sink, remove_sink
from ._labels import call_labels, key_uses

__all__ = ["Instrumentation", "instrument"]


class Instrumentation:
    """The instruments `instrument` made; `close` stops feeding them (OpenTelemetry has no
    way to remove an instrument from its meter)."""

    def __init__(self, meter: metrics.Meter) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str, str], float] = {}
        self.opens = meter.create_counter(
            "gpay_envelope.opens", unit="{envelope}", description="Envelopes opened, by outcome"
        )
        self.seals = meter.create_counter(
            "gpay_envelope.seals", unit="{envelope}", description="Envelopes sealed, by outcome"
        )
        self.uses = meter.create_counter(
            "gpay_envelope.key.uses", unit="{operation}", description="Operations per key and use"
        )
        self.duration = meter.create_histogram(
            "gpay_envelope.duration", unit="s", description="Time spent in one open or seal"
        )
        meter.create_observable_gauge(
            "gpay_envelope.key.last_use",
            callbacks=[self._observe_last_use],
            unit="s",
            description="When a key was last used, per use (Unix time)",
        )

    def record(self, event: AuditEvent) -> None:
        """Count one event (the sink `instrument` registers)."""
        codec, kid, outcome = call_labels(event)
        calls = self.opens if event.operation == "open" else self.seals
        calls.add(1, {"codec": codec, "kid": kid, "outcome": outcome})
        self.duration.record(
            event.duration, {"codec": codec, "operation": event.operation, "outcome": outcome}
        )
        for key, use in key_uses(event):
            self.uses.add(1, {"codec": codec, "kid": key, "use": use})
            with self._lock:
                self._last[(codec, key, use)] = event.at

    def _observe_last_use(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            last = list(self._last.items())
        return [
            Observation(at, {"codec": codec, "kid": kid, "use": use})
            for (codec, kid, use), at in last
        ]

    def close(self) -> None:
        """Stop counting."""
        remove_sink(self.record)


def instrument(*, meter_provider: MeterProvider | None = None) -> Instrumentation:
    """Count every later open and seal with a meter of ``meter_provider`` (default: the
    global one, `opentelemetry.metrics.set_meter_provider`)."""
    meter = metrics.get_meter("gpay_envelope", meter_provider=meter_provider)
    inst = Instrumentation(meter)
    add_sink(inst.record)
    return inst
