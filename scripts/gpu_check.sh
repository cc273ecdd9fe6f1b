#!/usr/bin/env bash
# Every GPU check of krt in one go, for the lent GPU machine (see scripts/pack_for_device.sh):
# the GPU tests (test_cuda_*), every fixture of tests/fixtures on the GPU in FP32, FP16 and TF32,
# and the command line (build --device cuda with a timing cache, inspect, run). Prints a summary
# last.
#
# Usage, from the repo root on the GPU machine, after scripts/pack_for_device.sh BUILD CARRY here:
#   scripts/gpu_check.sh CARRY [LOG_DIR]
# CARRY holds bin/ and lib/ (libkrt_cuda.so among them). cuDNN is looked for in CUDNN_LIB (default:
# the pip package's folder on the lent machine) and the CUDA toolkit in CUDA_HOME (/usr/local/cuda).
# Logs go to LOG_DIR (default $OUT when set, else a new temporary folder).
# A quicker check while working on one thing: GPU_CHECK_TESTS="test_cuda_backend ..." runs only
# those GPU tests, GPU_CHECK_ONLY=SUBSTR only the fixtures whose names contain it,
# GPU_CHECK_PRECISIONS="tf32" only those of the fixture steps fp32, fp16, tf32 (default all).
# One device call (10 minutes) does not hold every step: GPU_CHECK_STEPS picks the parts, of
# "tests fixtures cli" (default all three, the whole check in one go, as before). A split that fits:
#   call 1: GPU_CHECK_STEPS="tests cli"
#   call 2: GPU_CHECK_STEPS=fixtures GPU_CHECK_PRECISIONS=fp32
#   call 3: GPU_CHECK_STEPS=fixtures GPU_CHECK_PRECISIONS="fp16 tf32"
# The keras.applications networks at full size are scripts/gpu_check_apps.sh, split likewise.
# Exit status: 0 when every step passed (or skipped), 1 otherwise.
set -u
carry=${1:?usage: scripts/gpu_check.sh CARRY [LOG_DIR]}
carry=$(cd "$carry" && pwd)
logs=${2:-${OUT:-$(mktemp -d)}}
mkdir -p "$logs"
cudnn_lib=${CUDNN_LIB:-/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib}
cuda_home=${CUDA_HOME:-/usr/local/cuda}
export LD_LIBRARY_PATH="$carry/lib:$cudnn_lib:$cuda_home/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export KRT_CUDA_BACKEND="$carry/lib/libkrt_cuda.so"
export KRT_SOURCE_DIR=$PWD
export KRT_BUILD_DIR=$logs
export TMPDIR=$logs

summary=()
failed=0
# step NAME COMMAND...: runs it with its output in $logs/NAME.log; records PASS/FAIL/SKIP.
step() {
  local name=$1
  shift
  local start=$SECONDS
  "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  local verdict=PASS
  if [ $rc -eq 77 ]; then verdict=SKIP; elif [ $rc -ne 0 ]; then verdict="FAIL(rc=$rc)"; failed=1; fi
  local detail
  detail=$(grep -E '^[0-9]+ passed, [0-9]+ failed|checks, [0-9]+ failed|skipped:' "$logs/$name.log" | tail -1)
  summary+=("$(printf '%-22s %-10s %4ds  %s' "$name" "$verdict" $((SECONDS - start)) "$detail")")
  echo "== $name: $verdict"
  if [ "$verdict" != PASS ]; then
    grep -E '^(FAIL|XPASS) |CHECK failed|failed:|krt: ' "$logs/$name.log" | head -40
    [ "$verdict" = SKIP ] || tail -5 "$logs/$name.log"
  fi
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -2

parts=" ${GPU_CHECK_STEPS:-tests fixtures cli} "
if [[ $parts == *" tests "* ]]; then
  for t in "$carry"/bin/test_cuda_*; do
    case " ${GPU_CHECK_TESTS:-$(basename "$t")} " in *" $(basename "$t") "*) ;; *) continue ;; esac
    [ -x "$t" ] && step "$(basename "$t")" "$t"
  done
fi
only=()
[ -n "${GPU_CHECK_ONLY:-}" ] && only=(--only "$GPU_CHECK_ONLY")
precisions=" ${GPU_CHECK_PRECISIONS:-fp32 fp16 tf32} "
[[ $parts == *" fixtures "* ]] || precisions=" "
[[ $precisions == *" fp32 "* ]] &&
  step fixtures_fp32 "$carry/bin/run_cases" --device cuda "${only[@]}" tests/fixtures
[[ $precisions == *" fp16 "* ]] &&
  step fixtures_fp16 "$carry/bin/run_cases" --device cuda --fp16 "${only[@]}" tests/fixtures
[[ $precisions == *" tf32 "* ]] &&
  step fixtures_tf32 "$carry/bin/run_cases" --device cuda --tf32 "${only[@]}" tests/fixtures

# The command line: cuda builds with a timing cache (FP32, FP16 and TF32 share it, each under its
# own keys), inspect, run.
cli() {
  local krt="$carry/bin/krt" model=tests/fixtures/small_cnn/model.keras
  "$krt" build "$model" -o "$logs/small_cnn.krt" --device cuda --batch 3 \
    --timing-cache "$logs/timing.cache" &&
    "$krt" build "$model" -o "$logs/small_cnn_fp16.krt" --device cuda --fp16 --batch 3 \
      --timing-cache "$logs/timing.cache" &&
    "$krt" build "$model" -o "$logs/small_cnn_tf32.krt" --device cuda --tf32 --batch 3 \
      --timing-cache "$logs/timing.cache" &&
    "$krt" inspect "$logs/small_cnn.krt" &&
    "$krt" inspect "$logs/small_cnn_tf32.krt" >"$logs/small_cnn_tf32.inspect" &&
    cat "$logs/small_cnn_tf32.inspect" &&
    grep -q "precision: tf32" "$logs/small_cnn_tf32.inspect" &&
    "$krt" run "$logs/small_cnn.krt" --input tests/fixtures/small_cnn/inputs/0.npy \
      --out "$logs/small_cnn_out" &&
    "$carry/bin/run_cases" --compare "$logs/small_cnn_out/probs.npy" \
      tests/fixtures/small_cnn/expected/0.npy 1e-3 1e-4 &&
    "$krt" run "$logs/small_cnn_tf32.krt" --input tests/fixtures/small_cnn/inputs/0.npy \
      --out "$logs/small_cnn_tf32_out" &&
    "$carry/bin/run_cases" --compare "$logs/small_cnn_tf32_out/probs.npy" \
      tests/fixtures/small_cnn/expected/0.npy 1e-2 1e-2
}
[[ $parts == *" cli "* ]] && step cli cli

echo
echo "==== krt GPU check summary ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)); logs in $logs"
printf '%s\n' "${summary[@]}"
exit $failed
