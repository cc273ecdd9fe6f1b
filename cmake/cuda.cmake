# The CUDA backend: libkrt_cuda.so, a plugin that libkrt dlopen()s on first use
# (src/backend/backend.c), so libkrt itself never links CUDA and runs where there is none.
#
#   KRT_WITH_CUDA=AUTO  build it when the CUDA toolkit, a working nvcc and cuDNN are all found
#                       (never together with KRT_SANITIZE: ASan and the CUDA runtime do not mix)
#   KRT_WITH_CUDA=ON    build it; stop with the reason when something is missing
#   KRT_WITH_CUDA=OFF   do not build it
#
# The module links the CUDA runtime statically and cuBLASLt and cuDNN 9 dynamically. It compiles
# the few libkrt sources it needs (status, dtype, the IR) itself, with hidden visibility, and
# exports one symbol (krt_cuda_backend_entry), so it works whether libkrt is a shared library or
# linked statically into the program. Sets KRT_CUDA_ENABLED for tests/CMakeLists.txt.
#
# Jetson: the module is built on the board (README, "Jetson and aarch64"). JetPack puts CUDA in
# /usr/local/cuda with its target folder targets/aarch64-linux (an Arm server's toolkit has
# sbsa-linux instead), and cuDNN as Debian packages: cudnn*.h in /usr/include/aarch64-linux-gnu,
# libcudnn in /usr/lib/aarch64-linux-gnu. A cross build (CMAKE_CROSSCOMPILING) needs the toolkit's
# aarch64 target folder, from NVIDIA's cross-compilation packages, and a cuDNN for the target.
set(KRT_WITH_CUDA AUTO CACHE STRING "Build the CUDA backend module (AUTO, ON or OFF)")
set_property(CACHE KRT_WITH_CUDA PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${KRT_WITH_CUDA}" _krt_cuda_mode)
set(KRT_CUDA_ENABLED OFF)

if(_krt_cuda_mode STREQUAL "OFF")
  message(STATUS "krt: CUDA backend off (KRT_WITH_CUDA=OFF)")
elseif(_krt_cuda_mode STREQUAL "AUTO" AND (KRT_SANITIZE OR KRT_FUZZ OR KRT_TSAN))
  message(STATUS "krt: CUDA backend off (sanitizer build: the sanitizers and the CUDA runtime do not mix)")
else()
  set(_krt_cuda_missing "")
  find_package(CUDAToolkit QUIET)
  set(_krt_cuda_jetson OFF)
  if(CUDAToolkit_BIN_DIR)
    get_filename_component(_krt_cuda_root "${CUDAToolkit_BIN_DIR}" DIRECTORY)
    if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$"
       AND EXISTS "${_krt_cuda_root}/targets/aarch64-linux")
      set(_krt_cuda_jetson ON)
    endif()
  endif()
  if(CMAKE_CROSSCOMPILING AND CUDAToolkit_BIN_DIR AND CMAKE_SYSTEM_PROCESSOR MATCHES "^aarch64$"
     AND NOT EXISTS "${_krt_cuda_root}/targets/aarch64-linux"
     AND NOT EXISTS "${_krt_cuda_root}/targets/sbsa-linux")
    list(APPEND _krt_cuda_missing "an aarch64 target in the CUDA toolkit (no ${_krt_cuda_root}/\
targets/aarch64-linux or sbsa-linux, a host-only toolkit: build the module on the board)")
  elseif(NOT CUDAToolkit_FOUND)
    list(APPEND _krt_cuda_missing "the CUDA toolkit (find_package(CUDAToolkit))")
  else()
    if(NOT CMAKE_CUDA_COMPILER AND CUDAToolkit_NVCC_EXECUTABLE)
      set(CMAKE_CUDA_COMPILER "${CUDAToolkit_NVCC_EXECUTABLE}")
    endif()
    include(CheckLanguage)
    check_language(CUDA)
    if(NOT CMAKE_CUDA_COMPILER)
      list(APPEND _krt_cuda_missing "a working nvcc (check_language(CUDA))")
    endif()
    # /usr/include/<multiarch> and /usr/lib/<multiarch>: JetPack's cuDNN packages (and NVIDIA's
    # Debian packages elsewhere); CMake searches the library folder by itself, not the headers'.
    find_path(KRT_CUDNN_INCLUDE_DIR cudnn.h
              HINTS ${CUDAToolkit_INCLUDE_DIRS} ENV CUDNN_ROOT PATH_SUFFIXES include
              PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
    find_library(KRT_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9
                 HINTS ${CUDAToolkit_LIBRARY_DIR} ENV CUDNN_ROOT PATH_SUFFIXES lib lib64
                 PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE})
    if(NOT KRT_CUDNN_INCLUDE_DIR OR NOT KRT_CUDNN_LIBRARY)
      list(APPEND _krt_cuda_missing "cuDNN 9 (cudnn.h and libcudnn; set CUDNN_ROOT)")
    endif()
    if(NOT TARGET CUDA::cublasLt OR NOT TARGET CUDA::cudart_static)
      list(APPEND _krt_cuda_missing "cuBLASLt and the static CUDA runtime")
    endif()
  endif()

  if(_krt_cuda_missing)
    string(REPLACE ";" ", " _krt_cuda_missing "${_krt_cuda_missing}")
    if(_krt_cuda_mode STREQUAL "ON")
      message(FATAL_ERROR "krt: KRT_WITH_CUDA=ON but not found: ${_krt_cuda_missing}")
    endif()
    message(STATUS "krt: CUDA backend off (not found: ${_krt_cuda_missing})")
  else()
    set(KRT_CUDA_ENABLED ON)
  endif()
