"""Peers: PyTorch on cuDNN, torchvision resnet50 / mobilenet_v2 with random weights, channels_last.

Variants (--variants, comma-separated):
    graph           the eager model captured once per batch into a CUDA graph and replayed
    compile_frozen  torch.compile(mode="reduce-overhead", dynamic=False) with
                    torch._inductor.config.freezing = True (weights folded as constants, BN into
                    the convolutions): the strongest PyTorch configuration found so far
    compile         the same without freezing (optional)
    eager           no graph, no compiler (optional)

Same contract as krt: float32 NHWC input, float32 output. The model takes x.permute(0, 3, 1, 2)
(already channels_last in memory, so no copy) cast to the model's dtype inside the timed function.
cuDNN and TF32 settings are PyTorch's defaults unless --tf32 (recorded in the JSON). Precision
"tf32" is the float32 model with torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.
allow_tf32 = True (TF32 tensor cores in convolutions, PyTorch's default, and in matmuls), the
peer of krt build --tf32.

Compiling is the slow part, so each (model, precision) runs in its own process: all compile and
warm up in parallel, wait at a barrier, then time one at a time (a lock), the GPU otherwise idle.

Usage: python3 bench/peers_torch.py [--json FILE] [--runs 200] [--variants graph,compile_frozen]
"""
import argparse
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402

TORCHVISION_NAMES = {"resnet50": "resnet50", "mobilenetv2": "mobilenet_v2",
                     "inceptionv3": "inception_v3", "densenet121": "densenet121"}
# Inference-only constructions (no auxiliary classifier: Keras' InceptionV3 has none).
TORCHVISION_KWARGS = {"inceptionv3": {"aux_logits": False, "init_weights": True}}
BARRIER_TIMEOUT_S = 540


def build_model(torch, name, precision):
    import torchvision

    net = getattr(torchvision.models, TORCHVISION_NAMES[name])(
        weights=None, **TORCHVISION_KWARGS.get(name, {}))
    dtype = torch.float16 if precision == "fp16" else torch.float32
    net = net.eval().to("cuda", dtype=dtype).to(memory_format=torch.channels_last)

    class FromNHWC(torch.nn.Module):
        """float32 NHWC in, float32 out: the contract krt and Keras have."""

        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x_nhwc):
            return self.net(x_nhwc.permute(0, 3, 1, 2).to(dtype)).float()

    return FromNHWC().eval()


def prepare(torch, variant, module, x_dev):
    """Returns run() that does one inference on x_dev and returns the output tensor (on the GPU,
    possibly still being computed), after whatever warm-up / capture / compilation it needs."""
    if variant == "eager":
        return lambda: module(x_dev)
    if variant == "graph":
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # cuDNN picks its algorithms here (benchmark mode)
                module(x_dev)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            y_static = module(x_dev)

        def run():
            graph.replay()
            return y_static

        return run
    raise ValueError(f"unknown variant {variant}")


def compiled_runner(torch, compiled, x_dev):
    def run():
        torch.compiler.cudagraph_mark_step_begin()
        return compiled(x_dev)

    for _ in range(5):  # compile, record the CUDA graph, replay
        run()
    torch.cuda.synchronize()
    return run


