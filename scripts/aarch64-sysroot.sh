#!/usr/bin/env bash
# Makes an arm64 (aarch64) Debian sysroot for cross-building krt: libc, libhdf5, cJSON, libzip,
# protobuf-c and zlib with their headers and everything they link, as Debian packages them.
#
#   scripts/aarch64-sysroot.sh DIR      (e.g. build-aarch64/sysroot)
#
# cmake/toolchains/aarch64-linux-gnu.cmake compiles and links against DIR (KRT_AARCH64_SYSROOT),
# and qemu-aarch64 runs the tests with DIR as its library prefix (-L DIR).
#
# Why not Debian multiarch (dpkg --add-architecture arm64; apt-get install libhdf5-dev:arm64)?
# On Debian 12 libhdf5-dev is not "Multi-Arch: same", so the arm64 one would remove the amd64 one
# that the native build needs. Instead apt resolves the packages here with a private state of its
# own (arm64 package lists, an empty dpkg status, a download folder, all under DIR/.apt), from the
# host's apt sources, and dpkg-deb unpacks them into DIR. Nothing of the host's apt or dpkg state
# changes, and root is not needed. The host's sources must carry arm64 (Debian's main archive does;
# Ubuntu's arm64 packages are on a separate "ports" mirror, which this script does not set up).
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
mkdir -p "$1"
dir=$(cd "$1" && pwd)
packages=(libc6-dev libhdf5-dev libcjson-dev libzip-dev libprotobuf-c-dev zlib1g-dev)
stamp=$dir/.krt-sysroot

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${packages[*]}" ]; then
  echo "aarch64-sysroot: $dir is up to date"
  exit 0
fi

apt=$dir/.apt
rm -rf "$apt"
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/cache"
: >"$apt/status" # nothing installed: apt downloads every dependency
apt_opts=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64
  -o Dir::State="$apt" -o Dir::State::Lists="$apt/lists" -o Dir::State::status="$apt/status"
  -o Dir::Cache="$apt/cache" -o Dir::Cache::archives="$apt/archives"
  -o Debug::NoLocking=1 -o Acquire::Languages=none)
echo "aarch64-sysroot: arm64 package lists"
apt-get "${apt_opts[@]}" update -qq
echo "aarch64-sysroot: downloading ${packages[*]} and their dependencies"
apt-get "${apt_opts[@]}" install -y -qq --download-only --no-install-recommends "${packages[@]}" \
  >"$apt/download.log" 2>&1 || {
  cat "$apt/download.log" >&2
  exit 1
}

# Unpacked from scratch, so that a package dropped from the list leaves nothing behind.
find "$dir" -mindepth 1 -maxdepth 1 ! -name .apt -exec rm -rf {} +
count=0
for deb in "$apt"/archives/*.deb; do
  dpkg-deb -x "$deb" "$dir"
  count=$((count + 1))
done
# Debian's development symlinks are absolute (libz.so -> /lib/aarch64-linux-gnu/libz.so.1.2.13),
# which would point at the host's files. Made relative, they point inside the sysroot.
find "$dir" -type l -lname '/*' ! -path "$apt/*" | while read -r link; do
  target=$(readlink "$link")
  ln -sfn "$(realpath -s -m --relative-to="$(dirname "$link")" "$dir$target")" "$link"
done
rm -rf "$apt"
printf '%s\n' "${packages[*]}" >"$stamp"
echo "aarch64-sysroot: $count packages unpacked into $dir ($(du -sh "$dir" | cut -f1))"
