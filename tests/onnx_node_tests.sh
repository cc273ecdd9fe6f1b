#!/bin/sh
# ONNX's backend node tests through krt: onnx_node_tests.sh ONNX_NODE_CASES RUN_CASES DATA_DIR
# Converts every test of DATA_DIR (libonnx-testdata's data/node) into a case (onnx_node_cases.c),
# runs them (run_cases), prints pass / fail / unsupported counts. A case krt imports and builds
# but computes wrongly fails the test; a refusal (an op, attribute or form krt does not support,
# KRT_ERR_UNSUPPORTED) is counted as unsupported.
set -u
convert=$1 runner=$2 data=$3
[ -d "$data" ] || { echo "onnx_node_tests: $data not found (Debian: libonnx-testdata)"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
converted=$("$convert" "$data" "$work") || exit 1
"$runner" "$work" >"$work.log" 2>&1
rc=$?
pass=$(grep -c '^PASS' "$work.log")
refused=$(grep -c '^REFUSED\|^UNSUPPORTED' "$work.log")
fail=$(grep -c '^FAIL' "$work.log")
grep '^FAIL' "$work.log"
echo "onnx node tests: $pass pass, $fail fail, $refused unsupported ($converted: non-float tests skipped)"
rm -f "$work.log"
[ "$fail" -eq 0 ] && [ "$rc" -eq 0 ]
