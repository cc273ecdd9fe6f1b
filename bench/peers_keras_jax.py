"""Peer: Keras itself on JAX/XLA, from the same .keras files krt builds its engines from.

For each model file the predict function is the model's stateless call with the variables passed
as arguments (as Keras's own jitted predict_step does), jitted with XLA, float32 input and float32
output. TF32 is the float32 model lowered under jax.default_matmul_precision("tensorfloat32").
FP16 is the same model cloned with the "float16" dtype policy on every layer and the
file's weights copied in (Keras keeps BatchNormalization's arithmetic in float32 itself).
Each (model, precision, batch) is compiled ahead of time (XLA autotunes its convolutions on the
GPU then), and timed right after, one at a time.

Usage: XLA_PYTHON_CLIENT_PREALLOCATE=false KERAS_BACKEND=jax \
         python3 bench/peers_keras_jax.py --models-dir DIR [--json FILE] [--runs 200]
"""
import argparse
import contextlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("KERAS_BACKEND", "jax")
# Without this JAX takes 75% of GPU memory at start-up, which other peers in the same call need.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402


def with_policy(model, policy):
    """The same functional model with `policy` on every layer and the same weights."""
    if policy == "float32":
        return model

    def clone_layer(layer):
        config = layer.get_config()
        config["dtype"] = policy
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=clone_layer)
    clone.set_weights(model.get_weights())
    return clone


def make_predict(model):
    def predict(trainable, non_trainable, x):
        y, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return y.astype(jnp.float32)

    return jax.jit(predict)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--models", default="resnet50,mobilenetv2")
    parser.add_argument("--precisions", default="fp32,fp16")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--modes", default="host,device")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup-runs", type=int, default=20)
    parser.add_argument("--budget-s", type=float, default=0,
                        help="start no new (model, precision, batch) after this many seconds")
    parser.add_argument("--parallel-compile", type=int, default=1, metavar="THREADS",
                        help="compile everything first in this many threads (default 1: compile "
                             "and time one at a time)")
    parser.add_argument("--json")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    precisions = [p for p in args.precisions.split(",") if p]
    batches = [int(b) for b in args.batches.split(",") if b]
    modes = [m for m in args.modes.split(",") if m]

    devices = jax.devices()
    print(f"keras {keras.__version__}, jax {jax.__version__}, devices {devices}", flush=True)
    policies = {"fp32": "float32", "fp16": "float16", "tf32": "float32"}
    start = time.perf_counter()

    def stamp():
        return f"[{time.perf_counter() - start:6.1f} s]"

    # Lowering (tracing) stays in this thread: Keras keeps its tracing state per thread.
    jobs = []
    for name in models:
        path = os.path.join(args.models_dir, f"{name}.keras")
        base = keras.models.load_model(path, compile=False)
        print(f"{stamp()} loaded {path}", flush=True)
        for precision in precisions:
            model = with_policy(base, policies[precision])
            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            predict = make_predict(model)
            for batch in batches:
                spec = jax.ShapeDtypeStruct((batch,) + bc.input_hw(name), jnp.float32)
                # The matmul precision is fixed when tracing, so it is set around the lowering.
                with (jax.default_matmul_precision("tensorfloat32") if precision == "tf32"
                      else contextlib.nullcontext()):
                    lowered = predict.lower(trainable, non_trainable, spec)
                jobs.append({"model": name, "precision": precision, "batch": batch,
                             "state": (trainable, non_trainable), "lowered": lowered})
        print(f"{stamp()} lowered {name}", flush=True)

    def compile_job(job):
        t = time.perf_counter()
        job["compiled"] = job["lowered"].compile()
        job["compile_s"] = time.perf_counter() - t
        print(f"{stamp()} compiled {job['model']} {job['precision']} b{job['batch']} in "
              f"{job['compile_s']:.1f} s", flush=True)

    if args.parallel_compile > 1:
        # Faster, but XLA autotunes its convolutions on the GPU while compiling, and parallel
        # compiles share the GPU: their algorithm choices are timed under contention.
        with ThreadPoolExecutor(max_workers=args.parallel_compile) as pool:
            list(pool.map(compile_job, jobs))

    records, skipped = [], []
    reference = {}
    for job in jobs:
        # Sequential: compile (autotuning alone on the GPU), then time, one job at a time; past
        # the budget the remaining jobs are skipped, so a slow compiler still leaves results.
        if args.budget_s and time.perf_counter() - start > args.budget_s:
            skipped.append(f"{job['model']} {job['precision']} b{job['batch']}")
            continue
        if "compiled" not in job:
            compile_job(job)
        fn = job["compiled"]
        trainable, non_trainable = job["state"]
        x_host = bc.random_input(job["batch"], model=job["model"])
        x_dev = jax.device_put(x_host)
        y = np.asarray(fn(trainable, non_trainable, x_dev))
        # FP16 against FP32 on the same input: a check that the clone computes the same network.
        key = (job["model"], job["batch"])
        extra = {"compile_s": job["compile_s"]}
        if job["precision"] == "fp32":
            reference[key] = y
        elif key in reference:
            extra["rel_err_vs_fp32"] = bc.relative_error(y, reference[key])
        for mode in modes:
            if mode == "host":
                def run_once():
                    np.asarray(fn(trainable, non_trainable, jax.device_put(x_host)))
            else:
                def run_once():
                    fn(trainable, non_trainable, x_dev).block_until_ready()
            samples = bc.time_runs(run_once, args.runs, args.warmup_runs)
            r = bc.record("keras_jax", job["model"], job["precision"], job["batch"], mode,
                          samples, **extra)
            records.append(r)
            bc.print_record(r)
        job.pop("compiled")  # frees the executable before the next compile
        if args.json:  # after every job, so that a stage cut by its time limit keeps results
            bc.write_json(args.json, {
                "peer": "keras_jax", "keras": keras.__version__, "jax": jax.__version__,
                "devices": [str(d) for d in devices], "records": records,
                "errors": [f"keras_jax: skipped for lack of time: {j}" for j in skipped]})
    if skipped:
        print(f"{stamp()} skipped for lack of time (--budget-s {args.budget_s}): {skipped}")
        if args.json:
            bc.write_json(args.json, {
                "peer": "keras_jax", "keras": keras.__version__, "jax": jax.__version__,
                "devices": [str(d) for d in devices], "records": records,
                "errors": [f"keras_jax: skipped for lack of time: {j}" for j in skipped]})

if __name__ == "__main__":
    main()
