#!/bin/sh
# krt compare end to end on the committed small_cnn fixture (conv+bn+relu blocks, a residual add,
# pooling, a dense softmax), on the CPU:
#   - the CPU engine against the CPU reference: exit 0, one line per tensor, nothing marked;
#   - the target broken on purpose at one node (KRT_DEBUG_BREAK_NODE, in KRT_DEBUG_HOOKS builds):
#     exit 1 and "first beyond tolerance" on exactly that node's line;
#   - against per-layer outputs of real Keras (tools/keras_layer_outputs.py), when python3 can
#     import keras: exit 0; exit 1 with a tolerance of 0; the break found the same way;
#   - usage and build errors: exit 2 with one line on stderr.
#
#   KRT=path/to/krt [KRT_DEBUG_HOOKS_BUILT=ON] [PYTHON=python3] sh tests/compare_test.sh tests/fixtures
#
# Exit status 0 when every check passes, 1 otherwise, 77 when something it needs is missing.

fixtures=${1:-tests/fixtures}
here=$(cd "$(dirname "$0")" && pwd)
script=$here/../tools/keras_layer_outputs.py
python=${PYTHON:-python3}
if [ -z "$KRT" ] || [ ! -x "$KRT" ]; then
  echo "compare_test: set KRT to the krt binary"
  exit 77
fi
cnn=$fixtures/small_cnn
model=$cnn/model.keras
if [ ! -f "$model" ]; then
  echo "compare_test: fixture $cnn not found"
  exit 77
fi
broken=block1a_conv   # a middle node: stem_conv before it, block1b_conv ... probs after it

work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
unset KRT_DEBUG_BREAK_NODE

failures=0
checks=0
pass() { checks=$((checks + 1)); echo "ok   $1"; }
fail() {
  checks=$((checks + 1))
  failures=$((failures + 1))
  echo "FAIL $1"
  if [ -s "$work/out" ]; then sed 's/^/     stdout: /' "$work/out" | head -n 30; fi
  if [ -s "$work/err" ]; then sed 's/^/     stderr: /' "$work/err" | head -n 20; fi
}

# run_compare ARGS...: runs krt compare, status in $status, stdout in $work/out.
run_compare() {
  "$KRT" compare "$@" >"$work/out" 2>"$work/err"
  status=$?
}

# Lines of the table: "  <index>  <tensor> ...".
rows() { grep -E '^ +[0-9]+  ' "$work/out" | wc -l | tr -d ' '; }
marked() { grep -c 'first beyond tolerance' "$work/out"; }

# expect_agree WHAT ARGS...: exit 0, as many rows as "N tensors compared" says (at least 5), no
# marker.
expect_agree() {
  what=$1
  shift
  run_compare "$@"
  n=$(sed -n 's/^\([0-9]*\) tensors* compared.*/\1/p' "$work/out")
  if [ "$status" -ne 0 ]; then fail "$what: exit $status, expected 0"
  elif [ -z "$n" ] || [ "$(rows)" -ne "$n" ] || [ "$n" -lt 5 ]; then
    fail "$what: $(rows) rows for '${n:-?}' tensors compared"
  elif [ "$(marked)" -ne 0 ]; then fail "$what: a tensor is marked"
  else pass "$what ($n tensors)"
  fi
}

# expect_broken WHAT NODE ARGS...: exit 1 and the first marker on NODE's row alone, with the rows
# before it not beyond tolerance.
expect_broken() {
  what=$1
  node=$2
  shift 2
  KRT_DEBUG_BREAK_NODE=$node run_compare "$@"
  first=$(grep -n 'beyond' "$work/out" | head -n 1)
  if [ "$status" -ne 1 ]; then fail "$what: exit $status, expected 1"
  elif [ "$(marked)" -ne 1 ]; then fail "$what: $(marked) rows marked first, expected 1"
  elif ! grep 'first beyond tolerance' "$work/out" | grep -q " $node (Conv) "; then
    fail "$what: the marker is not on node $node"
  elif ! echo "$first" | grep -q 'first beyond tolerance'; then
    fail "$what: a row before the first marker is beyond tolerance"
  else pass "$what: $(grep 'first beyond tolerance' "$work/out" | sed 's/  */ /g')"
  fi
}

