#!/bin/sh
# krt as an installed C library: `cmake --install` into a temporary prefix, then the example
# program (examples/classify.c) configured, built and run against that copy, through CMake's
# find_package(krt CONFIG) and through pkg-config, with libkrt.so and with libkrt.a. Each run
# must reproduce Keras's predictions for the bundled model. Also checks the installed layout
# (the CUDA module beside libkrt.so where it is built), `krt version`, and that the man page
# describes every option `krt COMMAND --help` prints.
#
#   install_test.sh BUILD_DIR SOURCE_DIR        (ctest: CC names the compiler of the build)
set -eu
build=$1
src=$2
cc=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/krt-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
unset KRT_CUDA_BACKEND # the installed copy must find its module by itself

fail() {
  echo "install_test: $*" >&2
  exit 1
}

cmake --install "$build" --prefix "$prefix" >"$work/install.log" || {
  cat "$work/install.log" >&2
  fail "cmake --install failed"
}

# ---- the layout ---------------------------------------------------------------------------------
pc=$(find "$prefix" -name krt.pc)
[ -n "$pc" ] || fail "no krt.pc installed"
libdir=$(dirname "$(dirname "$pc")") # lib, lib64 or lib/<multiarch>
krt=$prefix/bin/krt
for f in "$krt" "$prefix/include/krt.h" "$libdir/libkrt.so" "$libdir/libkrt.a" \
  "$libdir/cmake/krt/krtConfig.cmake" "$libdir/cmake/krt/krtConfigVersion.cmake" \
  "$prefix/share/man/man1/krt.1"; do
  [ -e "$f" ] || fail "not installed: ${f#"$prefix"/}"
done
version=$("$krt" version | sed -n '1s/^krt //p')
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
grep -q "^#define KRT_VERSION_MAJOR $major\$" "$prefix/include/krt.h" ||
  fail "krt version says $version, the installed krt.h disagrees"
if [ "$major" = 0 ]; then soversion=$major.$minor; else soversion=$major; fi
[ -e "$libdir/libkrt.so.$soversion" ] || fail "no libkrt.so.$soversion (soname)"
[ -e "$libdir/libkrt.so.$version" ] || fail "no libkrt.so.$version"
readelf -d "$libdir/libkrt.so" | grep -q "SONAME.*\[libkrt\.so\.$soversion\]" ||
  fail "libkrt.so's soname is not libkrt.so.$soversion"

"$krt" version >"$work/version.txt"
for key in commit "build type" "cuda module" sanitizers "debug hooks" "cuda at run time"; do
  grep -q "^$key: " "$work/version.txt" || fail "krt version has no '$key:' line"
done
# The CUDA module goes beside libkrt.so, where libkrt looks first. With a GPU it loads and reports
# its versions; without one, the reason names the first file found, which must be that one (the
# path may be spelt bin/../lib: compared as folders).
if [ -e "$build/libkrt_cuda.so" ]; then
  [ -e "$libdir/libkrt_cuda.so" ] || fail "libkrt_cuda.so is built but not installed beside libkrt"
  cuda=$(sed -n 's/^cuda at run time: //p' "$work/version.txt")
  case $cuda in
    "CUDA runtime "*) ;;
    *)
      found=$(printf '%s\n' "$cuda" | tr ';' '\n' | grep -o '/[^ ]*/libkrt_cuda\.so: .*' |
        grep -v ': not found$' | head -n 1 | sed 's/: .*//')
      [ -n "$found" ] && [ "$(cd "$(dirname "$found")" && pwd -P)" = "$(cd "$libdir" && pwd -P)" ] ||
        fail "the installed krt does not use the installed libkrt_cuda.so: $cuda"
      ;;
  esac
else
  grep -q "^cuda at run time: not available" "$work/version.txt" ||
    fail "no CUDA module built, yet: $(tail -1 "$work/version.txt")"
fi

# The man page describes every option of every command.
for cmd in inspect build run bench compare dump version; do
  for opt in $("$krt" "$cmd" --help | grep -E '^  -' | tr ' ,|' '\n\n\n' |
    grep -E '^--?[a-z][a-z0-9-]*$'); do
    roff=$(printf '%s' "$opt" | sed 's/-/\\-/g')
    grep -qF -- "$roff" "$prefix/share/man/man1/krt.1" || fail "krt.1 does not describe krt $cmd $opt"
  done
done

# ---- the example against the installed copy ------------------------------------------------------
model=$src/examples/models/digits.keras
input=$src/examples/models/digits_input.npy
expected=$src/examples/models/digits_expected.npy
"$krt" run "$model" --input "$input" --out "$work/out" >/dev/null
[ -e "$work/out/probs.npy" ] || fail "the installed krt run wrote no output"

# run_example NAME PROGRAM LINKAGE: runs the model, checks Keras's predictions and how libkrt is
# linked (shared: libkrt.so.X needed; static: not at all).
run_example() {
  "$2" "$model" "$input" "$expected" >"$work/$1.txt" 2>&1 || {
    cat "$work/$1.txt" >&2
    fail "$1: classify failed"
  }
  grep -q "matches" "$work/$1.txt" || fail "$1: no check against the expected output"
  if readelf -d "$2" | grep -q "NEEDED.*libkrt\.so"; then linked=shared; else linked=static; fi
  [ "$linked" = "$3" ] || fail "$1: libkrt is linked $linked, not $3"
  echo "install_test: $1: $(grep matches "$work/$1.txt")"
}

for linkage in shared static; do
  if [ "$linkage" = static ]; then static=ON; else static=OFF; fi
  dir=$work/cmake-$linkage
  cmake -S "$src/examples" -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
    -DKRT_EXAMPLE_STATIC=$static -DKRT_EXAMPLE_KRT_VERSION="$major.$minor" >"$dir.log" 2>&1 &&
    cmake --build "$dir" >>"$dir.log" 2>&1 || {
    cat "$dir.log" >&2
    fail "cmake-$linkage: the example does not configure or build against the installed krt"
  }
  run_example "cmake-$linkage" "$dir/classify" $linkage
done

PKG_CONFIG_PATH=$libdir/pkgconfig
export PKG_CONFIG_PATH
[ "$(pkg-config --modversion krt)" = "$version" ] || fail "pkg-config: krt.pc is not version $version"
# shellcheck disable=SC2046 # the flags are words
"$cc" -o "$work/pc-shared" "$src/examples/classify.c" $(pkg-config --cflags --libs krt) \
  -Wl,-rpath,"$libdir" || fail "pkg-config: the example does not build with libkrt.so"
run_example pkg-config-shared "$work/pc-shared" shared
# libkrt.a: --static adds libkrt's own dependencies (Requires.private, Libs.private); the archive
# is named so that the linker does not take libkrt.so beside it.
# shellcheck disable=SC2046
"$cc" -o "$work/pc-static" "$src/examples/classify.c" $(pkg-config --cflags krt) \
  $(pkg-config --static --libs krt | sed 's/-lkrt /-l:libkrt.a /; s/-lkrt$/-l:libkrt.a/') ||
  fail "pkg-config: the example does not build with libkrt.a"
run_example pkg-config-static "$work/pc-static" static
