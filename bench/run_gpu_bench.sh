#!/usr/bin/env bash
# The whole krt-vs-peers benchmark, in one command on the lent GPU machine (bench/README.md):
#   1. builds the Keras Applications models there with real Keras (carried wheels, JAX backend)
#   2. builds krt CUDA engines from them (FP32 and FP16, and TF32 when asked: max batch = the
#      largest batch) and times them with krt bench at each batch
#   3. times the PyTorch peers (bench/peers_torch.py) and Keras itself on JAX/XLA
#      (bench/peers_keras_jax.py)
#   4. prints one table and writes $OUT/table.md, $OUT/bench.json, $OUT/run.log and
#      $OUT/details.tar.gz (every krt bench JSON with its per-run latencies, logs, peer JSONs)
#
# Usage: bash bench/run_gpu_bench.sh CARRY_DIR [WHEEL_DIR]
#   CARRY_DIR  a krt build packed by scripts/pack_for_device.sh (bin/krt, lib/libkrt*.so, ...)
#   WHEEL_DIR  the keras wheel and its dependencies missing there (default .whl)
# Environment (all optional):
#   BENCH_MODELS="resnet50 mobilenetv2"  BENCH_PRECISIONS="fp32 fp16"  BENCH_BATCHES="1 32"
#     (BENCH_PRECISIONS may add tf32: krt build --tf32, PyTorch in float32 with
#     torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True, Keras on
#     JAX with jax.default_matmul_precision("tensorfloat32"))
#   BENCH_RUNS=200 (timed runs per measurement, at least)  BENCH_SKIP="" (any of: krt torch jax)
#   BENCH_TORCH_VARIANTS=graph,compile_frozen  BENCH_DEADLINE_S=570 (stages are cut to fit)
#   BENCH_PROFILE=0 (1: krt bench --profile at every batch; the node tables go to the logs)
#   CUDNN_LIB (where libcudnn.so.9 is; default: the pip package of the machine's PyTorch)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
carry=${1:?usage: run_gpu_bench.sh CARRY_DIR [WHEEL_DIR]}
wheels=${2:-.whl}
out=${OUT:-$PWD/bench-out}
models=${BENCH_MODELS:-resnet50 mobilenetv2}
precisions=${BENCH_PRECISIONS:-fp32 fp16}
batches=${BENCH_BATCHES:-1 32}
runs=${BENCH_RUNS:-200}
skip=" ${BENCH_SKIP:-} "
variants=${BENCH_TORCH_VARIANTS:-graph,compile_frozen}
deadline=${BENCH_DEADLINE_S:-570}
profile=${BENCH_PROFILE:-0}
cudnn_lib=${CUDNN_LIB:-/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib}
work=$(mktemp -d -t krt-bench.XXXXXX)
site=$work/site
mkdir -p "$out" "$work/krt"
export PYTHONUNBUFFERED=1

csv() { echo "$*" | tr ' ' ','; }
stage() { printf '\n=== %s (at %d s)\n' "$*" "$SECONDS"; }

# limited MAX RESERVE CMD...: runs CMD for at most MAX seconds, leaving RESERVE seconds of the
# deadline for the stages after it; with less than 10 s to give, does not start it (status 124).
limited() {
  local left=$((deadline - SECONDS - $2 * deadline / 570)) # reserves are for the default deadline
  ((left > $1)) && left=$1
  shift 2
  if ((left < 10)); then
    echo "skipped for lack of time (BENCH_DEADLINE_S=$deadline): $*" >&2
    return 124
  fi
  timeout --kill-after=10 "$left" "$@"
}

