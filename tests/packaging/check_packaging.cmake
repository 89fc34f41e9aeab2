# CI imitation of vcpkg and Conan (neither tool can be installed on our CI
# machines) and checks of what the README tells a new user to run. One
# scenario per run, in a scratch directory; any broken expectation is a
# FATAL_ERROR that says what is wrong.
#   -DMODE=<see tests/packaging.cmake>
#   -DSOURCE_DIR=<arenakit source> -DWORK_DIR=<scratch> -DCXX=<compiler>
#   -DPYTHON=<python3>
#   -DCXX_FLAGS=... -DLD_FLAGS=...  (optional: the build tree's flags, e.g. sanitizers)
cmake_minimum_required(VERSION 3.25)

set(port_dir "${SOURCE_DIR}/packaging/vcpkg/ports/arenakit")
set(recipes_dir "${SOURCE_DIR}/packaging/conan/recipes/arenakit")
set(cci_recipe "${recipes_dir}/all/conanfile.py")
set(checkout_recipe "${SOURCE_DIR}/packaging/conan/conanfile.py")
set(test_package "${recipes_dir}/all/test_package")
set(here "${SOURCE_DIR}/tests/packaging")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
# Python writes no bytecode into the source tree (the recipes import each other).
set(ENV{PYTHONDONTWRITEBYTECODE} 1)
set(ENV{PYTHONPYCACHEPREFIX} "${WORK_DIR}/pycache")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(run_output "${out}${err}" PARENT_SCOPE)
endfunction()

# The one version: project(arenakit VERSION x.y.z) in the top CMakeLists.txt.
function(project_version out)
  file(READ "${SOURCE_DIR}/CMakeLists.txt" top)
  if(NOT top MATCHES "project\\(arenakit[ \t\r\n]+VERSION[ \t\r\n]+([0-9]+\\.[0-9]+\\.[0-9]+)")
    message(FATAL_ERROR "CMakeLists.txt has no project(arenakit VERSION x.y.z)")
  endif()
  set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

