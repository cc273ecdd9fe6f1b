#!/bin/sh
# Integer inputs reach Gather exactly: real Keras writes an Embedding with 2^24 + 8 rows
# (tools/fixtures/make_large_embedding.py, 64 MB, so made here each time, never committed), and
# `krt run` on the CPU must pick the same rows as Keras for indices just above 2^24, where a
# float32 index would round to the neighbouring even row.
#
#   KRT=path/to/krt RUN_CASES=path/to/run_cases [PYTHON=python3] sh tests/large_index_test.sh
#
# Exit status 0 when the outputs match, 1 otherwise, 77 when krt or Keras is missing.
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
if [ -z "$KRT" ] || [ ! -x "$KRT" ] || [ -z "$RUN_CASES" ] || [ ! -x "$RUN_CASES" ]; then
  echo "large_index_test: set KRT and RUN_CASES to the krt and run_cases binaries"
  exit 77
fi
if ! command -v "$python" >/dev/null 2>&1 ||
  ! TF_CPP_MIN_LOG_LEVEL=3 "$python" -c "import keras, tensorflow" >/dev/null 2>&1; then
  echo "large_index_test: python3 with keras and tensorflow is needed; skipping"
  exit 77
fi
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
"$python" "$here/../tools/fixtures/make_large_embedding.py" "$work" || exit 1
"$KRT" run "$work/model.keras" --input "tokens=$work/tokens.npy" --out "$work/out" || exit 1
out=$(ls "$work/out"/*.npy 2>/dev/null | head -n 1)
if [ -z "$out" ]; then
  echo "large_index_test: krt run wrote no output"
  exit 1
fi
# Exact: the rows hold integers as float32, so any wrong row differs by at least 1.
if ! "$RUN_CASES" --compare "$out" "$work/expected.npy" 0 0; then
  echo "large_index_test: krt's rows differ from Keras's"
  exit 1
fi
echo "large_index_test: indices up to 2^24 + 7 pick the rows Keras picks"
