# arenakit is header-only: one (release) configuration, no binaries.
set(VCPKG_BUILD_TYPE release)

# BEGIN SOURCE
# This overlay port installs the arenakit checkout it sits in
# (packaging/vcpkg/ports/arenakit/ of that checkout), so that
#   vcpkg install arenakit[liburing] --overlay-ports=packaging/vcpkg/ports
# works from a clone, tagged or not. The registry port is this file with
# this block replaced by vcpkg_from_github() of tag v${VERSION} and the real
# SHA512 of its archive: scripts/release.sh writes it when the tag is made.
# vcpkg does not hash the checkout into the port's ABI: after changing the
# checkout, `vcpkg remove arenakit` and install again with --no-binarycaching.
cmake_path(SET SOURCE_PATH NORMALIZE "${CMAKE_CURRENT_LIST_DIR}/../../../..")
if(NOT EXISTS "${SOURCE_PATH}/CMakeLists.txt" OR NOT EXISTS "${SOURCE_PATH}/include/arenakit/arenakit.hpp")
    message(FATAL_ERROR "${SOURCE_PATH} is not an arenakit checkout: this overlay port installs the checkout "
                        "it sits in (packaging/vcpkg/ports/arenakit). Use the registry port that "
                        "scripts/release.sh writes to install a release from anywhere else.")
endif()
file(READ "${SOURCE_PATH}/CMakeLists.txt" arenakit_top)
if(NOT arenakit_top MATCHES "project\\(arenakit[ \t\r\n]+VERSION[ \t\r\n]+${VERSION}[ \t\r\n)]")
    message(FATAL_ERROR "vcpkg.json says ${VERSION}, but ${SOURCE_PATH}/CMakeLists.txt has another version")
endif()
# END SOURCE

# Features only add: each one turns on one optional target, and without it
# the target is OFF (never AUTO: a port's result must not depend on what else
# happens to be installed).
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
# share/pkgconfig/*.pc carry no Libs: line (header-only), which is where
# vcpkg's post-build check wants such files.
vcpkg_fixup_pkgconfig()

# Header-only: nothing may be left under lib/ or debug/. The license is
# installed once, as vcpkg's copyright file, not also under share/doc.
file(REMOVE_RECURSE
    "${CURRENT_PACKAGES_DIR}/debug"
    "${CURRENT_PACKAGES_DIR}/lib"
    "${CURRENT_PACKAGES_DIR}/share/doc"
)

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
