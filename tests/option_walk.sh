#!/bin/sh
# The options walk (tools/fixtures/make_option_walk.py): one tiny real-Keras model per supported
# layer class or Keras 3 operation and option, generated into a temporary folder and run through
# every run_cases binary given, with the exact list of the cases krt refuses
# (tests/option_walk_refusals.txt). A case passes when krt matches Keras or refuses it cleanly
# as unsupported AND the list says so; see run_cases.c.
#
#   RUN_CASES="build/tests/run_cases [build-sanitize/tests/run_cases]" sh tests/option_walk.sh
#       [--require] [--refusals-out FILE]
#
# Exit status 0 when every case passes in every binary, 1 otherwise, 77 when Python, TensorFlow,
# Keras 3 or tf_keras is missing (with --require that is an error, exit 1).
# --refusals-out FILE writes the refusal list this krt gives (case<TAB>gist of the message) to
# FILE instead of checking it: how tests/option_walk_refusals.txt is regenerated.
# Takes two to three minutes on two cores, nearly all of it Keras writing the models.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
require=0
refusals_out=
while [ $# -gt 0 ]; do
  case "$1" in
    --require) require=1 ;;
    --refusals-out) refusals_out=$2; shift ;;
    *) echo "option_walk: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "${RUN_CASES:-}" ]; then
  echo "option_walk: set RUN_CASES to the run_cases binary (or several, space-separated)" >&2
  exit 2
fi
missing=77
[ "$require" -eq 1 ] && missing=1
if ! command -v python3 >/dev/null 2>&1 ||
  ! TF_CPP_MIN_LOG_LEVEL=3 python3 -c "import tensorflow, keras, tf_keras" >/dev/null 2>&1; then
  echo "option_walk: python3 with tensorflow, keras and tf_keras is needed; skipping"
  exit "$missing"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 4 ] && jobs=4
started=$(date +%s)
if ! TF_CPP_MIN_LOG_LEVEL=3 python3 "$root/tools/fixtures/make_option_walk.py" --out "$work/cases" \
  --jobs "$jobs" >"$work/generate.log" 2>&1; then
  grep -v -e '^WARNING' -e '^I0000' -e '^E0000' "$work/generate.log" | tail -40
  echo "option_walk: the generator failed" >&2
  exit 1
fi
grep -e '^not generated' -e 'cases written' "$work/generate.log"
echo "option_walk: generated in $(($(date +%s) - started)) s"

if [ -n "$refusals_out" ]; then
  set -- $RUN_CASES
  {
    echo "# The options walk's cases that krt refuses today (KRT_ERR_UNSUPPORTED), one"
    echo "# \"case<TAB>gist of the message\" per line: run_cases --expect-refusals fails on a refusal"
    echo "# not listed here and on a listed case that is no longer refused. Regenerate with"
    echo "#   RUN_CASES=build-test/tests/run_cases sh tests/option_walk.sh --refusals-out FILE"
    "$1" "$work/cases" | sed -n 's/^REFUSED \([^:]*\): .*): /\1\t/p'
  } >"$refusals_out"
  echo "option_walk: $(grep -vc '^#' "$refusals_out") refusals written to $refusals_out"
  exit 0
fi

status=0
for bin in $RUN_CASES; do
  echo "== option walk: $bin"
  "$bin" --expect-refusals "$here/option_walk_refusals.txt" "$work/cases" >"$work/run.log" 2>&1
  rc=$?
  grep -e '^FAIL' -e '^XPASS' "$work/run.log"
  tail -2 "$work/run.log"
  [ "$rc" -eq 0 ] || status=1
done
echo "option_walk: $(($(date +%s) - started)) s in all"
exit "$status"
