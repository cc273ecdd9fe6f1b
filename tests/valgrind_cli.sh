#!/bin/sh
# The krt command line under valgrind memcheck: inspect, dump, build and run on committed
# fixtures (.keras and .h5, an engine, a model run directly), and the error paths of a bad model,
# a truncated engine and a bad .npy. Any invalid read or write, use of uninitialised memory or
# leak (definite or possible) fails, whatever krt's own exit status.
#
#   sh tests/valgrind_cli.sh path/to/krt [tests/fixtures]
#
# The .h5/.keras reader runs in a forked child process (src/import/hdf5_isolate.c); valgrind
# follows a fork by itself and checks the child too, but the child's address-space limit is too
# small for valgrind, so most commands read in process (KRT_HDF5_IN_PROCESS=1) and one valid
# model and one hostile file go through the child with its limit raised. Exit status 0 when
# clean, 1 otherwise, 77 without valgrind.
krt=$1
fixtures=${2:-tests/fixtures}
command -v valgrind >/dev/null 2>&1 || { echo "valgrind_cli: valgrind not found"; exit 77; }
[ -x "$krt" ] || { echo "valgrind_cli: usage: valgrind_cli.sh path/to/krt [fixtures]"; exit 2; }
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
failures=0
checks=0

# vg WANT_STATUS DESCRIPTION CMD...: WANT_STATUS is 0 (must succeed) or 1 (must fail cleanly).
vg() {
  want=$1
  what=$2
  shift 2
  checks=$((checks + 1))
  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible \
    --trace-children=yes --child-silent-after-fork=no "$@" >"$work/out" 2>"$work/err"
  status=$?
  if [ "$status" -eq 99 ] || grep -q '^==[0-9]*== [A-Z].*\(Invalid\|uninitialised\|lost in\)' "$work/err"; then
    echo "FAIL $what: valgrind found errors:"
    sed -n '1,60p' "$work/err"
    failures=$((failures + 1))
  elif { [ "$want" -eq 0 ] && [ "$status" -ne 0 ]; } || { [ "$want" -ne 0 ] && [ "$status" -eq 0 ]; }; then
    echo "FAIL $what: exit status $status, wanted $([ "$want" -eq 0 ] && echo 0 || echo non-zero)"
    sed -n '1,20p' "$work/err"
    failures=$((failures + 1))
  else
    echo "ok   $what"
  fi
}

cnn=$fixtures/small_cnn
h5=$fixtures/h5k2_small_cnn
mlp=$fixtures/mlp_sequential
export KRT_HDF5_IN_PROCESS=1
vg 0 "inspect .keras" "$krt" inspect "$cnn/model.keras"
vg 0 "inspect .h5" "$krt" inspect "$h5/model.h5"
vg 0 "dump .keras" "$krt" dump "$mlp/model.keras"
vg 0 "build .keras" "$krt" build "$cnn/model.keras" -o "$work/cnn.krt" --batch 4
vg 0 "inspect .krt" "$krt" inspect "$work/cnn.krt"
vg 0 "run .krt" "$krt" run "$work/cnn.krt" --input "$cnn/inputs/0.npy" --out "$work/out1"
vg 0 "run .h5 (built in memory)" "$krt" run "$h5/model.h5" --input "$h5/inputs/0.npy" --out "$work/out2"
printf 'not a model at all\n' >"$work/bad.keras"
vg 1 "inspect a text file" "$krt" inspect "$work/bad.keras"
head -c 1000 "$work/cnn.krt" >"$work/truncated.krt"
vg 1 "run a truncated engine" "$krt" run "$work/truncated.krt" --input "$cnn/inputs/0.npy"
head -c 60 "$cnn/inputs/0.npy" >"$work/short.npy"
vg 1 "run with a truncated .npy" "$krt" run "$work/cnn.krt" --input "$work/short.npy"
vg 1 "build a config that does not import" "$krt" build "$fixtures/../data/import/bad_config.keras" -o "$work/x.krt"
unset KRT_HDF5_IN_PROCESS
# Through the reader process (the child is checked too), with room for valgrind's own mappings.
export KRT_HDF5_MEMORY_LIMIT_MB=16384
vg 0 "inspect .keras through the reader process" "$krt" inspect "$mlp/model.keras"
vg 1 "inspect a file that crashes libhdf5, through the reader process" "$krt" inspect \
  "$fixtures/../data/hostile/crash_1.h5"
echo "valgrind_cli: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
