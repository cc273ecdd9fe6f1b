# Cross-compiling krt for 64-bit Arm Linux (Jetson, and any aarch64 board or server) on an x86_64
# Debian machine, with Debian's cross compiler (gcc-aarch64-linux-gnu):
#
#   scripts/aarch64-sysroot.sh build-aarch64/sysroot
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
#         -DKRT_AARCH64_SYSROOT=$PWD/build-aarch64/sysroot -DKRT_WITH_CUDA=OFF
#
# KRT_AARCH64_SYSROOT (a cache variable, or the environment variable of that name) is an arm64
# Debian sysroot with krt's -dev packages: compiler, linker, find_package and pkg-config all look
# there and only there, so nothing of the host's amd64 libraries can slip in. Without it the
# arm64 packages must be installed on the host by Debian multiarch (libhdf5-dev:arm64, ...; not
# possible on Debian 12, whose libhdf5-dev cannot be installed for two architectures at once).
#
# The tests run under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR): `ctest` in the build folder runs
# every test program as `qemu-aarch64 -L SYSROOT program ...` (README, "Jetson and aarch64").
# KRT_AARCH64_EMULATOR overrides the emulator command (a list: the program, then its options).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
# nvcc's host compiler, for a CUDA toolkit with an aarch64 target (cmake/cuda.cmake; untried:
# the toolkit here has none, and g++-aarch64-linux-gnu is not installed by scripts/test-aarch64.sh).
if(NOT DEFINED CMAKE_CUDA_HOST_COMPILER)
  set(CMAKE_CUDA_HOST_COMPILER aarch64-linux-gnu-g++)
endif()

if(NOT DEFINED KRT_AARCH64_SYSROOT AND DEFINED ENV{KRT_AARCH64_SYSROOT})
  set(KRT_AARCH64_SYSROOT "$ENV{KRT_AARCH64_SYSROOT}")
endif()
set(KRT_AARCH64_SYSROOT "${KRT_AARCH64_SYSROOT}" CACHE PATH
    "arm64 Debian sysroot with krt's -dev packages (scripts/aarch64-sysroot.sh); empty: multiarch")
# try_compile projects read this file again and need the same answers.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES KRT_AARCH64_SYSROOT KRT_AARCH64_EMULATOR)

if(KRT_AARCH64_SYSROOT)
  if(NOT EXISTS "${KRT_AARCH64_SYSROOT}/usr/include/hdf5/serial/hdf5.h")
    message(FATAL_ERROR "krt: KRT_AARCH64_SYSROOT=${KRT_AARCH64_SYSROOT} has no arm64 libhdf5-dev; "
                        "make it with scripts/aarch64-sysroot.sh ${KRT_AARCH64_SYSROOT}")
  endif()
  set(CMAKE_SYSROOT "${KRT_AARCH64_SYSROOT}")
  set(CMAKE_FIND_ROOT_PATH "${KRT_AARCH64_SYSROOT}")
  set(_krt_aarch64_libroot "${KRT_AARCH64_SYSROOT}")
else()
  # Multiarch: the arm64 libraries live in the host's /usr/lib/aarch64-linux-gnu (which CMake
  # searches through CMAKE_LIBRARY_ARCHITECTURE), the cross libc in /usr/aarch64-linux-gnu.
  set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
  set(_krt_aarch64_libroot /usr/aarch64-linux-gnu)
endif()
# Headers, libraries and CMake packages from the target only; programs (pkg-config, nvcc) from
# the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The host's h5cc describes the host's HDF5 (amd64 include and library paths). FindHDF5 must not
# ask it, and then finds hdf5.h and libhdf5 itself, in the target's hdf5/serial folders.
set(HDF5_C_COMPILER_EXECUTABLE FALSE CACHE FILEPATH "the host's h5cc does not describe the target")
# pkg-config (cJSON, libzip) reads the target's .pc files and puts the sysroot before their paths.
if(KRT_AARCH64_SYSROOT)
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${KRT_AARCH64_SYSROOT}")
else()
  unset(ENV{PKG_CONFIG_SYSROOT_DIR})
endif()
set(ENV{PKG_CONFIG_LIBDIR} "${KRT_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:\
${KRT_AARCH64_SYSROOT}/usr/share/pkgconfig")
unset(ENV{PKG_CONFIG_PATH})

# qemu-user runs the test programs; -L makes it load the target's dynamic loader and libraries.
if(NOT KRT_AARCH64_EMULATOR)
  find_program(KRT_AARCH64_QEMU NAMES qemu-aarch64 qemu-aarch64-static NO_CMAKE_FIND_ROOT_PATH)
  if(KRT_AARCH64_QEMU)
    set(KRT_AARCH64_EMULATOR "${KRT_AARCH64_QEMU};-L;${_krt_aarch64_libroot}")
  endif()
endif()
if(KRT_AARCH64_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${KRT_AARCH64_EMULATOR}")
endif()
