#!/usr/bin/env bash
# Packs a build for the lent GPU machine, which has no HDF5, JSON or zip libraries and no package
# registry: the binaries plus every shared library they load that is not part of the C runtime or
# the CUDA driver/toolkit there. Usage: scripts/pack_for_device.sh BUILD_DIR OUT_DIR
set -euo pipefail
build=$1
out=$2
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
for f in krt classify tests/run_cases tests/test_cuda_ops tests/test_cuda_backend bench/krt_bench; do
  [ -x "$build/$f" ] && cp "$build/$f" "$out/bin/"
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
