#!/usr/bin/env bash
# Installs everything krt needs on a fresh Debian machine (run as root, or with sudo available).
#   scripts/install-deps.sh           build dependencies (C toolchain, libhdf5, cJSON, libzip,
#                                     protobuf-c and its compiler) and
#                                     the test tools: clang with libFuzzer and the sanitizer runtimes
#                                     (libclang-rt-dev; scripts/fuzz.sh), valgrind, gdb (stacks of
#                                     fuzz timeouts), python3-venv
#                                     (the Python package test), libonnx-testdata (ONNX's own
#                                     backend node tests: tests/onnx_node_tests.sh)
#   scripts/install-deps.sh --python  also the Python packages that regenerate test fixtures with real Keras
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

need_apt=0
packages="build-essential cmake pkg-config libhdf5-dev libcjson-dev libzip-dev libprotobuf-c-dev
  protobuf-c-compiler clang libclang-rt-dev
  valgrind gdb python3-venv libonnx-testdata"
for p in $packages; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt=1
done
if [ "$need_apt" -eq 1 ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    $packages >/dev/null
fi

if [ "${1:-}" = "--python" ]; then
  python3 -m pip install -q --disable-pip-version-check -r "$here/../tools/fixtures/requirements.txt"
fi