# Whether this machine has each optional dependency (then AUTO builds it).
function(machine_has out)
  set(has "")
  find_program(pkgconfig NAMES pkg-config pkgconf)
  foreach(pair uring=liburing ibverbs=libibverbs)
    string(REPLACE "=" ";" pair "${pair}")
    list(GET pair 0 group)
    list(GET pair 1 module)
    if(pkgconfig)
      execute_process(COMMAND ${pkgconfig} --exists ${module} RESULT_VARIABLE rc)
      if(rc EQUAL 0)
        list(APPEND has ${group})
      endif()
    endif()
  endforeach()
  file(WRITE "${WORK_DIR}/probe.cpp" "#include <linux/dma-buf.h>\nint main() { return DMA_BUF_SYNC_READ == 0; }\n")
  execute_process(COMMAND ${CXX} -fsyntax-only "${WORK_DIR}/probe.cpp" RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    list(APPEND has dmabuf)
  endif()
  set(${out} "${has}" PARENT_SCOPE)
endfunction()

# The release archive as GitHub serves it for a tag: one arenakit-<version>/
# folder. Made from this tree's files (what `git archive` of a tag has).
function(make_archive out)
  project_version(version)
  set(stage "${WORK_DIR}/archive-stage/arenakit-${version}")
  file(REMOVE_RECURSE "${WORK_DIR}/archive-stage")
  file(MAKE_DIRECTORY "${stage}")
  file(COPY "${SOURCE_DIR}/CMakeLists.txt" "${SOURCE_DIR}/LICENSE" "${SOURCE_DIR}/CHANGELOG.md"
            "${SOURCE_DIR}/README.md" "${SOURCE_DIR}/cmake" "${SOURCE_DIR}/include" DESTINATION "${stage}")
  # A consumer's configure of the archive never needs the tests.
  set(archive "${WORK_DIR}/arenakit-${version}.tar.gz")
  execute_process(COMMAND ${CMAKE_COMMAND} -E tar czf "${archive}" "arenakit-${version}"
                  WORKING_DIRECTORY "${WORK_DIR}/archive-stage" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "could not make ${archive}")
  endif()
  set(${out} "${archive}" PARENT_SCOPE)
endfunction()

# vcpkg install <port>[features]: the portfile run by tests/packaging/vcpkg_imitation.cmake.
function(vcpkg_install dir features prefix_var)
  set(extra "")
  if(ARGC GREATER 3)
    set(extra "-DARCHIVE=${ARGV3}")
  endif()
  string(REPLACE ";" "\\;" features_arg "${features}")
  run(${CMAKE_COMMAND} -DPORT_DIR=${dir} "-DFEATURES=${features_arg}" -DWORK_DIR=${WORK_DIR}/vcpkg
      -DCXX=${CXX} ${extra} -P "${here}/vcpkg_imitation.cmake")
  message(STATUS "${run_output}")
  set(${prefix_var} "${WORK_DIR}/vcpkg/packages/arenakit_x64-linux" PARENT_SCOPE)
endfunction()

# Layout of an install: config under share/arenakit, every header, .pc files
# under share/pkgconfig without Libs:, the license, nothing under lib/ and no
# binary anywhere. LICENSE_AT: where the license must be.
function(check_layout prefix components license_at)
  foreach(f share/arenakit/arenakitConfig.cmake share/arenakit/arenakitConfigVersion.cmake
            share/arenakit/arenakitTargets.cmake share/pkgconfig/arenakit.pc ${license_at})
    if(NOT EXISTS "${prefix}/${f}")
      message(FATAL_ERROR "the install is missing ${f}")
    endif()
  endforeach()
  file(GLOB_RECURSE src_headers RELATIVE "${SOURCE_DIR}/include" "${SOURCE_DIR}/include/arenakit/*.hpp")
  foreach(h IN LISTS src_headers)
    if(NOT EXISTS "${prefix}/include/${h}")
      message(FATAL_ERROR "the install is missing the header include/${h}")
    endif()
  endforeach()
  if(EXISTS "${prefix}/lib" OR EXISTS "${prefix}/lib64" OR EXISTS "${prefix}/bin" OR EXISTS "${prefix}/debug")
    message(FATAL_ERROR "a header-only package must not install lib/, lib64/, bin/ or debug/")
  endif()
  file(GLOB_RECURSE binaries "${prefix}/*.a" "${prefix}/*.so" "${prefix}/*.so.*" "${prefix}/*.o")
  if(binaries)
    message(FATAL_ERROR "binaries in a header-only package: ${binaries}")
  endif()
  file(READ "${prefix}/share/arenakit/arenakitTargets.cmake" targets)
  foreach(group uring ibverbs dmabuf)
    if(group IN_LIST components)
      if(NOT targets MATCHES "add_library\\(arenakit::${group} INTERFACE IMPORTED\\)")
        message(FATAL_ERROR "arenakit::${group} is not exported, but it should be (expected: ${components})")
      endif()
      if(NOT EXISTS "${prefix}/share/pkgconfig/arenakit-${group}.pc")
        message(FATAL_ERROR "share/pkgconfig/arenakit-${group}.pc is missing")
      endif()
    elseif(targets MATCHES "arenakit::${group}")
      message(FATAL_ERROR "arenakit::${group} is exported although it was not built")
    endif()
  endforeach()
  if(NOT targets MATCHES "add_library\\(arenakit::arenakit INTERFACE IMPORTED\\)[^#]*INTERFACE_LINK_LIBRARIES \"([^\"]*)\"")
    message(FATAL_ERROR "arenakitTargets.cmake: no INTERFACE_LINK_LIBRARIES for arenakit::arenakit")
  endif()
  if(NOT CMAKE_MATCH_1 STREQUAL "Threads::Threads")
    message(FATAL_ERROR "arenakit::arenakit links '${CMAKE_MATCH_1}': the core must need Threads only")
  endif()
  pkgconfig_lint("${prefix}")
endfunction()

# vcpkg's post-build check_pkgconfig_dir_only_in_lib_dir: a .pc file outside
# lib/pkgconfig may only be in share/pkgconfig, and only without Libs:.
function(pkgconfig_lint prefix)
  file(GLOB_RECURSE pcs RELATIVE "${prefix}" "${prefix}/*.pc")
  foreach(pc IN LISTS pcs)
    get_filename_component(dir "${pc}" DIRECTORY)
    if(dir STREQUAL "lib/pkgconfig")
      continue()
    endif()
    file(STRINGS "${prefix}/${pc}" libs REGEX "^Libs[^:]*:[ ]*[^ ]")
    if(libs OR NOT dir STREQUAL "share/pkgconfig")
      message(FATAL_ERROR "${pc} has '${libs}': vcpkg's post-build check rejects a .pc with a Libs: "
                          "line outside lib/pkgconfig as misplaced")
    endif()
  endforeach()
endfunction()

# Conan's test_package, built with plain CMake against a prefix (an install,
# or the folder of a generated arenakit-config.cmake), and run.
function(build_test_package prefix components)
  set(defs "")
  if(uring IN_LIST components)
    list(APPEND defs -DARENAKIT_TEST_URING=ON)
  endif()
  if(ibverbs IN_LIST components)
    list(APPEND defs -DARENAKIT_TEST_IBVERBS=ON)
  endif()
  # Our warnings as errors on the consumer's own file, plus the build tree's
  # sanitizer flags so that the run is checked too.
  set(flags "${CXX_FLAGS} -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror")
  file(REMOVE_RECURSE "${WORK_DIR}/tp")
  run(${CMAKE_COMMAND} -S "${test_package}" -B "${WORK_DIR}/tp" -DCMAKE_CXX_COMPILER=${CXX}
      -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS=${flags}" "-DCMAKE_EXE_LINKER_FLAGS=${LD_FLAGS}"
      -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF ${defs})
  string(REGEX MATCHALL "refused as expected: [^\n]*\n[^\n]*" refusals "${run_output}")
  foreach(r IN LISTS refusals)
    message(STATUS "test_package: ${r}")
  endforeach()
  run(${CMAKE_COMMAND} --build "${WORK_DIR}/tp")
  run("${WORK_DIR}/tp/test_package")
  message(STATUS "test_package: ${run_output}")
endfunction()

# A component asked for that the package lacks: refused at find_package by name.
function(expect_component_refused prefix component pattern)
  execute_process(COMMAND ${CMAKE_COMMAND} -S "${test_package}" -B "${WORK_DIR}/tp-refused"
                  -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix} -DARENAKIT_TEST_${component}=ON
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "find_package(arenakit COMPONENTS ${component}) was accepted by a package without it")
  endif()
  if(NOT err MATCHES "${pattern}")
    message(FATAL_ERROR "refused, but without '${pattern}':\n${err}")
  endif()
  message(STATUS "refused as expected: ${pattern}")
