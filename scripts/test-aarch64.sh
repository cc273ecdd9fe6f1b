#!/usr/bin/env bash
# The aarch64 (Jetson) build, as CI checks it on an x86_64 Debian machine (scripts/test.sh step):
#   1. installs Debian's cross compiler (gcc-aarch64-linux-gnu) and qemu-user (root, or sudo),
#   2. makes an arm64 sysroot with krt's dependencies (scripts/aarch64-sysroot.sh; no multiarch),
#   3. cross-builds libkrt, the CLI and the tests with -Werror
#      (cmake/toolchains/aarch64-linux-gnu.cmake; no CUDA module: the toolkit here has no aarch64
#      target, the board builds its own),
#   4. runs every ctest under qemu-aarch64: the unit tests, the committed fixtures, the corpus,
#      the CLI scripts (on the host, with krt under qemu). Not the sanitizer build (too slow
#      under qemu), not the options walk, and not the install test (native builds run it).
# 1 to 2 minutes on two cores once the packages are installed (README, "Jetson and aarch64").
#
#   scripts/test-aarch64.sh [BUILD_DIR]   (default build-aarch64; the sysroot is BUILD_DIR/sysroot)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${1:-build-aarch64}
start=$SECONDS
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

need_apt=0
for p in gcc-aarch64-linux-gnu cmake pkg-config; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt=1
done
command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null || need_apt=1
if [ "$need_apt" -eq 1 ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    gcc-aarch64-linux-gnu qemu-user cmake pkg-config >/dev/null
fi

bash scripts/aarch64-sysroot.sh "$build/sysroot"
sysroot=$(cd "$build/sysroot" && pwd)
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
  -DKRT_AARCH64_SYSROOT="$sysroot" -DKRT_WITH_CUDA=OFF -DKRT_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
(cd "$build" && ctest --output-on-failure -j"$(nproc)" -E '^option_walk$')
echo "== aarch64: cross build and tests under qemu took $((SECONDS - start)) s"
