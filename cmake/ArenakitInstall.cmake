include(CMakePackageConfigHelpers)

install(TARGETS arenakit EXPORT arenakitTargets
        FILE_SET HEADERS DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Mappers for optional libraries are installed as headers; their users link
# liburing / libibverbs themselves.
install(FILES ${ARENAKIT_OPTIONAL_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/arenakit)

set(ARENAKIT_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/arenakit")
install(EXPORT arenakitTargets NAMESPACE arenakit:: DESTINATION "${ARENAKIT_CMAKE_DIR}")

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/arenakitConfig.cmake.in"
  "${CMAKE_CURRENT_BINARY_DIR}/arenakitConfig.cmake"
  INSTALL_DESTINATION "${ARENAKIT_CMAKE_DIR}")
# Header-only: the same package works for any architecture, and only the
# same major version is a promise of compatibility.
write_basic_package_version_file(
  "${CMAKE_CURRENT_BINARY_DIR}/arenakitConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion
  ARCH_INDEPENDENT)
install(FILES
  "${CMAKE_CURRENT_BINARY_DIR}/arenakitConfig.cmake"
  "${CMAKE_CURRENT_BINARY_DIR}/arenakitConfigVersion.cmake"
  DESTINATION "${ARENAKIT_CMAKE_DIR}")

configure_file("${CMAKE_CURRENT_LIST_DIR}/arenakit.pc.in"
               "${CMAKE_CURRENT_BINARY_DIR}/arenakit.pc" @ONLY)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/arenakit.pc"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/pkgconfig")
