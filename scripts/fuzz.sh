#!/usr/bin/env bash
# Fuzzes every file reader for a bounded time and fails when krt's code crashes.
#   scripts/fuzz.sh [SECONDS_PER_HARNESS]     default 60; scripts/test.sh passes its own bound
#
# Builds the libFuzzer harnesses (fuzz/, -DKRT_FUZZ=ON with clang, ASan+UBSan) in build-fuzz,
# makes seed corpora from the fixtures into a temporary folder (model.h5, model.keras,
# inputs/*.npy, and .krt engines built from a few fixtures) and runs each harness for
# SECONDS_PER_HARNESS with one job.
#
#   engine, npy   any crash, sanitizer report, leak, timeout or out-of-memory fails.
#   h5, keras     read in process (KRT_HDF5_IN_PROCESS=1), so that the sanitizers see krt's own
#                 reader code fail where it fails, and libFuzzer sees its coverage. Debian's
#                 libhdf5 1.10 crashes and hangs on some corrupt files; that is what the reader
#                 process of src/import/hdf5_isolate.c is for, and it is not a krt bug. So these
#                 two run in libFuzzer's fork mode, which carries on past a crash, and every
#                 input that crashed is replayed once and triaged by its stack: the first frame
#                 below the sanitizer runtime, libc and libFuzzer is in libhdf5 (or libzip, zlib):
#                 kept in the log as libhdf5's, not a failure; anywhere else (krt): a failure.
#
# A failing input is left in build-fuzz/findings/<harness>/. Once krt is fixed, copy it to
# tests/data/fuzz-regressions/<harness>/: test_fuzz_regressions replays that folder in every
# build, and this script adds it to the seeds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
case "$seconds" in '' | *[!0-9]*) echo "fuzz.sh: SECONDS_PER_HARNESS must be a whole number, not '$seconds'" >&2; exit 2 ;; esac
command -v clang >/dev/null || { echo "fuzz.sh: clang not found (scripts/install-deps.sh installs it)" >&2; exit 2; }

build=build-fuzz
jobs=$(nproc)
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DKRT_FUZZ=ON -DKRT_WERROR=ON \
  -DKRT_BUILD_TESTS=OFF -DKRT_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs" --target fuzz_engine fuzz_npy fuzz_h5 fuzz_keras fuzz_tfpb fuzz_onnx fuzz_uff fuzz_savedmodel keras_seed krt_cli

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
findings="$build/findings"
rm -rf "$findings"
# The harnesses read .h5 and .keras in process; fork mode's workers inherit this.
export KRT_HDF5_IN_PROCESS=1
# libFuzzer checks for leaks after each input and names the input. The check at exit is off: in
# fork mode it would blame the leaks of earlier inputs on none (an empty input).
export ASAN_OPTIONS=detect_leaks=1:leak_check_at_exit=0:allocator_may_return_null=1:quarantine_size_mb=64
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# ---- seed corpora ------------------------------------------------------------------------------
for h in engine npy h5 keras tfpb onnx uff savedmodel; do
  mkdir -p "$work/seeds/$h" "$work/corpus/$h" "$findings/$h"
  if [ -d "tests/data/fuzz-regressions/$h" ]; then
    find "tests/data/fuzz-regressions/$h" -type f ! -name README.md -exec cp {} "$work/seeds/$h/" \;
  fi
done
i=0
for f in tests/fixtures/*/inputs/*.npy; do cp "$f" "$work/seeds/npy/$((i += 1)).npy"; done
for f in tests/fixtures/*/model.h5 tests/data/import/*.h5; do
  cp "$f" "$work/seeds/h5/$((i += 1)).h5"
done
for f in tests/fixtures/*/model.pb; do cp "$f" "$work/seeds/tfpb/$((i += 1)).pb"; done
for f in tests/fixtures/*/model.onnx; do cp "$f" "$work/seeds/onnx/$((i += 1)).onnx"; done
# SavedModels in fuzz_savedmodel's split form (fuzz/fuzz_targets.h): saved_model.pb, the index
# and the data shard joined by the separator.
for d in tests/fixtures/*/saved_model; do
  seed="$work/seeds/savedmodel/$((i += 1)).split"
  cat "$d/saved_model.pb" >"$seed"
  printf '\n--krt-fuzz-savedmodel-file--\n' >>"$seed"
  cat "$d/variables/variables.index" >>"$seed"
  printf '\n--krt-fuzz-savedmodel-file--\n' >>"$seed"
  cat "$d/variables/variables.data-00000-of-00001" >>"$seed"
done
# UFF: the files test_import_uff builds (tests/data/uff) and the corpus file when it is there.
for f in tests/data/uff/*.uff ../shared/corpus/uff/*/model.uff; do
  if [ -e "$f" ]; then cp "$f" "$work/seeds/uff/$((i += 1)).uff"; fi
