#!/bin/sh
# The krt command line end to end, on committed fixtures (tests/fixtures):
#   inspect a model, build an engine, inspect it, run it on named and unnamed .npy inputs and
#   compare the outputs with Keras's references; cut a model at an inner layer; and check that
#   mistakes (missing file, unknown output, bad --input, corrupt engine) fail with one line.
#
#   KRT=path/to/krt RUN_CASES=path/to/run_cases sh tests/cli_test.sh tests/fixtures
#
# Exit status 0 when every check passes, 1 otherwise, 77 when something it needs is missing.

fixtures=${1:-tests/fixtures}
if [ -z "$KRT" ] || [ ! -x "$KRT" ]; then
  echo "cli_test: set KRT to the krt binary"
  exit 77
fi
if [ -z "$RUN_CASES" ]; then
  RUN_CASES=$(dirname "$KRT")/tests/run_cases
fi
if [ ! -x "$RUN_CASES" ]; then
  echo "cli_test: set RUN_CASES to the run_cases binary"
  exit 77
fi

mlp=$fixtures/mlp_sequential          # input "features" (3, 8), output "probs" (3, 4)
inner=$fixtures/inner_output          # input "image"; outputs "out" and the inner layer "conv1"
for case in "$mlp" "$inner" "$fixtures/multi_input"; do
  if [ ! -f "$case/case.json" ]; then
    echo "cli_test: fixture $case not found"
    exit 77
  fi
done

work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

failures=0
checks=0

pass() { checks=$((checks + 1)); echo "ok   $1"; }
fail() {
  checks=$((checks + 1))
  failures=$((failures + 1))
  echo "FAIL $1"
  if [ -s "$work/out" ]; then sed 's/^/     stdout: /' "$work/out" | head -n 20; fi
  if [ -s "$work/err" ]; then sed 's/^/     stderr: /' "$work/err" | head -n 20; fi
}

# expect_ok DESCRIPTION COMMAND...: the command succeeds.
expect_ok() {
  what=$1
  shift
  if "$@" >"$work/out" 2>"$work/err"; then pass "$what"; else fail "$what (exit $?)"; fi
}

# expect_error DESCRIPTION COMMAND...: the command fails cleanly: a non-zero status that is not
# a crash, and exactly one line on stderr.
expect_error() {
  what=$1
  shift
  "$@" >"$work/out" 2>"$work/err"
  status=$?
  lines=$(wc -l <"$work/err" | tr -d ' ')
  if [ "$status" -eq 0 ]; then
    fail "$what: succeeded, expected an error"
  elif [ "$status" -ge 126 ]; then
    fail "$what: exit status $status (crash?)"
  elif [ "$lines" -ne 1 ]; then
    fail "$what: $lines lines on stderr, expected 1"
  else
    pass "$what: $(cat "$work/err")"
  fi
}

# expect_output DESCRIPTION FILE PATTERN: FILE (stdout of the last command) contains PATTERN.
expect_output() {
  if grep -q -- "$3" "$2"; then pass "$1"; else fail "$1: no '$3' in the output"; fi
}

# compare DESCRIPTION GOT EXPECTED: same shape and values within the fixtures' tolerance.
compare() {
  if "$RUN_CASES" --compare "$2" "$3" 1e-4 1e-5 >"$work/out" 2>"$work/err"; then
    pass "$1: $(cat "$work/out")"
  else
    fail "$1"
  fi
}

# --- the happy path -----------------------------------------------------------------------
expect_ok "inspect model" "$KRT" inspect "$mlp/model.keras"
expect_output "inspect model lists the layers" "$work/out" "hidden2"
expect_ok "build engine" "$KRT" build "$mlp/model.keras" -o "$work/mlp.krt" --batch 3
if [ -s "$work/mlp.krt" ]; then pass "engine file written"; else fail "engine file written"; fi
expect_ok "inspect engine" "$KRT" inspect "$work/mlp.krt"
expect_output "inspect engine names the output" "$work/out" "probs"
expect_ok "run engine, named input" \
  "$KRT" run "$work/mlp.krt" --input "features=$mlp/inputs/0.npy" --out "$work/run1"
