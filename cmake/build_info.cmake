# What `krt version` and krt_build_info() report about the build, fixed at configure time into
# <build>/generated/krt_build_info.h (included by src/api/version.c and src/backend/backend.c):
#   the git commit of the source tree ("unknown" outside git, or when the tree is a folder of some
#   other repository), the build type, whether the CUDA module is built (cmake/cuda.cmake runs
#   first) and for which architectures, the sanitizers and the debug hooks; and the install libdir,
#   one of the places libkrt looks for the CUDA module.
set(KRT_GIT_COMMIT unknown)
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --show-toplevel --short=12 HEAD
                  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} RESULT_VARIABLE _krt_git_rc
                  OUTPUT_VARIABLE _krt_git_out OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_krt_git_rc EQUAL 0)
    string(REPLACE "\n" ";" _krt_git_out "${_krt_git_out}")
    list(GET _krt_git_out 0 _krt_git_top)
    list(GET _krt_git_out 1 _krt_git_commit)
    get_filename_component(_krt_git_top "${_krt_git_top}" REALPATH)
    get_filename_component(_krt_source "${PROJECT_SOURCE_DIR}" REALPATH)
    if(_krt_git_top STREQUAL _krt_source)
      set(KRT_GIT_COMMIT ${_krt_git_commit})
    endif()
  endif()
endif()

set(KRT_BUILD_TYPE_NAME "${CMAKE_BUILD_TYPE}")
if(KRT_BUILD_TYPE_NAME STREQUAL "")
  set(KRT_BUILD_TYPE_NAME "none") # a multi-config generator picks it at build time
endif()
if(KRT_CUDA_ENABLED)
  set(KRT_CUDA_MODULE_INFO "built (architectures ${CMAKE_CUDA_ARCHITECTURES})")
else()
  set(KRT_CUDA_MODULE_INFO "not built")
endif()
if(KRT_SANITIZE)
  set(KRT_SANITIZERS_INFO "address, undefined")
elseif(KRT_FUZZ)
  set(KRT_SANITIZERS_INFO "fuzzer (coverage), address, undefined")
elseif(KRT_TSAN)
  set(KRT_SANITIZERS_INFO "thread")
else()
  set(KRT_SANITIZERS_INFO "off")
endif()
if(KRT_DEBUG_HOOKS)
  set(KRT_DEBUG_HOOKS_INFO "on")
else()
  set(KRT_DEBUG_HOOKS_INFO "off")
endif()
message(STATUS "krt: ${PROJECT_VERSION}, commit ${KRT_GIT_COMMIT}")

configure_file(${PROJECT_SOURCE_DIR}/cmake/krt_build_info.h.in
               ${PROJECT_BINARY_DIR}/generated/krt_build_info.h @ONLY)
target_include_directories(krt_objects PRIVATE ${PROJECT_BINARY_DIR}/generated)
