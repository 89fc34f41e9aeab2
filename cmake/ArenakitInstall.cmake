# Install rules for the header-only package `arenakit`.
#
# Layout (the vcpkg port and the Conan recipe rely on it; tests/packaging
# checks it):
#   include/arenakit/...               every header, whatever the options
#   share/arenakit/arenakitConfig*.cmake, arenakitTargets.cmake
#   share/pkgconfig/arenakit.pc        (+ arenakit-<group>.pc per component)
#   share/doc/arenakit/LICENSE
# Nothing goes to lib/: there is no binary, and a header-only package that
# puts only pkg-config files under share/ is architecture independent. Those
# .pc files therefore carry no `Libs:` line (vcpkg's post-build lint rejects
# a share/pkgconfig file with one as misplaced): -pthread is in Cflags, which
# also covers a compile-and-link command, and the components' libraries come
# through `Requires:`.
#
# Targets, all in the one export set `arenakitTargets`:
#   arenakit::arenakit                  the core; needs only Threads
#   arenakit::uring / ::ibverbs / ::dmabuf
#                                       installed only when the matching
#                                       ARENAKIT_WITH_* option built them;
#                                       consumers ask for them with
#                                       find_package(arenakit COMPONENTS ...)
include(CMakePackageConfigHelpers)

# Which optional groups were built, and the pkg-config module each one links
# (empty for dmabuf: the kernel's UAPI header needs no library). The config
# file looks these modules up again on the consumer's side, under the same
# PkgConfig::ARENAKIT_LIB<GROUP> names the exported targets refer to.
set(_arenakit_pc_module_uring liburing)
set(_arenakit_pc_module_ibverbs libibverbs)
set(_arenakit_pc_module_dmabuf "")
set(ARENAKIT_INSTALLED_COMPONENTS "")
set(ARENAKIT_COMPONENT_MODULES "")
set(_arenakit_install_targets arenakit)
foreach(group IN ITEMS uring ibverbs dmabuf)
  if(TARGET arenakit_${group})
    list(APPEND ARENAKIT_INSTALLED_COMPONENTS ${group})
    list(APPEND _arenakit_install_targets arenakit_${group})
    # "group=module" pairs: the config file splits them again.
    list(APPEND ARENAKIT_COMPONENT_MODULES "${group}=${_arenakit_pc_module_${group}}")
  endif()
endforeach()

# Each built target installs its own header FILE_SET.
install(TARGETS ${_arenakit_install_targets} EXPORT arenakitTargets
        FILE_SET HEADERS DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The headers of a group that was not built are still installed, as plain
# files with no target: the files of a package never depend on its options
# (Conan's header-library package_id ignores them; vcpkg features only add),
# and a user may still include one and link the library by hand.
foreach(group IN ITEMS uring ibverbs dmabuf)
  if(NOT TARGET arenakit_${group} AND ARENAKIT_${group}_HEADERS)
    install(FILES ${ARENAKIT_${group}_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/arenakit/${group})
  endif()
endforeach()

set(ARENAKIT_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/arenakit")
install(EXPORT arenakitTargets NAMESPACE arenakit:: DESTINATION "${ARENAKIT_CMAKE_DIR}")

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/arenakitConfig.cmake.in"
  "${CMAKE_CURRENT_BINARY_DIR}/arenakitConfig.cmake"
  INSTALL_DESTINATION "${ARENAKIT_CMAKE_DIR}")
# Header-only: the same package works for any architecture. While the major
# version is 0 a minor release may break the API (see CHANGELOG.md), so only
# the same 0.minor is a promise of compatibility; from 1.0 on, the same major.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_arenakit_compat SameMinorVersion)
else()
  set(_arenakit_compat SameMajorVersion)
endif()
write_basic_package_version_file(
  "${CMAKE_CURRENT_BINARY_DIR}/arenakitConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY ${_arenakit_compat}
  ARCH_INDEPENDENT)
install(FILES
  "${CMAKE_CURRENT_BINARY_DIR}/arenakitConfig.cmake"
  "${CMAKE_CURRENT_BINARY_DIR}/arenakitConfigVersion.cmake"
  DESTINATION "${ARENAKIT_CMAKE_DIR}")

# The license travels with the headers (MIT asks for it): share/doc/arenakit.
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/arenakit")

# pkg-config: relocatable (prefix computed from the .pc file's own place), so
# a staged or moved prefix — vcpkg's packages/ tree, a Conan package folder,
# DESTDIR — still points at its own headers.
set(ARENAKIT_PC_DIR "${CMAKE_INSTALL_DATADIR}/pkgconfig")
file(RELATIVE_PATH ARENAKIT_PC_TO_PREFIX "/prefix/${ARENAKIT_PC_DIR}" "/prefix")
string(REGEX REPLACE "/$" "" ARENAKIT_PC_TO_PREFIX "${ARENAKIT_PC_TO_PREFIX}")
configure_file("${CMAKE_CURRENT_LIST_DIR}/arenakit.pc.in"
               "${CMAKE_CURRENT_BINARY_DIR}/arenakit.pc" @ONLY)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/arenakit.pc" DESTINATION "${ARENAKIT_PC_DIR}")
# One .pc per installed component: `pkg-config --cflags --libs arenakit-uring`
# brings arenakit's flags and liburing's, like arenakit::uring does in CMake.
foreach(group IN LISTS ARENAKIT_INSTALLED_COMPONENTS)
  set(_requires "arenakit = ${PROJECT_VERSION}")
  if(_arenakit_pc_module_${group})
    string(APPEND _requires ", ${_arenakit_pc_module_${group}}")
  endif()
  file(CONFIGURE OUTPUT "${CMAKE_CURRENT_BINARY_DIR}/arenakit-${group}.pc" @ONLY CONTENT
"prefix=\${pcfiledir}/@ARENAKIT_PC_TO_PREFIX@
includedir=\${prefix}/@CMAKE_INSTALL_INCLUDEDIR@

Name: arenakit-@group@
Description: arenakit @group@ component (target arenakit::@group@)
Version: @PROJECT_VERSION@
Requires: @_requires@
Cflags: -I\${includedir}
")
  install(FILES "${CMAKE_CURRENT_BINARY_DIR}/arenakit-${group}.pc" DESTINATION "${ARENAKIT_PC_DIR}")
endforeach()
