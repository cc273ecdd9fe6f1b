"""Gathers the results of bench/run_gpu_bench.sh into one table (printed, and OUT/table.md) and one
JSON file (OUT/bench.json).

Inputs in WORK: krt/<model>_<precision>_b<batch>.json (krt bench --json), torch.json
(peers_torch.py), jax.json (peers_keras_jax.py), machine.txt and krt/build_*.log (optional).

Usage: python3 bench/make_table.py WORK OUT
"""
import datetime
import glob
import json
import os
import re
import sys

PEER_LABELS = {
    "torch_graph": "torch CUDA graph",
    "torch_compile_frozen": "torch.compile frozen",
    "torch_compile": "torch.compile",
    "torch_eager": "torch eager",
    "keras_jax": "Keras JAX/XLA",
}
PEER_SHORT = {"torch_graph": "graph", "torch_compile_frozen": "compile frozen",
              "torch_compile": "compile", "torch_eager": "eager", "keras_jax": "JAX"}
MODEL_LABELS = {"resnet50": "ResNet-50", "mobilenetv2": "MobileNetV2",
                "inceptionv3": "InceptionV3", "densenet121": "DenseNet-121"}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt_ms(v):
    return "-" if v is None else f"{v:.3f}"


def fmt_ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}"


def fmt_rate(v):
    return "-" if v is None else f"{v:,.0f}"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_table.py WORK OUT")
    work, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)

    krt, krt_dev = {}, {}  # host buffers; --device-buffers (files ending in _dev.json)
    for path in sorted(glob.glob(os.path.join(work, "krt", "*.json"))):
        m = re.match(r"(.+)_(fp32|fp16|tf32)_b(\d+)(_dev)?\.json$", os.path.basename(path))
        data = load(path)
        if m and data:
            (krt_dev if m.group(4) else krt)[(m.group(1), m.group(2), int(m.group(3)))] = data
    peer_files = {name: load(os.path.join(work, f"{name}.json")) for name in ("torch", "jax")}
    records = [r for d in peer_files.values() if d for r in d.get("records", [])]
    peers = [p for p in PEER_LABELS if any(r["peer"] == p for r in records)]

    def peer(p, model, precision, batch, mode):
        for r in records:
            if (r["peer"], r["model"], r["precision"], r["batch"], r["mode"]) == \
                    (p, model, precision, batch, mode):
                return r
        return None

    keys = sorted({(r["model"], r["precision"], r["batch"]) for r in records} | set(krt),
                  key=lambda k: (list(MODEL_LABELS).index(k[0]) if k[0] in MODEL_LABELS else 9,
                                 k[1] != "fp32", k[2]))
    rows = []
    for model, precision, batch in keys:
        k = krt.get((model, precision, batch))
        row = {"model": model, "precision": precision, "batch": batch,
               "krt_median_ms": k["latency_ms"]["median"] if k else None,
               "krt_split_ms": k.get("split_ms") if k else None, "peers": {}}
        row["krt_img_per_s"] = batch / (row["krt_median_ms"] * 1e-3) if k else None
        kd = krt_dev.get((model, precision, batch))
        row["krt_device_median_ms"] = kd["latency_ms"]["median"] if kd else None
        for p in peers:
            for mode in ("host", "device"):
                r = peer(p, model, precision, batch, mode)
                if r:
                    row["peers"].setdefault(p, {})[mode] = {
                        "median_ms": r["median_ms"], "img_per_s": r["img_per_s"]}
        rows.append(row)

    def peer_ms(row, p, mode):
        return row["peers"].get(p, {}).get(mode, {}).get("median_ms")

    lines = []
    machine = ""
    if os.path.exists(os.path.join(work, "machine.txt")):
        machine = open(os.path.join(work, "machine.txt")).read().strip()
    today = datetime.date.today().isoformat()
    lines.append(f"# krt vs peers, {today}")
    if machine:
        lines += ["", "```", machine, "```"]
    lines += ["", "## End to end: float32 NHWC input in host memory -> float32 output in host "
              "memory (median ms; ratio = krt / peer, < 1: krt faster)", ""]
    head = ["model", "prec", "batch", "krt"] + [PEER_LABELS[p] for p in peers] + \
        [f"krt/{PEER_SHORT[p]}" for p in peers]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for row in rows:
        cells = [MODEL_LABELS.get(row["model"], row["model"]), row["precision"], str(row["batch"]),
                 fmt_ms(row["krt_median_ms"])]
        cells += [fmt_ms(peer_ms(row, p, "host")) for p in peers]
        cells += [fmt_ratio(row["krt_median_ms"], peer_ms(row, p, "host")) for p in peers]
        lines.append("| " + " | ".join(cells) + " |")

    big = [r for r in rows if r["batch"] == max(x["batch"] for x in rows)] if rows else []
    if big:
        lines += ["", f"## Throughput at batch {big[0]['batch']}, end to end (img/s = batch / "
                  "median latency)", ""]
        head = ["model", "prec", "krt"] + [PEER_LABELS[p] for p in peers]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for row in big:
            cells = [MODEL_LABELS.get(row["model"], row["model"]), row["precision"],
                     fmt_rate(row["krt_img_per_s"])]
            cells += [fmt_rate(row["peers"].get(p, {}).get("host", {}).get("img_per_s"))
                      for p in peers]
            lines.append("| " + " | ".join(cells) + " |")

    if any(peer_ms(r, p, "device") for r in rows for p in peers) or krt_dev:
        lines += ["", "## Input already on the GPU, output left there (median ms; krt: krt bench "
                  "--device-buffers; ratio = krt / peer)", ""]
        head = ["model", "prec", "batch", "krt"] + [PEER_LABELS[p] for p in peers] + \
            [f"krt/{PEER_SHORT[p]}" for p in peers]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for row in rows:
            dev = row["krt_device_median_ms"]
            cells = [MODEL_LABELS.get(row["model"], row["model"]), row["precision"],
                     str(row["batch"]), fmt_ms(dev)]
            cells += [fmt_ms(peer_ms(row, p, "device")) for p in peers]
            cells += [fmt_ratio(dev, peer_ms(row, p, "device")) for p in peers]
            lines.append("| " + " | ".join(cells) + " |")

    errors = []
    for name, d in peer_files.items():
        if d is None:
            errors.append(f"{name} peers: no results")
        else:
            errors += d.get("errors", [])
    for path in sorted(glob.glob(os.path.join(work, "krt", "*.log"))):
        with open(path, errors="replace") as f:
            failures = [line.strip() for line in f if line.startswith("krt: ")]
        if failures:
            errors.append(f"{os.path.basename(path)}: {failures[-1]}")
    missing = [k for k in keys if k not in krt]
    if missing:
        errors.append("krt: no result for " + ", ".join(f"{m} {p} b{b}" for m, p, b in missing)
                      + " (see krt/*.log)")
    if errors:
        lines += ["", "Problems:"] + [f"- {e}" for e in errors]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text)
    payload = {"date": today, "machine": machine, "rows": rows,
               "krt": {f"{m}_{p}_b{b}": {k: v for k, v in d.items() if k != "samples_ms"}
                       for (m, p, b), d in krt.items()},
               "krt_device_buffers": {f"{m}_{p}_b{b}": {k: v for k, v in d.items()
                                                        if k != "samples_ms"}
                                      for (m, p, b), d in krt_dev.items()},
               "peers": {n: d for n, d in peer_files.items() if d}, "errors": errors}
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump(payload, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
