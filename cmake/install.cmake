# `cmake --install BUILD [--prefix DIR]` lays krt out as a C library (GNUInstallDirs):
#   bin/krt                                the command line
#   include/krt.h                          the one public header
#   lib/libkrt.so.X.Y.Z, .so.X.Y, .so      the shared library (soname: CMakeLists.txt)
#   lib/libkrt.a                           the static library
#   lib/libkrt_cuda.so                     the CUDA module, where built (cmake/cuda.cmake): beside
#                                          libkrt.so, where libkrt looks first (src/backend/backend.c)
#   lib/pkgconfig/krt.pc                   pkg-config
#   lib/cmake/krt/krtConfig.cmake, ...     find_package(krt CONFIG): krt::krt, krt::krt_static
#   share/man/man1/krt.1                   the manual page
# lib is CMAKE_INSTALL_LIBDIR (lib64 or lib/<multiarch> where the system wants it). Everything is
# relocatable: krt.pc and the CMake files find the prefix from where they are, and bin/krt finds
# libkrt through an $ORIGIN-relative rpath, so a tree installed with --prefix works where it lands.
include(CMakePackageConfigHelpers)

set(KRT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/krt)

file(RELATIVE_PATH _krt_bin_to_lib ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LIBDIR})
set_target_properties(krt_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${_krt_bin_to_lib}")
# Libraries linked from folders outside the system's (HDF5 in a subfolder) stay found.
set_target_properties(krt PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS krt EXPORT krtTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS krt_static EXPORT krtStaticTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS krt_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/krt.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/docs/krt.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# The CMake package. The static library's own dependencies are found again by krtConfig.cmake on
# the consumer's machine, hence two export sets: krt::krt alone needs nothing more.
install(EXPORT krtTargets NAMESPACE krt:: DESTINATION ${KRT_CMAKE_DIR})
install(EXPORT krtStaticTargets NAMESPACE krt:: DESTINATION ${KRT_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/krtConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/krtConfig.cmake
                              INSTALL_DESTINATION ${KRT_CMAKE_DIR})
# Before 1.0 a minor version may break the API, as the soname says.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_krt_compatibility SameMinorVersion)
else()
  set(_krt_compatibility SameMajorVersion)
endif()
write_basic_package_version_file(${PROJECT_BINARY_DIR}/krtConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY ${_krt_compatibility})
install(FILES ${PROJECT_BINARY_DIR}/krtConfig.cmake ${PROJECT_BINARY_DIR}/krtConfigVersion.cmake
        DESTINATION ${KRT_CMAKE_DIR})

# pkg-config. The prefix is found from the .pc file's own folder (${pcfiledir}), so the file holds
# no absolute path unless CMAKE_INSTALL_LIBDIR is one.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(KRT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _krt_pc_to_prefix ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig
       ${CMAKE_INSTALL_PREFIX})
  string(REGEX REPLACE "/$" "" _krt_pc_to_prefix "${_krt_pc_to_prefix}")
  set(KRT_PC_PREFIX "\${pcfiledir}/${_krt_pc_to_prefix}")
endif()
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(KRT_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(KRT_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/krt.pc.in ${PROJECT_BINARY_DIR}/krt.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/krt.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
