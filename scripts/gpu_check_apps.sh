#!/usr/bin/env bash
# The keras.applications networks at full size on the GPU, in FP32, TF32 and FP16, for the lent GPU
# machine. It has JAX (GPU) but no Keras or TensorFlow, and the cases hold gigabytes of weights, so
# the cases are built there: Keras from the carried wheels on the JAX backend, the same generator
# as CI (tools/fixtures/make_applications.py --size full), references in full float32
# (jax_default_matmul_precision=highest), BatchNormalization statistics set from one seeded batch
# (--calibrate-batchnorm: with Keras's initial ones some networks' activations fall below
# float16's range at full size, which no FP16 engine can represent).
#
# Usage, from the repo root on the GPU machine:
#   here:  scripts/pack_for_device.sh BUILD CARRY && scripts/pack_apps_for_device.sh CARRY
#   there: scripts/gpu_check_apps.sh CARRY [LOG_DIR]
# CARRY holds bin/run_cases, lib/ and wheels/. Logs go to LOG_DIR (default $OUT, else a temporary
# folder). One call of 10 minutes cannot build and run all forty networks three times, so:
#   APPS_ONLY="ResNet*,VGG16"     which networks (comma-separated globs; default all forty)
#   APPS_STEPS="generate run"     generate: write the cases that are not there yet; run: run them
#   APPS_PRECISIONS="fp32 tf32 fp16"
#   APPS_CASES=DIR                where the cases live (default build-apps/cases: an ignored path,
#                                 so on a machine still warm from the last call they are reused)
#   PYTHON=...                    the Python with JAX (default: the first of python3 and
#                                 /opt/torch/.venv/bin/python that imports jax)
# Carried wheels are appended to sys.path, after the machine's own packages: what is there wins,
# the wheels fill the gaps. A missing module is reported by name before anything else runs.
# Exit status: 0 when every step passed, 1 otherwise; a summary with one line per step comes last.
set -u
carry=${1:?usage: scripts/gpu_check_apps.sh CARRY [LOG_DIR]}
carry=$(cd "$carry" && pwd)
logs=${2:-${OUT:-$(mktemp -d)}}
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
cases=${APPS_CASES:-build-apps/cases}
mkdir -p "$cases"
cases=$(cd "$cases" && pwd)
steps=" ${APPS_STEPS:-generate run} "
precisions=${APPS_PRECISIONS:-fp32 tf32 fp16}
only=${APPS_ONLY:-*}
cudnn_lib=${CUDNN_LIB:-/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib}
cuda_home=${CUDA_HOME:-/usr/local/cuda}
export LD_LIBRARY_PATH="$carry/lib:$cudnn_lib:$cuda_home/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export KRT_CUDA_BACKEND="$carry/lib/libkrt_cuda.so"
export KERAS_BACKEND=jax
export JAX_DEFAULT_MATMUL_PRECISION=highest
# JAX takes 75% of the GPU at start by default; krt runs in other processes and needs it.
export XLA_PYTHON_CLIENT_PREALLOCATE=false

python=${PYTHON:-}
if [ -z "$python" ]; then
  for p in python3 /opt/torch/.venv/bin/python; do
    if "$p" -c "import jax" >/dev/null 2>&1; then python=$p; break; fi
  done
fi
if [ -z "$python" ]; then
  echo "gpu_check_apps: no Python that imports jax (set PYTHON)"
  exit 1
fi

# Wheels are zip files; unpacked they are importable as they are (h5py's and optree's compiled
# parts find their bundled libraries relative to themselves).
site="$logs/carried-site"
if [ -d "$carry/wheels" ]; then
  rm -rf "$site"
  mkdir -p "$site"
  for w in "$carry"/wheels/*.whl; do "$python" -m zipfile -e "$w" "$site" || exit 1; done
fi
# py SCRIPT ARGS...: runs a Python file with the carried packages after the machine's own.
py() {
  "$python" -c 'import runpy, sys
sys.path.append(sys.argv[1])
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")' "$site" "$@"
}

echo "python: $python ($("$python" --version 2>&1))"
cat >"$logs/check_modules.py" <<'EOF'
import importlib
missing = []
for module in ("numpy", "jax", "ml_dtypes", "keras", "h5py", "optree", "absl", "namex", "rich",
               "packaging"):
    try:
        m = importlib.import_module(module)
        print("  %-10s %-10s %s" % (module, getattr(m, "__version__", "?"), m.__file__))
    except Exception as e:
        missing.append("%s (%s: %s)" % (module, type(e).__name__, e))
if missing:
    raise SystemExit("gpu_check_apps: missing Python modules: " + "; ".join(missing) +
                     "\n  carry them: scripts/pack_apps_for_device.sh CARRY")
import jax
print("  jax devices:", jax.devices())
EOF
py "$logs/check_modules.py" || exit 1

summary=()
failed=0
# step NAME COMMAND...: runs it with its output in $logs/NAME.log; records PASS/FAIL.
step() {
  local name=$1
  shift
  local start=$SECONDS
  "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  local verdict=PASS
  if [ $rc -eq 77 ]; then verdict=SKIP; elif [ $rc -ne 0 ]; then verdict="FAIL(rc=$rc)"; failed=1; fi
  local detail
  detail=$(grep -E '^[0-9]+ passed, [0-9]+ failed|applications written' "$logs/$name.log" | tail -1)
  summary+=("$(printf '%-16s %-10s %4ds  %s' "$name" "$verdict" $((SECONDS - start)) "$detail")")
  echo "== $name: $verdict"
  grep -E '^(PASS|FAIL|XFAIL|XPASS|SKIP) |^(wrote|kept|FAILED|WARNING) ' "$logs/$name.log"
  [ "$verdict" = PASS ] || tail -5 "$logs/$name.log"
}

[[ $steps == *" generate "* ]] &&
  step generate py tools/fixtures/make_applications.py --size full --calibrate-batchnorm --keep --only "$only" \
    --out "$cases"

if [[ $steps == *" run "* ]]; then
  # run_cases takes a folder: the selected cases are linked into one.
  selection="$logs/selection"
  rm -rf "$selection"
  mkdir -p "$selection"
  for name in $(py tools/fixtures/make_applications.py --size full --list --names \
    --only "$only"); do
    [ -f "$cases/$name/case.json" ] && ln -s "$cases/$name" "$selection/$name"
  done
  echo "cases to run: $(ls "$selection" | tr '\n' ' ')"
  for precision in $precisions; do
    flag=()
    [ "$precision" = fp32 ] || flag=(--"$precision")
    step "apps_$precision" "$carry/bin/run_cases" --device cuda "${flag[@]}" \
      --known-failures tests/applications_known_failures.txt "$selection"
  done
fi

echo
echo "==== krt keras.applications GPU check ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)); logs in $logs"
printf '%s\n' "${summary[@]}"
exit $failed