done
for f in tests/fixtures/*/model.keras; do
  "$build"/fuzz/keras_seed "$f" "$work/seeds/keras/$((i += 1)).split"
done
# A few archives as they are, so that the zip path is covered too.
for f in tests/fixtures/{small_cnn,multi_input,nested_functional}/model.keras; do
  cp "$f" "$work/seeds/keras/$((i += 1)).keras"
done
# Engines of varied ops: dense, conv, pooling, BatchNorm, merges, several inputs and outputs, ops.
for c in mlp_sequential small_cnn bn_variants concat_inception multi_input multi_output \
  embedding_pool_dense upsample2d_bilinear ops_gathers tfop_slicing; do
  model=$(ls tests/fixtures/$c/model.* | head -n 1)
  "$build"/krt build "$model" -o "$work/seeds/engine/$c.krt" >/dev/null
done
for h in engine npy h5 keras tfpb onnx uff savedmodel; do
  echo "fuzz.sh: $h: $(ls "$work/seeds/$h" | wc -l) seeds"
done

# ---- runs --------------------------------------------------------------------------------------
# Frames that are not the code under test: sanitizer runtimes and their interceptors, libc (its
# string functions by their internal names too: __memset_avx2_unaligned_erms), libFuzzer itself.
runtime_frame='in (__asan|__interceptor|___interceptor|__sanitizer|__ubsan|__lsan|fuzzer::|__libc|__GI_)|in (raise|abort|memcpy|memmove|memset|memcmp|memchr|strlen|strnlen|strcmp|strncmp|strcpy|strncpy|strdup|strndup|strchr|malloc|calloc|realloc|free|posix_memalign) [(]|in __(mem|str)[a-z_0-9]+ |/sysdeps/|libc[.]so|libclang_rt|/compiler-rt/|linux-vdso'
third_party_frame='libhdf5|libzip[.]so|libz[.]so|libsz[.]so|libaec[.]so'
krt_frame='/(src|tools|fuzz)/[^ ]*[.]c:'

# The first frame of a stack that is not the runtime (reads a report's lines on stdin).
first_frame() { grep -E '^ *#[0-9]+ 0x' | grep -Ev "$runtime_frame" | head -n 1 || true; }

# libFuzzer reports a timeout with "<empty stack>" (it cannot unwind from its alarm signal
# through libhdf5, which has no frame pointers), and an RSS-limit out-of-memory with no stack at
# all. Such an input is replayed under gdb instead, interrupted after $1 seconds (before
# libFuzzer's own limits), and the main thread's stack is appended to the report $3 in gdb's
# format ("#4  0x... in H5FL_reg_malloc () from .../libhdf5_serial.so.103"), which triage reads.
# Measured on the CI finding that needed it: H5Lexists -> H5G__stab_lookup -> H5HL_protect,
# allocating without end on a corrupt symbol table (2 GB within 8 s).
gdb_stack() {
  local seconds=$1 input=$2 report=$3
  {
    echo "== gdb: the stack after ${seconds} s"
    timeout -s INT $((seconds + 20)) gdb -q -batch -ex 'handle SIGALRM nostop noprint pass' \
      -ex "run" -ex "thread 1" -ex "bt" --args "$bin" -timeout=1000 -rss_limit_mb=0 \
      -malloc_limit_mb=0 "$input" </dev/null 2>&1 &
    local gdb_pid=$!
    sleep "$seconds"
    # SIGINT to gdb stops the program; gdb then runs the remaining commands and exits.
    pkill -INT -P "$gdb_pid" -x gdb 2>/dev/null || kill -INT "$gdb_pid" 2>/dev/null || true
    wait "$gdb_pid" || true
  } >>"$report" 2>&1
}
gdb_frame='^#[0-9]+ '
gdb_runtime_frame='__asan|__sanitizer|__interceptor|__lsan|__ubsan|fuzzer::|/sysdeps/|libc[.]so|in (malloc|calloc|realloc|free|posix_memalign|memcpy|memmove|memset) [(]|^#[0-9]+ +__(mem|str)[a-z_0-9]* [(]'
gdb_first_frame() {
  sed -n '/^== gdb: the stack/,$p' | grep -E "$gdb_frame" | grep -Ev "$gdb_runtime_frame" |
    head -n 1 || true
}

# Prints "libhdf5" when the report in file $1 is libhdf5's own fault, else "krt":
#   - a crash, hang or memory error: the first frame of its first stack (past the runtime) is in
#     a third-party library, and the memory was not allocated by krt (krt handing libhdf5 too
#     small a buffer is krt's bug);
#   - a leak (replayed with full malloc stacks): every leaked block was allocated by a
#     third-party library (libhdf5 1.10 loses object headers on some error paths; an hid_t krt
#     forgot to close is still reachable from libhdf5's tables, so it is not reported here).
# A report without a stack is krt's: better a false alarm than a missed bug.
triage() {
  local first alloc live
  # An RSS limit hit while the live heap is small is ASan's quarantine of freed blocks (fork mode
  # runs thousands of inputs in one worker), not memory krt holds: reported, not counted. A
  # single huge allocation is -malloc_limit_mb's "out-of-memory (malloc(N))", which counts.
  if grep -q 'ERROR: libFuzzer: out-of-memory (used:' "$1"; then
    live=$(grep -Eo 'Live Heap Allocations: [0-9]+' "$1" | grep -Eo '[0-9]+$' | head -n 1)
    if [ -n "$live" ] && [ "$live" -lt $((256 * 1024 * 1024)) ]; then
      echo asan-quarantine
      return
    fi
  fi
  if grep -q 'LeakSanitizer: detected memory leaks' "$1"; then
    awk '/^(Direct|Indirect) leak/ {n++} n {print > ("'"$1"'.block" n)}' "$1"
    local block verdict=libhdf5
    for block in "$1".block*; do
      first=$(first_frame <"$block")
      printf '%s\n' "$first" | grep -Eq "$third_party_frame" || verdict=krt
    done
    rm -f "$1".block*
    echo "$verdict"
    return
  fi
  first=$(first_frame <"$1")
  [ -n "$first" ] || first=$(gdb_first_frame <"$1")
  alloc=$(sed -n '/^allocated by thread/,/^$/p' "$1" | first_frame)
  if [ -n "$first" ] && printf '%s\n' "$first" | grep -Eq "$third_party_frame" &&
    ! printf '%s\n' "$alloc" | grep -Eq "$krt_frame"; then
    echo libhdf5
  else
    echo krt
  fi
}

dict=fuzz/keras.dict
failed=0
for h in engine npy h5 keras tfpb onnx uff savedmodel; do
  bin="$build/fuzz/fuzz_$h"
  log="$work/$h.log"
  flags=(-max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=2048
    -artifact_prefix="$findings/$h/" -print_final_stats=1)
  case "$h" in h5 | keras) flags+=(-dict="$dict" -fork=1 -ignore_crashes=1 -ignore_timeouts=1
    -ignore_ooms=1) ;; esac
  start=$SECONDS
  rc=0
  "$bin" "${flags[@]}" "$work/corpus/$h" "$work/seeds/$h" >"$log" 2>&1 || rc=$?
  # Plain mode ends with "stat::number_of_executed_units: N", fork mode prints "#N: cov: ...".
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+|^#[0-9]+: cov' "$log" | tail -n 1 |
    grep -Eo '[0-9]+' | head -n 1 || true)
  echo "fuzz.sh: $h: ${runs:-?} inputs in $((SECONDS - start)) s, corpus $(ls "$work/corpus/$h" | wc -l)"
  krt_crashes=0
  for a in "$findings/$h"/*; do
    [ -e "$a" ] || continue
    case "$h" in
      engine | npy) krt_crashes=$((krt_crashes + 1)) ;;
      *)
        replay="$a.log"
        ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0 "$bin" -timeout=5 -rss_limit_mb=2048 \
          -malloc_limit_mb=2048 "$a" >"$replay" 2>&1 || true
        if ! grep -Eq '==ERROR|ERROR: libFuzzer|runtime error' "$replay"; then
          # In fork mode one worker reads many inputs, and libhdf5's out-of-bounds writes on an
          # earlier one can bring down a later one. Such an input does not fail alone; it is
          # kept and named, but it is no verdict on krt.
          echo "fuzz.sh: $h: $(basename "$a"): does not fail when replayed alone; not counted"
          mv "$a" "$a.not-reproduced"
          continue
        fi
        # No stack to judge by (a timeout, or an RSS-limit out-of-memory): take one with gdb.
        if grep -Eq '<empty stack>|ERROR: libFuzzer: (timeout|out-of-memory \(used:)' "$replay" &&
          [ -z "$(first_frame <"$replay")" ]; then
          gdb_stack 4 "$a" "$replay"
        fi
        who=$(triage "$replay")
        echo "fuzz.sh: $h: $(basename "$a"): $who: $(grep -m1 -E 'ERROR|SUMMARY' "$replay" || echo 'did not reproduce')"
        if [ "$who" = libhdf5 ] || [ "$who" = asan-quarantine ]; then
          mv "$a" "$a.$who"
        else
          krt_crashes=$((krt_crashes + 1))
        fi
        ;;
    esac
  done
  # Without fork mode a finding stops the run with a non-zero status; in fork mode the status is
  # not a verdict (it reports the crashes it ignored), the triage is.
  case "$h" in engine | npy) [ "$rc" -eq 0 ] || krt_crashes=$((krt_crashes + (krt_crashes == 0))) ;; esac
  if [ "$krt_crashes" -gt 0 ]; then
    echo "fuzz.sh: $h: FAILED: $krt_crashes input(s) crash krt, kept in $findings/$h/; the log:" >&2
    grep -E -A40 'ERROR|runtime error|SUMMARY' "$log" | head -n 80 >&2 || tail -n 40 "$log" >&2
    failed=1
  fi
done
exit "$failed"