compare "engine output = Keras" "$work/run1/probs.npy" "$mlp/expected/0.npy"
expect_ok "run model, unnamed input" "$KRT" run "$mlp/model.keras" --input "$mlp/inputs/0.npy" \
  --out "$work/run2"
compare "model output = Keras" "$work/run2/probs.npy" "$mlp/expected/0.npy"
expect_ok "run without --out prints values" "$KRT" run "$work/mlp.krt" \
  --input "$mlp/inputs/0.npy"
expect_output "run prints the output name" "$work/out" "probs"

# --- a model cut at an inner layer: conv1 is the case's second reference output ------------
expect_ok "build cut at conv1" "$KRT" build "$inner/model.keras" --output conv1 \
  -o "$work/cut.krt" --batch 2
expect_ok "run cut engine" "$KRT" run "$work/cut.krt" --input "image=$inner/inputs/0.npy" \
  --out "$work/run3"
compare "cut output = Keras's conv1" "$work/run3/conv1.npy" "$inner/expected/1.npy"

# --- a node with several outputs: dump and inspect show each, --output NODE:k picks one ------
splits=$fixtures/ops_split_branches
if [ -f "$splits/model.keras" ]; then
  expect_ok "dump a model with Split nodes" "$KRT" dump "$splits/model.keras"
  expect_output "dump lists every output of a Split" "$work/out" \
    "= Split split(.*-> \[Nx6x6x5\], \[Nx6x6x3\], \[Nx6x6x4\]"
  expect_ok "build cut at one output of several" "$KRT" build "$splits/model.keras" \
    --output split:1 -o "$work/split.krt"
  expect_ok "inspect the engine with a Split" "$KRT" inspect "$work/split.krt"
  expect_output "inspect names the chosen output" "$work/out" "split:1 *float32 *Nx6x6x3"
  expect_output "inspect lists the node's outputs" "$work/out" \
    "outputs: split:0 \[Nx6x6x5\], split:1 \[Nx6x6x3\], split:2 \[Nx6x6x4\]"
fi
if [ -e "$work/run3/out.npy" ]; then fail "cut engine has only conv1"; else
  pass "cut engine has only conv1"; fi

# --- mistakes fail with one line ------------------------------------------------------------
expect_error "missing model file" "$KRT" inspect "$work/no_such_model.keras"
expect_error "missing engine file" "$KRT" run "$work/no_such.krt" --input "$mlp/inputs/0.npy"
expect_error "missing input file" "$KRT" run "$work/mlp.krt" --input "features=$work/none.npy"
expect_error "unknown --output layer" "$KRT" build "$mlp/model.keras" --output no_such_layer \
  -o "$work/bad.krt"
expect_error "unknown input name" "$KRT" run "$work/mlp.krt" \
  --input "no_such_input=$mlp/inputs/0.npy"
expect_error "bad --input spelling (no file)" "$KRT" run "$work/mlp.krt" --input "features:"
expect_error "bad --input spelling (empty name)" "$KRT" run "$work/mlp.krt" \
  --input "=$mlp/inputs/0.npy"
expect_error "input given twice" "$KRT" run "$work/mlp.krt" --input "features=$mlp/inputs/0.npy" \
  --input "features=$mlp/inputs/0.npy"
expect_error "unnamed input for a two-input model" "$KRT" run "$fixtures/multi_input/model.keras" \
  --input "$fixtures/multi_input/inputs/0.npy"
expect_error "--input without a value" "$KRT" run "$work/mlp.krt" --input
expect_error "input of the wrong shape" "$KRT" run "$work/cut.krt" \
  --input "image=$mlp/inputs/0.npy"
