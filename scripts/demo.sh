#!/usr/bin/env bash
# README command 1: install what krt needs, build it, and run the bundled example model through the
# command line: inspect the Keras file, build an engine, run it on sample inputs, print predictions.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DKRT_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"

krt=build/krt
model=examples/models/digits.keras
echo "== krt inspect $model"
$krt inspect "$model"
echo "== krt build $model -o build/digits.krt --batch 8"
$krt build "$model" -o build/digits.krt --batch 8
echo "== krt run build/digits.krt --input examples/models/digits_input.npy --out build/demo-out"
$krt run build/digits.krt --input examples/models/digits_input.npy --out build/demo-out
echo "== the same predictions through the C API (examples/classify.c)"
build/classify build/digits.krt examples/models/digits_input.npy
