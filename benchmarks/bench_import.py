"""Time of ``import gpay_envelope`` in fresh interpreters, and which heavy modules it loads.

    python benchmarks/bench_import.py [--runs 15] [--json] [--path DIR]

``--path`` puts another checkout first on sys.path, to compare two versions in one run.
Each run is a new process (``python -X importtime -c "import gpay_envelope"``); the figure is
the cumulative microseconds that ``-X importtime`` reports for the package, as a median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HEAVY = ("joserfc", "pgpy", "cryptography.hazmat.primitives.asymmetric.rsa", "argparse")


def one_run(path: str | None) -> tuple[int, list[str]]:
    code = (
        "import sys, gpay_envelope\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    # "-c" puts the working directory first on sys.path: run in the checkout measured.
    where = path or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True, text=True, check=True, cwd=where, timeout=60,
    )
    total = 0
    for line in out.stderr.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) == 3 and fields[2] == "gpay_envelope":
            total = int(fields[1])
    return total, [m for m in out.stdout.strip().split(",") if m]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--path", help="a checkout to import from instead of this one")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    times, loaded = [], []
    for _ in range(args.runs):
        t, mods = one_run(args.path)
        times.append(t)
        loaded = mods
    result = {"median_ms": statistics.median(times) / 1000, "min_ms": min(times) / 1000,
              "runs": args.runs, "loads": loaded}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"import gpay_envelope: median {result['median_ms']:.1f} ms, "
              f"min {result['min_ms']:.1f} ms over {args.runs} runs; loads {loaded or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