endfunction()

# While the major version is 0, an older 0.minor is refused (SameMinorVersion).
function(expect_older_minor_refused prefix)
  project_version(v)
  string(REPLACE "." ";" parts "${v}")
  list(GET parts 0 major)
  list(GET parts 1 minor)
  if(NOT major EQUAL 0 OR minor EQUAL 0)
    return()
  endif()
  math(EXPR older "${minor} - 1")
  execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer/older_minor" -B "${WORK_DIR}/older"
                  -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix} -DREQUEST_VERSION=0.${older}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0 OR NOT err MATCHES "version")
    message(FATAL_ERROR "find_package(arenakit 0.${older}) was not refused by ${v} at ${prefix}:\n${err}")
  endif()
  message(STATUS "refused as expected: 0.${older} requested, ${v} here")
endfunction()

function(conan_imitation)
  run(${PYTHON} "${here}/conan_imitation.py" ${ARGN})
  message(STATUS "${run_output}")
  set(run_output "${run_output}" PARENT_SCOPE)
endfunction()

# The .pc file of the core from a Conan generators folder and from our
# install carry the same C++ level.
function(compare_pc conan_dir install_prefix)
  file(READ "${conan_dir}/arenakit.pc" conan_pc)
  file(READ "${install_prefix}/share/pkgconfig/arenakit.pc" our_pc)
  foreach(flag -std=c++20)
    string(FIND "${our_pc}" "${flag}" ours)
    string(FIND "${conan_pc}" "${flag}" theirs)
    if(NOT ours EQUAL -1 AND theirs EQUAL -1)
      message(FATAL_ERROR "arenakit.pc from Conan lacks ${flag}, which ours has:\n${conan_pc}")
    endif()
  endforeach()
endfunction()

machine_has(has)
project_version(version)

if(MODE STREQUAL "port_none")
  vcpkg_install("${port_dir}" "" prefix)
  check_layout("${prefix}" "dmabuf" share/arenakit/copyright)
  if(EXISTS "${prefix}/share/doc")
    message(FATAL_ERROR "the port installs share/doc: vcpkg's license is share/arenakit/copyright")
  endif()
  build_test_package("${prefix}" "")
  expect_older_minor_refused("${prefix}")
