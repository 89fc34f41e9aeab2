import os

from conan import ConanFile
from conan.tools.build import can_run
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout


class TestPackageConan(ConanFile):
    settings = "os", "arch", "compiler", "build_type"
    generators = "CMakeDeps", "VirtualRunEnv"
    test_type = "explicit"

    def requirements(self):
        self.requires(self.tested_reference_str)

    def layout(self):
        cmake_layout(self)

    def generate(self):
        # Check each component the tested package was built with; the ones it
        # was built without must be refused by find_package (CMakeLists.txt).
        arenakit = self.dependencies[self.tested_reference_str]
        tc = CMakeToolchain(self)
        tc.cache_variables["ARENAKIT_TEST_URING"] = bool(arenakit.options.with_liburing)
        tc.cache_variables["ARENAKIT_TEST_IBVERBS"] = bool(arenakit.options.with_ibverbs)
        tc.generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def test(self):
        if can_run(self):
            bin_path = os.path.join(self.cpp.build.bindir, "test_package")
            self.run(bin_path, env="conanrun")
