#!/usr/bin/env bash
# README command 2: the whole test suite, as CI runs it.
#   1. installs the build dependencies and the Python packages that regenerate fixtures (real Keras),
#   2. builds with -Werror and runs every ctest (unit tests, committed fixtures, CLI, the corpus in
#      ../shared/corpus when it is there),
#   3. builds again with AddressSanitizer and UndefinedBehaviorSanitizer and runs every ctest there
#      (every file reader and kernel on every fixture, corpus case and bad file, leak-checked),
#   3b. builds tests/test_contexts_threads alone with ThreadSanitizer and runs it (8 threads, a
#      context each on one engine, every result checked against a single-threaded run),
#   3c. runs the command line's paths under valgrind memcheck (tests/valgrind_cli.sh),
#   3d. fuzzes every file reader (.krt, .npy, .h5, .keras) with libFuzzer for KRT_FUZZ_SECONDS
#      (default 30) each (scripts/fuzz.sh); fails on any crash in krt's code,
#   3e. cross-builds for aarch64 (Jetson) and runs the same ctests, but for the install test, under
#      qemu-aarch64 (scripts/test-aarch64.sh; 1 to 2 minutes),
#   4. regenerates the fixture zoo with real Keras into a fresh folder and runs it too, so the
#      committed fixtures cannot go stale,
#   5. the options walk (tests/option_walk.sh): a real-Keras model per supported layer class or
#      Keras 3 operation and option, generated once and run through both builds against
#      tests/option_walk_refusals.txt (every option implemented, or refused exactly as listed;
#      never a silent wrong answer).
#   6. the Python package (python/krt): `pip install .` into a fresh virtual environment (a fresh
#      CMake build through scikit-build-core, which pip fetches from PyPI; the CUDA module off to
#      keep it quick) and its pytest tests (python/tests) against the installed copy,
#   7. builds the keras.applications networks at their smallest input size into a temporary
#      folder (tools/fixtures/make_applications.py: too big to commit) and runs them; the ones
#      krt gets wrong or refuses today are in tests/applications_known_failures.txt.
# --no-regen skips steps 4, 5 and 7 and the Python install for fixtures (quick local runs). The ctest runs leave
# out the option_walk test: step 5 runs it once for both builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
regen=1
[ "${1:-}" = "--no-regen" ] && regen=0

if [ "$regen" -eq 1 ]; then
  bash scripts/install-deps.sh --python
else
  bash scripts/install-deps.sh
fi

build=build-test
cmake -S . -B "$build" -DKRT_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
(cd "$build" && ctest --output-on-failure -j"$(nproc)" -E '^option_walk$')

echo "== the Python package: pip install . into a fresh venv, then pytest against that copy"
# 20 to 55 s on two cores (measured, as busy as the cores were; most of it building libkrt in
# scikit-build-core's own, fresh, build folder).
py_start=$SECONDS
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  -Ccmake.define.KRT_WITH_CUDA=OFF "$root[test]"
(cd "$venv" && "$venv/bin/python" -c 'import krt; print("krt", krt.version(), "from", krt.get_library())' &&
  "$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/python/tests")
rm -rf "$venv"
echo "== the Python package took $((SECONDS - py_start)) s"

echo "== the same tests under AddressSanitizer and UndefinedBehaviorSanitizer"
asan=build-sanitize
cmake -S . -B "$asan" -DKRT_WERROR=ON -DKRT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$asan" -j"$(nproc)"
(cd "$asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$(nproc)" \
  -E '^option_walk$')

# Steps 3b-3d: about 5 minutes on two cores, 3e 1 to 2 (measured: README, Tests).
echo "== ThreadSanitizer: 8 threads, one engine, a context each (tests/test_contexts_threads.c)"
step_start=$SECONDS
tsan=build-tsan
cmake -S . -B "$tsan" -DKRT_WERROR=ON -DKRT_TSAN=ON -DKRT_WITH_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$tsan" -j"$(nproc)" --target test_contexts_threads
(cd "$root" && TSAN_OPTIONS=halt_on_error=1 "$tsan"/tests/test_contexts_threads)
echo "== ThreadSanitizer took $((SECONDS - step_start)) s"

echo "== valgrind memcheck on the command line (tests/valgrind_cli.sh)"
step_start=$SECONDS
sh tests/valgrind_cli.sh "$build"/krt tests/fixtures
echo "== valgrind took $((SECONDS - step_start)) s"

echo "== fuzzing every reader for ${KRT_FUZZ_SECONDS:-30} s each (scripts/fuzz.sh)"
step_start=$SECONDS
bash scripts/fuzz.sh "${KRT_FUZZ_SECONDS:-30}"
echo "== fuzzing took $((SECONDS - step_start)) s"

echo "== aarch64: cross build, the same tests under qemu-aarch64"
bash scripts/test-aarch64.sh build-aarch64

if [ "$regen" -eq 1 ]; then
  fresh=$(mktemp -d)
  trap 'rm -rf "$fresh"' EXIT
  echo "== regenerating fixtures with real Keras into a fresh folder"
  TF_CPP_MIN_LOG_LEVEL=2 python3 tools/fixtures/make_fixtures.py --out "$fresh"
  TF_CPP_MIN_LOG_LEVEL=2 python3 tools/fixtures/make_onnx_models.py --out "$fresh"
  TF_CPP_MIN_LOG_LEVEL=2 python3 tools/fixtures/make_saved_models.py --out "$fresh"
  "$build"/tests/run_cases "$fresh"

  echo "== the options walk: every layer and operation option, implemented or refused as listed"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    RUN_CASES="$build/tests/run_cases $asan/tests/run_cases" sh tests/option_walk.sh --require

  # 197 s on two cores (measured; most of it Keras building and saving the networks) and 5.3 GB
  # of temporary disk.
  echo "== keras.applications at CI size, built with real Keras into a temporary folder"
  apps_start=$SECONDS
  TF_CPP_MIN_LOG_LEVEL=2 python3 tools/fixtures/make_applications.py --size ci \
    --out "$fresh/applications"
  "$build"/tests/run_cases --known-failures tests/applications_known_failures.txt \
    "$fresh/applications"
  echo "== keras.applications took $((SECONDS - apps_start)) s"
fi