elseif(MODE STREQUAL "port_all")
  vcpkg_install("${port_dir}" "ibverbs;liburing" prefix)
  check_layout("${prefix}" "uring;ibverbs;dmabuf" share/arenakit/copyright)
  build_test_package("${prefix}" "uring;ibverbs")
  # The per-component .pc files resolve from the (relocatable) package.
  set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
  run(pkg-config --cflags --libs arenakit-uring)
  if(NOT run_output MATCHES "-luring" OR NOT run_output MATCHES "-I${prefix}/share/pkgconfig/../../include")
    message(FATAL_ERROR "pkg-config arenakit-uring gave: ${run_output}")
  endif()
  unset(ENV{PKG_CONFIG_PATH})
  # The package has arenakit::uring but the consumer's machine has no
  # liburing: asking for it is refused naming the module; the core works.
  file(MAKE_DIRECTORY "${WORK_DIR}/no-pc")
  set(ENV{PKG_CONFIG_LIBDIR} "${WORK_DIR}/no-pc")
  expect_component_refused("${prefix}" URING "component uring needs the pkg-config module liburing")
  build_test_package("${prefix}" "")
  unset(ENV{PKG_CONFIG_LIBDIR})
elseif(MODE STREQUAL "port_missing_component")
  vcpkg_install("${port_dir}" "" prefix)
  expect_component_refused("${prefix}" URING "component uring is not in this package")
  expect_component_refused("${prefix}" IBVERBS "component ibverbs is not in this package")
  # pkg-config names the missing component's module too.
  set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
  execute_process(COMMAND pkg-config --print-errors --exists arenakit-uring RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  unset(ENV{PKG_CONFIG_PATH})
  if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES "arenakit-uring")
    message(FATAL_ERROR "pkg-config arenakit-uring was not refused by name by a package without it: ${out}${err}")
  endif()
elseif(MODE STREQUAL "vcpkg_pkgconfig_lint")
  # Our plain install, wherever it comes from, passes vcpkg's pkgconfig rule.
  run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" -DCMAKE_CXX_COMPILER=${CXX}
      -DARENAKIT_BUILD_TESTS=OFF -DARENAKIT_BUILD_BENCHMARKS=OFF -DARENAKIT_BUILD_EXAMPLES=OFF
      -DARENAKIT_INSTALL=ON -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install "${WORK_DIR}/build")
  check_layout("${WORK_DIR}/prefix" "${has}" share/doc/arenakit/LICENSE)
  message(STATUS "install with [${has}]: layout, license and pkgconfig placement as vcpkg wants")
