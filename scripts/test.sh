#!/usr/bin/env bash
# README command 2: the whole test suite, as CI runs it.
#   1. installs the build dependencies and the Python packages that regenerate fixtures (real Keras),
#   2. builds with -Werror and runs every ctest (unit tests, committed fixtures, CLI, the corpus in
#      ../shared/corpus when it is there),
#   3. builds again with AddressSanitizer and UndefinedBehaviorSanitizer and runs every ctest there
#      (every file reader and kernel on every fixture, corpus case and bad file, leak-checked),
#   4. regenerates the fixture zoo with real Keras into a fresh folder and runs it too, so the
#      committed fixtures cannot go stale,
#   5. the options walk (tests/option_walk.sh): a real-Keras model per supported layer class or
#      Keras 3 operation and option, generated once and run through both builds against
#      tests/option_walk_refusals.txt (every option implemented, or refused exactly as listed;
#      never a silent wrong answer).
#   6. builds the keras.applications networks at their smallest input size into a temporary
#      folder (tools/fixtures/make_applications.py: too big to commit) and runs them; the ones
#      krt gets wrong or refuses today are in tests/applications_known_failures.txt.
# --no-regen skips steps 4 to 6 and the Python install (quick local runs). The ctest runs leave
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

echo "== the same tests under AddressSanitizer and UndefinedBehaviorSanitizer"
asan=build-sanitize
cmake -S . -B "$asan" -DKRT_WERROR=ON -DKRT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$asan" -j"$(nproc)"
(cd "$asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$(nproc)" \
  -E '^option_walk$')

if [ "$regen" -eq 1 ]; then
  fresh=$(mktemp -d)
  trap 'rm -rf "$fresh"' EXIT
  echo "== regenerating fixtures with real Keras into a fresh folder"
  TF_CPP_MIN_LOG_LEVEL=2 python3 tools/fixtures/make_fixtures.py --out "$fresh"
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
