"""Shared by the peer scripts: the timing loop, the summary statistics and the record format.

Every peer is timed like `krt bench`: the host clock (time.perf_counter) around one complete,
synchronous inference; medians and percentiles by linear interpolation between ranks (numpy's
default, the same as tools/bench_stats.c), so the numbers compare directly.

Two modes per peer:
    host    float32 NHWC input in pageable host memory -> float32 output in host memory: the
            copies are inside the timed region, as in krt bench (krt_context_run on host buffers)
    device  input already on the GPU, output left there: the network alone
"""
import json
import time

import numpy as np

INPUT_HW = (224, 224, 3)
INPUT_HW_OF = {"inceptionv3": (299, 299, 3)}  # the size InceptionV3 was designed for


def input_hw(model):
    """The model's input (H, W, C) in the benchmark."""
    return INPUT_HW_OF.get(model, INPUT_HW)


def random_input(batch, seed=0, model=None):
    """Uniform [-1, 1) float32, NHWC: never zeros (they can run faster than real data)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (batch,) + input_hw(model)).astype(np.float32)


def time_runs(run_once, runs, warmup_runs, warmup_seconds=0.2):
    """Calls run_once (which must return only once the work is complete) for a warm-up of at
    least warmup_runs calls and warmup_seconds, then `runs` timed calls. Returns latencies in ms."""
    start = time.perf_counter()
    done = 0
    while done < warmup_runs or time.perf_counter() - start < warmup_seconds:
        run_once()
        done += 1
    samples = np.empty(runs)
    for i in range(runs):
        before = time.perf_counter()
        run_once()
        samples[i] = (time.perf_counter() - before) * 1e3
    return samples


def summarize(samples_ms, batch):
    s = np.asarray(samples_ms, dtype=np.float64)
    median = float(np.percentile(s, 50))
    return {
        "runs": int(s.size),
        "min_ms": float(s.min()),
        "mean_ms": float(s.mean()),
        "median_ms": median,
        "p90_ms": float(np.percentile(s, 90)),
        "p99_ms": float(np.percentile(s, 99)),
        "max_ms": float(s.max()),
        "img_per_s": batch / (median * 1e-3),
    }


def record(peer, model, precision, batch, mode, samples_ms, **extra):
    r = {"peer": peer, "model": model, "precision": precision, "batch": batch, "mode": mode}
    r.update(summarize(samples_ms, batch))
    r.update(extra)
    return r


def print_record(r):
    print(f"  {r['peer']:<16} {r['model']:<12} {r['precision']} b{r['batch']:<3} {r['mode']:<6} "
          f"median {r['median_ms']:8.3f} ms  p90 {r['p90_ms']:8.3f}  min {r['min_ms']:8.3f}  "
          f"({r['img_per_s']:.0f} img/s)", flush=True)


def write_json(path, payload):
    with open(path, "w") as f:
        json.dump(payload, f, indent=1)


def relative_error(a, b):
    """||a - b|| / ||b|| in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))