# expect_error WHAT ARGS...: exit 2 and one line on stderr.
expect_error() {
  what=$1
  shift
  run_compare "$@"
  lines=$(wc -l <"$work/err" | tr -d ' ')
  if [ "$status" -ne 2 ]; then fail "$what: exit $status, expected 2"
  elif [ "$lines" -ne 1 ]; then fail "$what: $lines lines on stderr, expected 1"
  else pass "$what: $(cat "$work/err")"
  fi
}

expect_agree "cpu vs cpu reference, fixture input" "$model" --input "$cnn/inputs/0.npy"
expect_agree "cpu vs cpu reference, random inputs" "$model" --batch 2 --seed 7
expect_agree "per-element tolerance" "$model" --rtol 1e-4 --atol 1e-5
if [ "$KRT_DEBUG_HOOKS_BUILT" = "ON" ] || [ "$KRT_DEBUG_HOOKS_BUILT" = "1" ]; then
  expect_broken "break hook on $broken" "$broken" "$model" --input "$cnn/inputs/0.npy"
  expect_broken "break hook, random inputs" "$broken" "$model" --seed 3
  KRT_DEBUG_BREAK_NODE=no_such_node run_compare "$model"
  if [ "$status" -eq 2 ] && grep -q no_such_node "$work/err"; then pass "break hook naming no node"
  else fail "break hook naming no node: exit $status"
  fi
else
  echo "skip break-hook checks (built without KRT_DEBUG_HOOKS)"
fi

expect_error "no model" --seed 1
expect_error "unknown option" "$model" --frobnicate
expect_error "missing model file" "$work/absent.keras"
expect_error "--tolerance with --rtol" "$model" --tolerance 1e-3 --rtol 1e-3
expect_error "bad --tolerance" "$model" --tolerance abc
expect_error "fp16 on the cpu" "$model" --fp16
expect_error "--fp16 with --tf32" "$model" --fp16 --tf32
expect_error "reference directory missing" "$model" --reference "$work/absent"
# CUDA: a clean error where there is no GPU (or no CUDA module); where there is one, agreement.
run_compare "$model" --device cuda
if [ "$status" -eq 0 ]; then pass "cuda target agrees with the cpu reference"
elif [ "$status" -eq 2 ] && [ "$(wc -l <"$work/err" | tr -d ' ')" -eq 1 ]; then
  pass "cuda unavailable: $(cat "$work/err")"
else fail "cuda target: exit $status"
fi

if "$python" -c "import keras, numpy" >/dev/null 2>&1; then
  ref=$work/keras_ref
  if "$python" "$script" "$model" "$ref" --input "image=$cnn/inputs/0.npy" >"$work/out" 2>"$work/err" &&
     [ -f "$ref/index.json" ] && [ -f "$ref/inputs/image.npy" ] && [ -f "$ref/block1a_relu.npy" ]; then
    pass "keras_layer_outputs.py wrote $ref"
  else
    fail "keras_layer_outputs.py"
  fi
  expect_agree "cpu vs keras layer outputs" "$model" --reference "$ref"
  if grep -q 'without a reference counterpart skipped' "$work/out"; then
    pass "tensors keras lacks are skipped"
  else fail "no skipped-tensor count"
  fi
  run_compare "$model" --reference "$ref" --tolerance 0
  if [ "$status" -eq 1 ] && [ "$(marked)" -eq 1 ]; then pass "tolerance 0 against keras: exit 1"
  else fail "tolerance 0 against keras: exit $status, $(marked) marked"
  fi
  if [ "$KRT_DEBUG_HOOKS_BUILT" = "ON" ] || [ "$KRT_DEBUG_HOOKS_BUILT" = "1" ]; then
    expect_broken "break hook against keras" "$broken" "$model" --reference "$ref"
  fi
  rref=$work/keras_random
  if "$python" "$script" "$model" "$rref" --batch 2 --seed 5 >"$work/out" 2>"$work/err"; then
    expect_agree "keras random inputs, read back from DIR/inputs" "$model" --reference "$rref"
  else
    fail "keras_layer_outputs.py with random inputs"
  fi
else
  echo "skip --reference checks ($python cannot import keras)"
fi

echo "compare_test: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