expect_ok "build engine for batch 1" "$KRT" build "$mlp/model.keras" -o "$work/batch1.krt"
expect_error "batch above the engine's max" "$KRT" run "$work/batch1.krt" \
  --input "$mlp/inputs/0.npy"
expect_error "unknown command" "$KRT" frobnicate

# Numbers too long for 64 bits are refused as out of range, naming the option (issue 12).
huge=99999999999999999999
expect_error "--batch beyond 64 bits" "$KRT" build "$mlp/model.keras" -o "$work/huge.krt" \
  --batch "$huge"
expect_output "the error says --batch is out of range" "$work/err" "--batch '$huge': out of range"
expect_error "negative --batch beyond 64 bits" "$KRT" build "$mlp/model.keras" \
  -o "$work/huge.krt" --batch "-$huge"
expect_output "the error says --batch is out of range" "$work/err" "--batch '-$huge': out of range"
expect_error "bench --iterations beyond 64 bits" "$KRT" bench "$work/mlp.krt" --iterations "$huge"
expect_output "the error says --iterations is out of range" "$work/err" \
  "--iterations '$huge': out of range"
expect_error "compare --seed beyond 64 bits" "$KRT" compare "$mlp/model.keras" --seed "$huge"
expect_output "the error says --seed is out of range" "$work/err" "--seed '$huge': out of range"
expect_error "--input dimension beyond 64 bits" "$KRT" build "$mlp/model.keras" \
  -o "$work/huge.krt" --input "features:${huge}x8"
expect_output "the error says the dimension is too large" "$work/err" "dimension too large"

# --- krt bench --device-buffers: CUDA engines only; a CPU engine is refused by name --------------
expect_ok "bench --help" "$KRT" bench --help
expect_output "bench --help lists --device-buffers" "$work/out" "--device-buffers"
expect_error "bench --device-buffers on a cpu engine" "$KRT" bench "$work/mlp.krt" \
  --device-buffers --iterations 1 --duration 0
expect_output "the error names --device-buffers" "$work/err" "--device-buffers"

# --- a UFF file (tests/data/uff, built by test_import_uff): its Input has no shape ------------------
uff=$fixtures/../data/uff/nhwc.uff
if [ -f "$uff" ]; then
  expect_error "inspect a UFF file without its input's shape" "$KRT" inspect "$uff"
  expect_output "the error says how to give the shape" "$work/err" "--input x:"
  expect_ok "inspect a UFF file with --input" "$KRT" inspect "$uff" --input x:1x3x3x2
  expect_output "inspect lists the UFF nodes" "$work/out" "fc/BiasAdd"
  expect_ok "build a UFF file" "$KRT" build "$uff" -o "$work/uff.krt" --input x:1x3x3x2
  expect_ok "build a UFF file cut at a node" "$KRT" build "$uff" -o "$work/uff_cut.krt" \
    --input x:1x3x3x2 --output act
  expect_ok "inspect the cut engine" "$KRT" inspect "$work/uff_cut.krt"
  expect_output "its output is the node asked for" "$work/out" "act"
fi

# A corrupt engine: bytes overwritten in the middle, then a truncated copy.
cp "$work/mlp.krt" "$work/corrupt.krt"
size=$(wc -c <"$work/mlp.krt" | tr -d ' ')
printf 'garbage!garbage!' | dd of="$work/corrupt.krt" bs=1 seek=$((size / 2)) conv=notrunc \
  2>/dev/null
expect_error "corrupt engine (inspect)" "$KRT" inspect "$work/corrupt.krt"
expect_error "corrupt engine (run)" "$KRT" run "$work/corrupt.krt" --input "$mlp/inputs/0.npy"
head -c $((size / 3)) "$work/mlp.krt" >"$work/truncated.krt"
expect_error "truncated engine" "$KRT" inspect "$work/truncated.krt"
printf 'not an engine and not a model' >"$work/text.krt"
expect_error "not an engine" "$KRT" inspect "$work/text.krt"

echo "cli_test: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
