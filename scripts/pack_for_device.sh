#!/usr/bin/env bash
# Packs a build for the lent GPU machine, which has no HDF5, JSON or zip libraries and no package
# registry: the binaries plus every shared library they load that is not part of the C runtime or
# the CUDA driver/toolkit there. Usage: scripts/pack_for_device.sh BUILD_DIR OUT_DIR
set -euo pipefail
build=$1
out=$2
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
# KRT_PACK_TESTS=0 leaves the test binaries out (the CUDA ones are large) for benchmark runs.
bins="krt classify"
if [ "${KRT_PACK_TESTS:-1}" = 1 ]; then
  for f in "$build"/tests/run_cases "$build"/tests/test_cuda_*; do bins="$bins tests/${f##*/}"; done
fi
for f in $bins; do
  if [ -x "$build/$f" ]; then cp "$build/$f" "$out/bin/"; fi
done
cp -P "$build"/libkrt*.so* "$out/lib/" 2>/dev/null || true
for f in "$out"/bin/* "$out"/lib/*.so*; do
  ldd "$f" 2>/dev/null | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libgcc_s*|libstdc++*) ;;
    libcuda.so*|libcudart*|libcublas*|libcudnn*|libnvrtc*|libkrt*) ;;
    *) cp -L "$lib" "$out/lib/" ;;
  esac
done
du -sh "$out"
