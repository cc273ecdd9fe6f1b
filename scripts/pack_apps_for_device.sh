#!/usr/bin/env bash
# Adds to a carry folder (scripts/pack_for_device.sh) what scripts/gpu_check_apps.sh needs to build
# the keras.applications cases on the GPU machine, which has JAX but no Keras and no package
# registry: the keras wheel and the dependencies of Keras that JAX's environment lacks, as wheels
# for its Python 3.12. The full-size cases themselves (gigabytes of weights) cannot be carried.
#   scripts/pack_apps_for_device.sh CARRY     -> CARRY/wheels/*.whl (about 10 MB)
# numpy and ml_dtypes are left out: JAX brings both, and a second numpy would shadow its own.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
carry=${1:?usage: scripts/pack_apps_for_device.sh CARRY}
wheels="$carry/wheels"
rm -rf "$wheels"
mkdir -p "$wheels"
keras_pin=$(grep -E '^keras==' "$root/tools/fixtures/requirements.txt")
# --no-deps with an explicit list: Keras's own dependencies minus numpy and ml_dtypes, plus
# those of rich (markdown-it-py, mdurl, pygments) and optree (typing_extensions).
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --abi cp312 --platform manylinux2014_x86_64 \
  -d "$wheels" "$keras_pin" absl-py namex optree h5py packaging rich markdown-it-py mdurl \
  pygments typing_extensions
ls "$wheels"
du -sh "$wheels"