endif()

if(KRT_CUDA_ENABLED)
  # sm_75 (Turing) and newer; 87 is Jetson Orin. One cubin per architecture, PTX for the newest.
  # On a Jetson only its own GPUs: Xavier (sm_72) and Orin (sm_87). CUDA 13 compiles nothing
  # older than sm_75, so there it is Orin alone (Xavier's JetPack 5 has CUDA 11 and cuDNN 8).
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
    if(_krt_cuda_jetson AND CUDAToolkit_VERSION VERSION_LESS 13)
      set(CMAKE_CUDA_ARCHITECTURES "72-real;87")
    elseif(_krt_cuda_jetson)
      set(CMAKE_CUDA_ARCHITECTURES "87")
    else()
      set(CMAKE_CUDA_ARCHITECTURES "75-real;80-real;86-real;87-real;89-real;90")
    endif()
  endif()
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  message(STATUS "krt: CUDA backend on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures "
                 "${CMAKE_CUDA_ARCHITECTURES}, cuDNN ${KRT_CUDNN_LIBRARY})")

  file(GLOB KRT_CUDA_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/backend/cuda/*.c
       ${PROJECT_SOURCE_DIR}/src/backend/cuda/*.cu)
  # The libkrt code the module uses, compiled in (hidden) rather than resolved against libkrt.
  set(KRT_CUDA_SHARED_SOURCES ${PROJECT_SOURCE_DIR}/src/core/status.c
      ${PROJECT_SOURCE_DIR}/src/core/dtype.c ${PROJECT_SOURCE_DIR}/src/ir/graph.c
      ${PROJECT_SOURCE_DIR}/src/ir/shape.c ${PROJECT_SOURCE_DIR}/src/ir/dump.c
      ${PROJECT_SOURCE_DIR}/src/ir/attrs.c)
  # krt_cuda_objects: the backend itself (GPU tests link it with krt_static); the module adds its
  # own hidden copy of the shared sources.
  add_library(krt_cuda_objects OBJECT ${KRT_CUDA_SOURCES})
  add_library(krt_cuda_shared_objects OBJECT ${KRT_CUDA_SHARED_SOURCES})
  foreach(target krt_cuda_objects krt_cuda_shared_objects)
    target_include_directories(${target}
      PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src ${KRT_CUDNN_INCLUDE_DIR}
             ${CUDAToolkit_INCLUDE_DIRS})
    set_target_properties(${target} PROPERTIES C_VISIBILITY_PRESET hidden
                          CUDA_VISIBILITY_PRESET hidden)
  endforeach()
  target_compile_options(krt_cuda_objects PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra --expt-relaxed-constexpr>
    $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${KRT_WERROR}>>:-Werror=all-warnings>)
  set(KRT_CUDA_LINK_LIBS CUDA::cudart_static CUDA::cublasLt ${KRT_CUDNN_LIBRARY} Threads::Threads
      m ${CMAKE_DL_LIBS})

  add_library(krt_cuda MODULE $<TARGET_OBJECTS:krt_cuda_objects>
                       $<TARGET_OBJECTS:krt_cuda_shared_objects>)
  target_link_libraries(krt_cuda PRIVATE ${KRT_CUDA_LINK_LIBS})
  target_link_options(krt_cuda PRIVATE -Wl,--no-undefined
                      -Wl,--version-script=${PROJECT_SOURCE_DIR}/cmake/krt_cuda.map)
  set_target_properties(krt_cuda PROPERTIES PREFIX "lib" OUTPUT_NAME krt_cuda LINKER_LANGUAGE CUDA
                        LINK_DEPENDS ${PROJECT_SOURCE_DIR}/cmake/krt_cuda.map
                        LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})
  # libkrt names the module in its "not available" message only when it was built.
  target_compile_definitions(krt_objects PRIVATE KRT_CUDA_MODULE_BUILT)
  # Installed beside libkrt.so, the first place libkrt looks. Libraries linked from folders
  # outside the compilers' implicit ones (a cuDNN under CUDNN_ROOT) stay found, as in the build
  # tree; the toolkit's own folders are implicit to nvcc, so cuBLASLt comes from the loader's path.
  set_target_properties(krt_cuda PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
  install(TARGETS krt_cuda LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
