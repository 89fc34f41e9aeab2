"""The test package of `conan create packaging/conan`: the ConanCenter tree's
own (recipes/arenakit/all/test_package), so both recipes pass the same checks."""
import importlib.util
import os

from conan.tools.cmake import cmake_layout

_SHARED = os.path.join("..", "recipes", "arenakit", "all", "test_package")


def _load_shared():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), _SHARED, "conanfile.py")
    spec = importlib.util.spec_from_file_location("arenakit_test_package", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_shared = _load_shared()


class TestPackageFromCheckoutConan(_shared.TestPackageConan):
    def layout(self):
        # Sources (CMakeLists.txt, test_package.cpp) from the shared folder,
        # build files here.
        cmake_layout(self, src_folder=_SHARED)
