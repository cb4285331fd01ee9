"""Per-bar cost of the streaming features for one symbol, every registered spec: the row of a new
bar from each spec's trailing window (pipelines.features.streaming), against recomputing the
trailing slice the feature store's append recomputes (20 x the largest look-back, 7,704 bars).

    python tests/bench/bench_streaming.py [--bars 30] [--set full]

One JSON object per line per figure: {"bench", "value", "unit", "baseline", "ratio"}."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from pipelines.features.engine import compute_features  # noqa: E402
from pipelines.features.catalog import feature_set  # noqa: E402
from pipelines.features.store import memory_of  # noqa: E402
from pipelines.features.streaming import StreamingFeatures  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402
from tests.features.streaming_data import dev_market  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=30)
    ap.add_argument("--set", default="full")
    args = ap.parse_args()
    bars, ctx = dev_market(SHARED_DATA, 5000 + args.bars)
    specs = feature_set(args.set)
    n = len(bars) - args.bars
    eng = StreamingFeatures(specs, ctx).warm(bars.iloc[:n])
    stream_ms = []
    for i in range(n, len(bars)):
        t0 = time.perf_counter()
        eng.update(bars.iloc[[i]])
        stream_ms.append(1000 * (time.perf_counter() - t0))
    tail = memory_of(specs)
    batch_ms = []
    for i in range(n, min(n + 5, len(bars))):
        t0 = time.perf_counter()
        compute_features(bars.iloc[max(0, i + 1 - tail):i + 1], specs, ctx, drop_warmup=False)
        batch_ms.append(1000 * (time.perf_counter() - t0))
    base = float(np.median(batch_ms))
    v = float(np.median(stream_ms))
    print(json.dumps({"bench": f"streaming_features_per_bar_ms[{args.set}]", "value": round(v, 2), "unit": "ms",
                      "baseline": round(base, 2), "ratio": round(v / base, 4), "specs": len(specs),
                      "baseline_tail_bars": tail}), flush=True)


if __name__ == "__main__":
    main()
