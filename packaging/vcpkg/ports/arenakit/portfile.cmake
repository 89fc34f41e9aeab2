# arenakit is header-only: one (release) configuration, no binaries.
set(VCPKG_BUILD_TYPE release)

vcpkg_from_github(
    OUT_SOURCE_PATH SOURCE_PATH
    REPO arenakit/arenakit
    REF "v${VERSION}"
    # Filled in when v${VERSION} is tagged: `vcpkg install arenakit` with 0
    # here prints the archive's real SHA512.
    SHA512 0
    HEAD_REF main
)

# Features only add: each one turns on one optional target (and its headers).
vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
    FEATURES
        ibverbs     ARENAKIT_WITH_IBVERBS
        liburing    ARENAKIT_WITH_URING
)

# The optional targets find their libraries with pkg-config.
set(PKGCONFIG_OPTIONS "")
if("ibverbs" IN_LIST FEATURES OR "liburing" IN_LIST FEATURES)
    vcpkg_find_acquire_program(PKGCONFIG)
    set(PKGCONFIG_OPTIONS "-DPKG_CONFIG_EXECUTABLE=${PKGCONFIG}")
endif()

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        ${FEATURE_OPTIONS}
        ${PKGCONFIG_OPTIONS}
        # dma-buf needs only the kernel's UAPI header, present on every
        # Linux toolchain: always part of the port.
        -DARENAKIT_WITH_DMABUF=ON
        -DARENAKIT_INSTALL=ON
        -DARENAKIT_BUILD_TESTS=OFF
        -DARENAKIT_BUILD_BENCHMARKS=OFF
        -DARENAKIT_BUILD_EXAMPLES=OFF
        -DARENAKIT_BUILD_FUZZERS=OFF
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/arenakit)
vcpkg_fixup_pkgconfig()

# Header-only: nothing may be left under lib/ or debug/.
file(REMOVE_RECURSE
    "${CURRENT_PACKAGES_DIR}/debug"
    "${CURRENT_PACKAGES_DIR}/lib"
)

configure_file("${CMAKE_CURRENT_LIST_DIR}/usage" "${CURRENT_PACKAGES_DIR}/share/${PORT}/usage" COPYONLY)
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