def worker(job, args, barrier, lock, results):
    import torch
    import torch._inductor.config as inductor_config

    torch.backends.cudnn.benchmark = True
    name, precision = job
    if args.tf32 or precision == "tf32":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = {"job": f"{name}/{precision}", "records": [], "errors": [], "compile_s": {}}
    prepared = {}  # (variant, batch) -> (run, x_dev)
    try:
        with torch.no_grad():
            module = build_model(torch, name, precision)
            compiled = {}
            for variant in args.variants:
                if variant.startswith("compile"):
                    compiled[variant] = torch.compile(module, mode="reduce-overhead",
                                                      dynamic=False)
            for batch in args.batches:
                x_dev = torch.from_numpy(bc.random_input(batch, model=name)).cuda()
                for variant in args.variants:
                    start = time.perf_counter()
                    try:
                        if variant.startswith("compile"):
                            with inductor_config.patch(freezing=variant == "compile_frozen"):
                                run = compiled_runner(torch, compiled[variant], x_dev)
                        elif variant != "graph":  # graphs are captured when timed (below)
                            run = prepare(torch, variant, module, x_dev)
                        else:
                            run = None
                    except Exception as e:  # report and go on with the other variants
                        out["errors"].append(f"{name} {precision} b{batch} {variant}: {e!r}")
                        traceback.print_exc()
                        continue
                    out["compile_s"][f"{variant}/b{batch}"] = time.perf_counter() - start
                    prepared[(variant, batch)] = (run, x_dev)
    except Exception as e:
        out["errors"].append(f"{name} {precision} setup: {e!r}")
        traceback.print_exc()
    print(f"[{name}/{precision}] prepared {sorted(out['compile_s'].items())}", flush=True)
    try:
        barrier.wait(timeout=BARRIER_TIMEOUT_S)
    except threading.BrokenBarrierError:
        pass  # another worker failed or is late: time anyway
    with lock, torch.no_grad():
        reference = {}
        for (variant, batch), (run, x_dev) in sorted(prepared.items(), key=lambda k: k[0][1]):
            try:
                if variant == "graph":
                    run = prepare(torch, "graph", module, x_dev)
                y = run().float().cpu().numpy()
                extra = {"compile_s": out["compile_s"].get(f"{variant}/b{batch}")}
                if batch in reference:
                    extra["rel_err_vs_" + reference[batch][0]] = bc.relative_error(
                        y, reference[batch][1])
                else:
                    reference[batch] = (variant, y)
                # pageable, as krt bench's
                x_host = torch.from_numpy(bc.random_input(batch, model=name))
                y_host = torch.empty(tuple(y.shape), dtype=torch.float32)
                for mode in args.modes:
                    if mode == "host":
                        def run_once():
                            x_dev.copy_(x_host)
                            y_host.copy_(run())  # device -> pageable host: synchronous
                    else:
                        def run_once():
                            run()
                            torch.cuda.synchronize()
                    samples = bc.time_runs(run_once, args.runs, args.warmup_runs)
                    r = bc.record("torch_" + variant, name, precision, batch, mode, samples,
                                  **extra)
                    out["records"].append(r)
                    results.put(("record", r))  # streamed: a later timeout keeps it
                    bc.print_record(r)
            except Exception as e:
                out["errors"].append(f"{name} {precision} b{batch} {variant} timing: {e!r}")
                traceback.print_exc()
    results.put(("done", out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,mobilenetv2")
    parser.add_argument("--precisions", default="fp32,fp16")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--variants", default="graph,compile_frozen")
    parser.add_argument("--modes", default="host,device")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup-runs", type=int, default=20)
    parser.add_argument("--tf32", action="store_true",
                        help="allow TF32 in matmuls too (PyTorch allows it in cuDNN convolutions "
                             "by default)")
    parser.add_argument("--json")
    args = parser.parse_args()
    args.batches = [int(b) for b in args.batches.split(",") if b]
    args.variants = [v for v in args.variants.split(",") if v]
    args.modes = [m for m in args.modes.split(",") if m]
    jobs = [(m, p) for m in args.models.split(",") if m for p in args.precisions.split(",") if p]

    # Share the CPU between the compiling processes (inductor starts its own compile workers).
    threads = max(1, (os.cpu_count() or 4) // max(1, len(jobs)))
    os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", str(threads))

    ctx = mp.get_context("spawn")
    barrier, lock, results = ctx.Barrier(len(jobs)), ctx.Lock(), ctx.Queue()
    start = time.perf_counter()
    procs = [ctx.Process(target=worker, args=(job, args, barrier, lock, results)) for job in jobs]
    for p in procs:
        p.start()
    import torch  # the parent only reports versions; it never touches the GPU
    import torchvision

    records, errors, finished = [], [], 0

    def save():
        if args.json:
            bc.write_json(args.json, {
                "peer": "torch", "torch": torch.__version__,
                "torchvision": torchvision.__version__, "cudnn": torch.backends.cudnn.version(),
                "settings": {"cudnn.benchmark": True, "channels_last": True,
                             "tf32_matmul": bool(args.tf32),
                             "tf32_cudnn": torch.backends.cudnn.allow_tf32 or bool(args.tf32),
                             "tf32_precision_jobs": "cudnn.allow_tf32 and matmul.allow_tf32",
                             "compile": 'mode="reduce-overhead", dynamic=False',
                             "inductor_compile_threads": threads},
                "records": records, "errors": errors})

    # Written after every record, so that a stage cut by its time limit keeps what it measured.
    # A worker that dies before the barrier would hold the others until its timeout, so the
    # barrier is broken for them.
    while finished < len(jobs):
        try:
            kind, payload = results.get(timeout=5)
        except Exception:
            if any(p.exitcode not in (None, 0) for p in procs):
                barrier.abort()
                if all(p.exitcode is not None for p in procs):
                    break
            continue
        if kind == "record":
            records.append(payload)
        else:
            finished += 1
            errors += payload["errors"]
        save()
    for p in procs:
        p.join(timeout=30)
    errors += [f"worker {j} exited with {p.exitcode}" for j, p in zip(jobs, procs)
               if p.exitcode not in (0, None)]
    save()
    print(f"torch peers: {len(records)} records in {time.perf_counter() - start:.1f} s, "
          f"{len(errors)} errors", flush=True)
    for e in errors:
        print("  error:", e)


if __name__ == "__main__":
    main()