main() {
  stage "machine"
  date -u '+%Y-%m-%d %H:%M UTC' | tee "$work/machine.txt"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu \
    --format=csv,noheader 2>&1 | tee -a "$work/machine.txt"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" "$wheels"/*.whl || { echo "cannot install the wheels from $wheels"; return 1; }
  export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
  KERAS_BACKEND=jax python3 -c 'import sys, torch, torchvision, jax, keras
print("python", sys.version.split()[0], "| torch", torch.__version__, "| torchvision",
      torchvision.__version__, "| cudnn", torch.backends.cudnn.version(), "| jax", jax.__version__,
      "| keras", keras.__version__)' 2>&1 | grep -v Warning | tee -a "$work/machine.txt"
  echo "krt: $carry$( [[ -e $carry/lib/libkrt_cuda.so ]] || echo ' (no libkrt_cuda.so)')" |
    tee -a "$work/machine.txt"

  stage "Keras models (real Keras, random weights)"
  JAX_PLATFORMS=cpu KERAS_BACKEND=jax limited 90 420 \
    python3 "$here/make_keras_models.py" "$work/models" --models "$(csv "$models")" ||
    { echo "the Keras models could not be built"; return 1; }

  if [[ $skip == *" krt "* ]]; then
    echo "krt: skipped (BENCH_SKIP)"
  elif [[ ! -x $carry/bin/krt || ! -e $carry/lib/libkrt_cuda.so ]]; then
    echo "krt: skipped: $carry/bin/krt or $carry/lib/libkrt_cuda.so is missing"
  else
    stage "krt: build and bench"
    local abs maxb=0 b
    abs=$(cd "$carry" && pwd)
    for b in $batches; do ((b > maxb)) && maxb=$b; done
    local -a krt_env=(env "LD_LIBRARY_PATH=$abs/lib:$cudnn_lib:/usr/local/cuda/lib64"
                      "KRT_CUDA_BACKEND=$abs/lib/libkrt_cuda.so" "$abs/bin/krt")
    for model in $models; do
      for precision in $precisions; do
        local engine=$work/krt/${model}_${precision}.krt flag=""
        [[ $precision == fp16 ]] && flag=--fp16
        [[ $precision == tf32 ]] && flag=--tf32
        local t0=$SECONDS log=$work/krt/build_${model}_${precision}.log
        if ! limited 120 360 "${krt_env[@]}" build "$work/models/$model.keras" \
             -o "$engine" --device cuda $flag --batch "$maxb" >"$log" 2>&1; then
          echo "krt build $model $precision failed: $(tail -n 2 "$log")"
          continue
        fi
        echo "built $model $precision in $((SECONDS - t0)) s: $(tail -n 1 "$log" | cut -c1-160)"
        for b in $batches; do
          local name=${model}_${precision}_b$b extra=()
          [[ $profile == 1 ]] && extra=(--profile)
          if limited 60 330 "${krt_env[@]}" bench "$engine" --batch "$b" \
               --iterations "$runs" --duration 1 --warmup 500 "${extra[@]}" \
               --json "$work/krt/$name.json" >"$work/krt/bench_$name.log" 2>&1; then
            echo "  $name: $(grep '^Latency' "$work/krt/bench_$name.log")"
          else
            echo "  $name: krt bench failed: $(tail -n 2 "$work/krt/bench_$name.log")"
            rm -f "$work/krt/$name.json"
          fi
          # The same with inputs and outputs in device memory (the peers' "device" mode).
          if limited 60 330 "${krt_env[@]}" bench "$engine" --batch "$b" --device-buffers \
               --iterations "$runs" --duration 1 --warmup 500 \
               --json "$work/krt/${name}_dev.json" >"$work/krt/bench_${name}_dev.log" 2>&1; then
            echo "  $name device buffers: $(grep '^Latency' "$work/krt/bench_${name}_dev.log")"
          else
            echo "  $name device buffers: krt bench failed: $(tail -n 2 "$work/krt/bench_${name}_dev.log")"
            rm -f "$work/krt/${name}_dev.json"
          fi
        done
      done
    done
  fi

  if [[ $skip == *" torch "* ]]; then
    echo "torch: skipped (BENCH_SKIP)"
  else
    stage "PyTorch peers ($variants)"
    limited 330 100 python3 "$here/peers_torch.py" --models "$(csv "$models")" \
      --precisions "$(csv "$precisions")" --batches "$(csv "$batches")" --variants "$variants" \
      --runs "$runs" --json "$work/torch.json" || echo "torch peers: exit status $?"
  fi

  if [[ $skip == *" jax "* ]]; then
    echo "Keras on JAX: skipped (BENCH_SKIP)"
  else
    stage "Keras on JAX/XLA"
    # It compiles and times one (model, precision, batch) at a time and starts no new one past
    # --budget-s, leaving time for the last to finish inside the stage's limit.
    local jax_budget=$((deadline - SECONDS - 60))
    XLA_PYTHON_CLIENT_PREALLOCATE=false KERAS_BACKEND=jax limited 300 10 \
      python3 "$here/peers_keras_jax.py" --models-dir "$work/models" --models "$(csv "$models")" \
      --precisions "$(csv "$precisions")" --batches "$(csv "$batches")" --runs "$runs" \
      --budget-s "$((jax_budget > 10 ? jax_budget : 10))" --json "$work/jax.json" 2>&1 | grep -v -E '^(I0000|W0000|WARNING: All log)' ||
      echo "Keras on JAX: failed"
  fi

  stage "table"
  (cd "$work" && tar -czf "$out/details.tar.gz" --ignore-failed-read machine.txt krt/*.json \
     krt/*.log torch.json jax.json 2>/dev/null)
  python3 "$here/make_table.py" "$work" "$out"
  echo "total ${SECONDS} s; results in $out (table.md bench.json run.log details.tar.gz)"
}

main 2>&1 | tee "$out/run.log"
status=${PIPESTATUS[0]}
rm -rf "$work"
exit "$status"