elseif(MODE STREQUAL "vcpkg_manifest")
  run(${PYTHON} -m json.tool "${port_dir}/vcpkg.json")
  file(READ "${port_dir}/vcpkg.json" manifest)
  string(JSON name GET "${manifest}" name)
  string(JSON port_version GET "${manifest}" version)
  string(JSON license GET "${manifest}" license)
  if(NOT name STREQUAL "arenakit" OR NOT port_version STREQUAL version OR NOT license STREQUAL "MIT")
    message(FATAL_ERROR "vcpkg.json: name ${name}, version ${port_version}, license ${license}; "
                        "expected arenakit, ${version} (CMakeLists.txt), MIT")
  endif()
  string(JSON ndeps LENGTH "${manifest}" dependencies)
  set(host_deps "")
  math(EXPR last "${ndeps} - 1")
  foreach(i RANGE ${last})
    string(JSON dep GET "${manifest}" dependencies ${i})
    string(JSON dep_name ERROR_VARIABLE e GET "${dep}" name)
    string(JSON dep_host ERROR_VARIABLE e GET "${dep}" host)
    if(dep_host)
      list(APPEND host_deps ${dep_name})
    endif()
  endforeach()
  foreach(h vcpkg-cmake vcpkg-cmake-config)
    if(NOT h IN_LIST host_deps)
      message(FATAL_ERROR "vcpkg.json lacks the host dependency ${h}")
    endif()
  endforeach()
  foreach(pair "ibverbs=rdma-core" "liburing=liburing")
    string(REPLACE "=" ";" pair "${pair}")
    list(GET pair 0 feature)
    list(GET pair 1 dep)
    string(JSON fdeps ERROR_VARIABLE e GET "${manifest}" features ${feature} dependencies)
    if(e OR NOT fdeps MATCHES "\"${dep}\"")
      message(FATAL_ERROR "vcpkg.json feature '${feature}' must depend on ${dep}")
    endif()
  endforeach()
  string(JSON nfeatures LENGTH "${manifest}" features)
  if(NOT nfeatures EQUAL 2)
    message(FATAL_ERROR "vcpkg.json has ${nfeatures} features, expected ibverbs and liburing")
  endif()
  # The overlay port installs its own checkout; the download is the
  # registry port's, written by scripts/release.py.
  file(READ "${port_dir}/portfile.cmake" portfile)
  if(NOT portfile MATCHES "# BEGIN SOURCE\n.*# END SOURCE\n")
    message(FATAL_ERROR "portfile.cmake has no '# BEGIN SOURCE' ... '# END SOURCE' block for scripts/release.py")
  endif()
  if(portfile MATCHES "\n[ \t]*(vcpkg_from_github|vcpkg_from_git|vcpkg_download_distfile)[ \t]*\\(|\n[ \t]*SHA512[ \t]")
    message(FATAL_ERROR "the overlay port downloads a release: it must install the checkout it sits in")
  endif()
  foreach(call vcpkg_check_features vcpkg_cmake_configure vcpkg_cmake_install
               "vcpkg_cmake_config_fixup(CONFIG_PATH share/arenakit)" vcpkg_fixup_pkgconfig
               vcpkg_install_copyright)
    string(FIND "${portfile}" "${call}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "portfile.cmake does not call ${call}")
    endif()
  endforeach()
  message(STATUS "vcpkg.json: arenakit ${port_version}, MIT, features ibverbs + liburing; overlay port of the checkout")
elseif(MODE STREQUAL "release_script")
  # scripts/release.py on a local archive: the registry port downloads the
  # tag with the archive's real SHA512 and installs; conandata.yml has its
  # sha256. Nothing in the checkout changes (--no-tree).
  make_archive(archive)
  file(SHA512 "${archive}" sha512)
  file(SHA256 "${archive}" sha256)
  run(${PYTHON} "${SOURCE_DIR}/scripts/release.py" ${version} --archive "${archive}"
      --url "file://${archive}" --out "${WORK_DIR}/out" --no-tree)
  set(registry_port "${WORK_DIR}/out/vcpkg/ports/arenakit")
  file(READ "${registry_port}/portfile.cmake" portfile)
  if(NOT portfile MATCHES "vcpkg_from_github\\([^)]*REF \"v\\\${VERSION}\"[^)]*SHA512 ${sha512}")
    message(FATAL_ERROR "the registry port does not fetch tag v\${VERSION} with SHA512 ${sha512}:\n${portfile}")
  endif()
  if(portfile MATCHES "BEGIN SOURCE|CMAKE_CURRENT_LIST_DIR}/\\.\\.")
    message(FATAL_ERROR "the registry port still installs from a checkout")
  endif()
  vcpkg_install("${registry_port}" "" prefix "${archive}")
  check_layout("${prefix}" "dmabuf" share/arenakit/copyright)
  file(READ "${WORK_DIR}/out/conan/recipes/arenakit/all/conandata.yml" conandata)
  if(NOT conandata MATCHES "\"${version}\":\n +url: \"file://${archive}\"\n +sha256: \"${sha256}\"")
    message(FATAL_ERROR "conandata.yml written by the release script:\n${conandata}")
  endif()
  file(READ "${WORK_DIR}/out/conan/recipes/arenakit/config.yml" config)
  if(NOT config MATCHES "\"${version}\":\n +folder: all")
    message(FATAL_ERROR "config.yml written by the release script:\n${config}")
  endif()
  message(STATUS "release script: registry port and ConanCenter tree for ${version}, sha512 ${sha512}")
elseif(MODE STREQUAL "conan_rules")
  conan_imitation(rules "${cci_recipe}" "${SOURCE_DIR}/CMakeLists.txt" "${SOURCE_DIR}/CHANGELOG.md")
  run(${PYTHON} -m py_compile "${checkout_recipe}" "${cci_recipe}" "${test_package}/conanfile.py")
elseif(MODE STREQUAL "conan_outside")
  # The recipes tree copied out of the repository, its conandata.yml
  # pointing at a local archive: source() downloads and checks it, build()
  # does nothing, package() copies; the test package builds against what
  # CMakeDeps would generate, with and without the optional components.
  make_archive(archive)
  run(${PYTHON} "${SOURCE_DIR}/scripts/release.py" ${version} --archive "${archive}"
      --url "file://${archive}" --out "${WORK_DIR}/out" --no-tree)
  # Outside the repository for real: a temporary folder, not the build tree.
  execute_process(COMMAND mktemp -d OUTPUT_VARIABLE outside OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT IS_DIRECTORY "${outside}")
    set(outside "${WORK_DIR}/outside")
  endif()
  set(copy "${outside}/recipes/arenakit")
  file(COPY "${WORK_DIR}/out/conan/recipes/arenakit" DESTINATION "${outside}/recipes")
  file(REMOVE_RECURSE "${WORK_DIR}/out")
  conan_imitation(create "${copy}/all/conanfile.py" "${WORK_DIR}/c" "${SOURCE_DIR}" --version ${version})
  build_test_package("${WORK_DIR}/c/generators" "")
  expect_older_minor_refused("${WORK_DIR}/c/generators")
  run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/ours" -DCMAKE_CXX_COMPILER=${CXX}
      -DARENAKIT_BUILD_TESTS=OFF -DARENAKIT_BUILD_BENCHMARKS=OFF -DARENAKIT_BUILD_EXAMPLES=OFF
      -DARENAKIT_INSTALL=ON -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/ours-prefix)
  run(${CMAKE_COMMAND} --install "${WORK_DIR}/ours")
  compare_pc("${WORK_DIR}/c/generators" "${WORK_DIR}/ours-prefix")
  if("uring" IN_LIST has AND "ibverbs" IN_LIST has)
    # Requirements as Conan packages, then as the system's ([platform_requires]).
    conan_imitation(create "${copy}/all/conanfile.py" "${WORK_DIR}/c" "${SOURCE_DIR}" --version ${version}
                    --options with_liburing=True,with_ibverbs=True)
    build_test_package("${WORK_DIR}/c/generators" "uring;ibverbs")
    conan_imitation(create "${copy}/all/conanfile.py" "${WORK_DIR}/c" "${SOURCE_DIR}" --version ${version}
                    --options with_liburing=True,with_ibverbs=True --platform liburing,rdma-core)
    build_test_package("${WORK_DIR}/c/generators" "uring;ibverbs")
  endif()
  file(REMOVE_RECURSE "${outside}")
