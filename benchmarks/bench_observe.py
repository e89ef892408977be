"""What observing an open costs: a 1 KiB signed JWE open with nothing listening, with a sink
that does nothing (the event alone), with the JSON audit log (through logging, or the direct
file sink), with Prometheus, with OpenTelemetry, and with the file, Prometheus and
OpenTelemetry together, next to the same open without the observation hook at all (the front
door's inner function).

    python benchmarks/bench_observe.py            # table
    python benchmarks/bench_observe.py --json     # one JSON object per row
    python benchmarks/bench_observe.py --quick    # fewer rounds (CI smoke)

Two figures per mode, from one run, round-robin over the modes, medians:
- ``open_x``: the whole open against the open without the hook (noisy on a busy machine);
- ``hook_us`` and ``hook_pct``: the observation alone (start, fill, end, sinks, logging),
  timed in a tight loop, in microseconds and as a share of the open; precise.
Targets (printed next to each row): ``hook_pct`` at most 3 for each documented way of
turning it on (audit-log, audit-file, prometheus, otel); "off" under 0.1 (nothing
measurable). ``audit-log`` is the standard library's logging and FileHandler (a log record, a
lock, a flush per record); ``all`` is the sum of three and is reported, not a target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry

import gpay_envelope as ge
from gpay_envelope import _api, _observe
from gpay_envelope.codecs import OpenTrace
from gpay_envelope.observe import (
    AUDIT_LOGGER,
    AuditJSONFormatter,
    add_sink,
    audit_to_file,
    otel,
    prometheus,
    remove_sink,
)
from gpay_envelope.testing import make_jwe_keysets

PAYLOAD = (b'{"requestId":"r-1","amount":"12.50","currency":"EUR","note":"' + b"x" * 1024)[
    :1024
] + b'"}'


@contextlib.contextmanager
def _audit_file(folder: Path) -> Iterator[None]:
    handler = logging.FileHandler(folder / "audit.jsonl", encoding="utf-8")
    handler.setFormatter(AuditJSONFormatter())
    logger = logging.getLogger(AUDIT_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        handler.close()


@contextlib.contextmanager
def _audit_sink(folder: Path) -> Iterator[None]:
    sink = audit_to_file(folder / "audit-sink.jsonl")
    try:
        yield
    finally:
        sink.close()


def _ignore(event: object) -> None:
    """A sink that does nothing: what the event itself costs."""


@contextlib.contextmanager
def _event_only() -> Iterator[None]:
    add_sink(_ignore)
    try:
        yield
    finally:
        remove_sink(_ignore)


@contextlib.contextmanager
def _prometheus() -> Iterator[None]:
    inst = prometheus.instrument(registry=CollectorRegistry())
    try:
        yield
    finally:
        inst.close()


@contextlib.contextmanager
def _otel() -> Iterator[None]:
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    inst = otel.instrument(meter_provider=provider)
    try:
        yield
    finally:
        inst.close()
        provider.shutdown()


def _modes(folder: Path) -> dict[str, Callable[[], contextlib.AbstractContextManager[None]]]:
    def every() -> contextlib.AbstractContextManager[None]:
        stack = contextlib.ExitStack()
        for mode in (_audit_sink(folder), _prometheus(), _otel()):
            stack.enter_context(mode)
        return stack

    return {
        "off": contextlib.nullcontext,
        "event only": _event_only,
        "audit-log": lambda: _audit_file(folder),
        "audit-file": lambda: _audit_sink(folder),
        "prometheus": _prometheus,
        "otel": _otel,
        "all": every,
    }


def _per_call(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def _hook_only() -> None:
    """The observation work one open adds, without the open."""
    watch = _observe.watch()
    if watch is None:
        return
    watch.size = 1400
    watch.codec, watch.trace = "jwe", OpenTrace("bench-enc-1")
    watch.opened("bench-enc-1", ("bench-sig-1",), ("RSA-OAEP-256", "A256GCM", "RS256"))


#: hook_pct targets per mode (docs/observability.md, "What it costs").
TARGETS = {"off": 0.1, "audit-log": 3.0, "audit-file": 3.0, "prometheus": 3.0, "otel": 3.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    ap.add_argument("--quick", action="store_true", help="fewer rounds, for a CI smoke run")
    args = ap.parse_args(argv)
    rounds, batch, hook_batch = (5, 10, 500) if args.quick else (40, 20, 5000)

    ids, sig = make_jwe_keysets("bench", keys=1)
    env = ge.seal(PAYLOAD, recipients=ids.public(), signer=sig, codec="jwe")
    senders = sig.public()
    limits = ge.DEFAULT_LIMITS

    def bare() -> object:
        return _api._open_detailed(env, ids, senders, None, False, limits, None, None, None)

    def observed() -> object:
        return ge.open(env, identities=ids, senders=senders)

    assert observed() == PAYLOAD
    rnd = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        modes = _modes(Path(tmp))
        times: dict[str, list[float]] = {"no hook": [], **{m: [] for m in modes}}
        hooks: dict[str, list[float]] = {m: [] for m in modes}
        order = ["no hook", *modes]
        for _ in range(rounds):
            # A fresh order each round: no mode always runs right after another one.
            rnd.shuffle(order)
            for name in order:
                if name == "no hook":
                    times[name].append(_per_call(bare, batch))
                    continue
                with modes[name]():
                    times[name].append(_per_call(observed, batch))
                    hooks[name].append(_per_call(_hook_only, hook_batch))
    base = statistics.median(times["no hook"])
    rows = [{"mode": "no hook", "open_us": round(base * 1e6, 1), "open_x": 1.0}]
    for name in modes:
        open_t, hook_t = statistics.median(times[name]), statistics.median(hooks[name])
        rows.append(
            {
                "mode": name,
                "open_us": round(open_t * 1e6, 1),
                "open_x": round(open_t / base, 3),
                "hook_us": round(hook_t * 1e6, 2),
                "hook_pct": round(100 * hook_t / base, 2),
            }
        )
    if args.json:
        for row in rows:
            print(json.dumps({"bench": "observe", "payload": len(PAYLOAD), **row}))
        return 0
    print(f"signed JWE open, {len(PAYLOAD)} B payload, RSA-2048; {rounds} rounds, medians")
    print(f"{'mode':<16} {'open us':>9} {'open x':>7} {'hook us':>8} {'hook %':>7}  target")
    for row in rows:
        hook_us = f"{row['hook_us']:>8.2f}" if "hook_us" in row else f"{'-':>8}"
        hook_pct = f"{row['hook_pct']:>7.2f}" if "hook_pct" in row else f"{'-':>7}"
        timing = f"{row['open_us']:>9.1f} {row['open_x']:>7.3f}"
        target = TARGETS.get(str(row["mode"]))
        goal = "" if target is None else f"  <= {target:g} %"
        print(f"{row['mode']:<16} {timing} {hook_us} {hook_pct}{goal}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
