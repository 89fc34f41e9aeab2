import os
import re

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load, rmdir
from conan.tools.gnu import PkgConfigDeps
from conan.tools.scm import Version

required_conan_version = ">=2.0"

# The recipe lives in packaging/conan/ of the arenakit repository; the
# sources it packages are the repository's top directory.
_REPO_ROOT = os.path.join("..", "..")


class ArenakitConan(ConanFile):
    name = "arenakit"
    description = ("Header-only C++20 memory arenas for networking and storage hot paths: "
                   "RDMA receive pools, release lists, page pools, devmem-style token tracking.")
    license = "MIT"
    url = "https://github.com/arenakit/arenakit"
    homepage = "https://github.com/arenakit/arenakit"
    topics = ("memory-arena", "rdma", "io-uring", "dma-buf", "allocator", "header-only")
    package_type = "header-library"
    # Settings are needed only to run our CMake install (it checks for
    # <linux/dma-buf.h> with the compiler); package_id() drops them.
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "with_ibverbs": [True, False],
        "with_liburing": [True, False],
    }
    default_options = {
        "with_ibverbs": False,
        "with_liburing": False,
    }
    no_copy_source = True

    @property
    def _min_cppstd(self):
        return "20"

    @property
    def _compilers_minimum_version(self):
        # The compilers CI builds with, warnings as errors.
        return {"gcc": "12", "clang": "14"}

    def set_version(self):
        # One place for the version: project(arenakit VERSION x.y.z) in the
        # top CMakeLists.txt. set_version() runs where the recipe is exported
        # from (the repository), so the file is reachable from here.
        if self.version:
            return
        cmakelists = load(self, os.path.join(self.recipe_folder, _REPO_ROOT, "CMakeLists.txt"))
        match = re.search(r"project\s*\(\s*arenakit\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+)", cmakelists)
        if not match:
            raise ConanInvalidConfiguration("no project(arenakit VERSION x.y.z) in CMakeLists.txt")
        self.version = match.group(1)

    def export_sources(self):
        # Only what `cmake --install` needs: the build files and the headers.
        root = os.path.join(self.recipe_folder, _REPO_ROOT)
        copy(self, "CMakeLists.txt", root, self.export_sources_folder)
        copy(self, "LICENSE", root, self.export_sources_folder)
        copy(self, "cmake/*", root, self.export_sources_folder)
        copy(self, "include/*", root, self.export_sources_folder)

    def layout(self):
        cmake_layout(self, src_folder=".")

    def requirements(self):
        # Our headers include <infiniband/verbs.h> / <liburing.h> and their
        # functions are called from them: consumers need both the headers
        # and the libraries.
        if self.options.with_ibverbs:
            self.requires("rdma-core/[>=44]", transitive_headers=True, transitive_libs=True)
        if self.options.with_liburing:
            self.requires("liburing/[>=2.3 <3]", transitive_headers=True, transitive_libs=True)

    def build_requirements(self):
        # Our CMake finds liburing / libibverbs with pkg-config.
        if (self.options.with_ibverbs or self.options.with_liburing) and \
                not self.conf.get("tools.gnu:pkg_config", check_type=str):
            self.tool_requires("pkgconf/[>=2.1 <3]")

    def package_id(self):
        # The package's files are the same for every option (our install
        # puts every header in; the options choose components and
        # requirements in package_info()), so one package serves all.
        self.info.clear()

    def validate(self):
        if self.settings.os != "Linux":
            raise ConanInvalidConfiguration(f"{self.ref} needs Linux (mmap, mbind, io_uring, dma-buf)")
        # Concepts everywhere: C++20 (set compiler.cppstd=20 in the profile).
        check_min_cppstd(self, self._min_cppstd)
        minimum = self._compilers_minimum_version.get(str(self.settings.compiler))
        if minimum and Version(self.settings.compiler.version) < minimum:
            raise ConanInvalidConfiguration(
                f"{self.ref} needs C++{self._min_cppstd} with concepts: "
                f"{self.settings.compiler} >= {minimum}")

    def generate(self):
        tc = CMakeToolchain(self)
        tc.cache_variables["ARENAKIT_WITH_IBVERBS"] = bool(self.options.with_ibverbs)
        tc.cache_variables["ARENAKIT_WITH_URING"] = bool(self.options.with_liburing)
        # The kernel UAPI header only: always on, as in the vcpkg port.
        tc.cache_variables["ARENAKIT_WITH_DMABUF"] = True
        tc.cache_variables["ARENAKIT_INSTALL"] = True
        tc.cache_variables["ARENAKIT_BUILD_TESTS"] = False
        tc.cache_variables["ARENAKIT_BUILD_BENCHMARKS"] = False
        tc.cache_variables["ARENAKIT_BUILD_EXAMPLES"] = False
        tc.cache_variables["ARENAKIT_BUILD_FUZZERS"] = False
        tc.generate()
        # .pc files for liburing / libibverbs from their Conan packages; the
        # toolchain puts this generators folder on PKG_CONFIG_PATH.
        PkgConfigDeps(self).generate()

    def build(self):
        # Nothing to compile; configure so that package() can install.
        cmake = CMake(self)
        cmake.configure()

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        cmake = CMake(self)
        cmake.install()
        # Conan consumers get config and .pc files generated from
        # package_info() (CMakeDeps / PkgConfigDeps), with the same names.
        rmdir(self, os.path.join(self.package_folder, "share"))

    def package_info(self):
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        # Same CMake package as our own install: find_package(arenakit).
        self.cpp_info.set_property("cmake_file_name", "arenakit")
        # The aggregate of every component. Not arenakit::arenakit: that name
        # is the dependency-free core, as in our own install, and a component
        # may not share the aggregate's name (CMakeDeps would link the core
        # to the mappers).
        self.cpp_info.set_property("cmake_target_name", "arenakit::all")
        self.cpp_info.set_property("pkg_config_name", "arenakit-all")

        core = self.cpp_info.components["core"]
        core.set_property("cmake_target_name", "arenakit::arenakit")
        core.set_property("pkg_config_name", "arenakit")
        core.bindirs = []
        core.libdirs = []
        if self.settings.os == "Linux":
            core.system_libs = ["pthread"]

        # The kernel's UAPI header (<linux/dma-buf.h>): no library.
        dmabuf = self.cpp_info.components["dmabuf"]
        dmabuf.set_property("cmake_target_name", "arenakit::dmabuf")
        dmabuf.set_property("pkg_config_name", "arenakit-dmabuf")
        dmabuf.bindirs = []
        dmabuf.libdirs = []
        dmabuf.requires = ["core"]

        if self.options.with_liburing:
            uring = self.cpp_info.components["uring"]
            uring.set_property("cmake_target_name", "arenakit::uring")
            uring.set_property("pkg_config_name", "arenakit-uring")
            uring.bindirs = []
            uring.libdirs = []
            uring.requires = ["core", "liburing::liburing"]

        if self.options.with_ibverbs:
            ibverbs = self.cpp_info.components["ibverbs"]
            ibverbs.set_property("cmake_target_name", "arenakit::ibverbs")
            ibverbs.set_property("pkg_config_name", "arenakit-ibverbs")
            ibverbs.bindirs = []
            ibverbs.libdirs = []
            ibverbs.requires = ["core", "rdma-core::libibverbs"]