elseif(MODE STREQUAL "conan_checkout")
  # `conan create packaging/conan`: the checkout recipe exports this tree.
  conan_imitation(create "${checkout_recipe}" "${WORK_DIR}/c" "${SOURCE_DIR}" --checkout)
  if(NOT run_output MATCHES "arenakit/${version},")
    message(FATAL_ERROR "the checkout recipe's version is not ${version}: ${run_output}")
  endif()
  build_test_package("${WORK_DIR}/c/generators" "")
  # A default `conan profile detect` profile (gnu17) is refused with Conan's
  # message; the README's -s compiler.cppstd=20 is what makes it pass.
  execute_process(COMMAND ${PYTHON} "${here}/conan_imitation.py" create "${checkout_recipe}" "${WORK_DIR}/c17"
                  "${SOURCE_DIR}" --checkout --cppstd gnu17 RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
  if(rc EQUAL 0 OR NOT err MATCHES "lower than the required C\\+\\+ standard \\(20\\)")
    message(FATAL_ERROR "a gnu17 profile was not refused as Conan refuses it: ${err}")
  endif()
elseif(MODE STREQUAL "readme_commands")
  include("${here}/readme_commands.cmake")
elseif(MODE STREQUAL "cmake_auto")
  # A plain configure builds each optional target whose dependency is here
  # and prints one summary line per target; ON fails without it; OFF skips.
  set(common -DCMAKE_CXX_COMPILER=${CXX} -DARENAKIT_BUILD_TESTS=OFF -DARENAKIT_BUILD_BENCHMARKS=OFF
             -DARENAKIT_BUILD_EXAMPLES=OFF)
  run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/auto" ${common})
  set(auto_out "${run_output}")
  foreach(group uring ibverbs dmabuf)
    string(REGEX MATCHALL "arenakit: arenakit::${group} +(ON|OFF) [^\n]*" line "${auto_out}")
    list(LENGTH line n)
    if(NOT n EQUAL 1)
      message(FATAL_ERROR "configure printed ${n} summary lines for arenakit::${group}:\n${auto_out}")
    endif()
    if(group IN_LIST has AND NOT line MATCHES " ON ")
      message(FATAL_ERROR "this machine has what arenakit::${group} needs, but the default configure says: ${line}")
    endif()
    message(STATUS "${line}")
  endforeach()
  file(MAKE_DIRECTORY "${WORK_DIR}/no-pc")
  set(ENV{PKG_CONFIG_LIBDIR} "${WORK_DIR}/no-pc")
  run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/auto-none" ${common})
  foreach(pair uring=liburing-dev ibverbs=libibverbs-dev)
    string(REPLACE "=" ";" pair "${pair}")
    list(GET pair 0 group)
    list(GET pair 1 deb)
    if(NOT run_output MATCHES "arenakit::${group} +OFF +\\(ARENAKIT_WITH_[A-Z]+=AUTO: [^\n]*${deb}")
      message(FATAL_ERROR "AUTO without the library: no OFF line naming ${deb}:\n${run_output}")
    endif()
  endforeach()
  execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/on-missing" ${common}
                  -DARENAKIT_WITH_URING=ON RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0 OR NOT err MATCHES "ARENAKIT_WITH_URING=ON[^\n]*\n?[^\n]*liburing")
    message(FATAL_ERROR "ARENAKIT_WITH_URING=ON without liburing was not refused naming it:\n${err}")
  endif()
  unset(ENV{PKG_CONFIG_LIBDIR})
  run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/off" ${common} -DARENAKIT_WITH_URING=OFF
      -DARENAKIT_WITH_IBVERBS=OFF -DARENAKIT_WITH_DMABUF=OFF)
  if(NOT run_output MATCHES "arenakit::uring +OFF +\\(ARENAKIT_WITH_URING=OFF\\)")
    message(FATAL_ERROR "ARENAKIT_WITH_URING=OFF: no OFF summary line:\n${run_output}")
  endif()
  message(STATUS "AUTO builds what is here, ON refuses what is missing, OFF skips")
