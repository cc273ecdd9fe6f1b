#!/usr/bin/env python3
"""Mutated model files, and a tally of what krt does with them (issue 12: a file never takes the
caller down).

  tools/mutate_models.py make --out DIR --count 2000 [--seed 0] tests/fixtures/*/model.*
  tools/mutate_models.py run [--timeout 30] [--jobs 2] [--keep DIR] build-test/krt DIR

`make` writes DIR/m<N>.<ext>: a seed file with a few bytes flipped or set to 0x00/0xff/0x80,
a range zeroed, a range copied over another, or the tail cut off. For a .keras seed, half of the
mutants mutate model.weights.h5 inside the archive and zip it again (fresh CRCs), so that the
corruption reaches libhdf5 instead of stopping at libzip's CRC check.

`run` calls `KRT inspect FILE` on each mutant and counts: loaded (exit 0), clean error (exit 1 or
2 with a message), crashed (killed by a signal), hung (still running after --timeout seconds),
other exits. --keep copies the crashing and hanging mutants there.
"""
import argparse
import collections
import concurrent.futures
import io
import os
import random
import shutil
import subprocess
import sys
import zipfile

WEIGHTS = "model.weights.h5"


def mutate_bytes(data, rng):
    data = bytearray(data)
    n = len(data)
    if n == 0:
        return bytes(data)
    kind = rng.randrange(5)
    if kind == 0:  # a few bit flips
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif kind == 1:  # a few bytes set to interesting values
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(n)] = rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x01])
    elif kind == 2:  # a range zeroed
        start, k = rng.randrange(n), rng.randint(1, 64)
        data[start : start + k] = bytes(len(data[start : start + k]))
    elif kind == 3:  # a range copied over another (duplicated headers, offsets)
        a, b, k = rng.randrange(n), rng.randrange(n), rng.randint(4, 256)
        chunk = data[a : a + k]
        data[b : b + len(chunk)] = chunk
    else:  # truncation
        data = data[: rng.randrange(n)]
    return bytes(data)


def mutate_keras(data, rng):
    """Mutates the weights file inside the archive and writes the archive again."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == WEIGHTS:
                body = mutate_bytes(body, rng)
            dst.writestr(info, body)
    return out.getvalue()


def make(args):
    rng = random.Random(args.seed)
    seeds = [(p, open(p, "rb").read()) for p in args.seeds]
    os.makedirs(args.out, exist_ok=True)
    for i in range(args.count):
        path, data = rng.choice(seeds)
        ext = os.path.splitext(path)[1]
        if ext == ".keras" and rng.random() < 0.5:
            body = mutate_keras(data, rng)
        else:
            body = mutate_bytes(data, rng)
        with open(os.path.join(args.out, "m%05d%s" % (i, ext)), "wb") as f:
            f.write(body)


def run_one(krt, path, timeout):
    try:
        r = subprocess.run([krt, "inspect", path], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return path, "hung", ""
    if r.returncode < 0:
        return path, "crashed", "signal %d" % -r.returncode
    if r.returncode == 0:
        return path, "loaded", ""
    lines = r.stderr.decode(errors="replace").strip().splitlines()
    if r.returncode in (1, 2) and lines:
        return path, "clean error", lines[-1]
    return path, "other exit %d" % r.returncode, lines[-1] if lines else ""


def run(args):
    files = sorted(os.path.join(args.dir, f) for f in os.listdir(args.dir))
    tally = collections.Counter()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for path, outcome, detail in pool.map(lambda p: run_one(args.krt, p, args.timeout), files):
            tally[outcome] += 1
            if outcome in ("crashed", "hung") or outcome.startswith("other"):
                print("%s: %s %s" % (path, outcome, detail), flush=True)
                if args.keep:
                    os.makedirs(args.keep, exist_ok=True)
                    shutil.copy(path, args.keep)
    print("%d files: %s" % (len(files), ", ".join("%s %d" % kv for kv in sorted(tally.items()))))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("--count", type=int, default=1000)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("seeds", nargs="+")
    r = sub.add_parser("run")
    r.add_argument("--timeout", type=float, default=30)
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--keep")
    r.add_argument("krt")
    r.add_argument("dir")
    args = p.parse_args()
    make(args) if args.cmd == "make" else run(args)


if __name__ == "__main__":
    sys.exit(main())