elseif(MODE STREQUAL "gitignore")
  # What `conan create packaging/conan` (and the recipes tree) leave behind.
  find_program(GIT git REQUIRED)
  foreach(path packaging/conan/test_package/build/gcc-12-x86_64-20-release/Makefile
               packaging/conan/test_package/__pycache__/conanfile.cpython-311.pyc
               packaging/conan/recipes/arenakit/all/test_package/build/gcc-12-x86_64-20-release/Makefile
               packaging/conan/recipes/arenakit/all/test_package/CMakeUserPresets.json
               packaging/conan/build/Release/generators/conan_toolchain.cmake
               packaging/conan/__pycache__/conanfile.cpython-311.pyc
               packaging/conan/recipes/arenakit/all/__pycache__/conanfile.cpython-311.pyc
               tests/packaging/__pycache__/conan_imitation.cpython-311.pyc
               CMakeUserPresets.json)
    execute_process(COMMAND ${GIT} -C "${SOURCE_DIR}" check-ignore -q --no-index "${path}" RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR ".gitignore does not cover ${path}, which Conan leaves behind")
    endif()
  endforeach()
  foreach(path packaging/conan/conanfile.py packaging/conan/test_package/conanfile.py
               packaging/conan/recipes/arenakit/all/conandata.yml
               packaging/conan/recipes/arenakit/all/test_package/CMakeLists.txt)
    execute_process(COMMAND ${GIT} -C "${SOURCE_DIR}" check-ignore -q --no-index "${path}" RESULT_VARIABLE rc)
    if(rc EQUAL 0)
      message(FATAL_ERROR ".gitignore ignores ${path}, a file of the recipe")
    endif()
  endforeach()
  message(STATUS ".gitignore covers Conan's leftovers and none of the recipe's files")
elseif(MODE STREQUAL "changelog")
  file(READ "${SOURCE_DIR}/CHANGELOG.md" changelog)
  string(REPLACE "." "\\." version_re "${version}")
  if(NOT changelog MATCHES "\n## \\[${version_re}\\]")
    message(FATAL_ERROR "CHANGELOG.md has no '## [${version}]' entry for the version in CMakeLists.txt")
  endif()
  file(READ "${SOURCE_DIR}/LICENSE" license)
  if(NOT license MATCHES "^MIT License")
    message(FATAL_ERROR "LICENSE is not the MIT license every header's SPDX line names")
  endif()
  message(STATUS "CHANGELOG.md has an entry for ${version}; LICENSE is MIT")
else()
  message(FATAL_ERROR "unknown MODE ${MODE}")
endif()
