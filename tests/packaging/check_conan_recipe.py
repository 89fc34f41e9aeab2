"""Check the Conan recipe without Conan (it cannot be installed here).

usage: check_conan_recipe.py <conanfile.py> <cmake version> <arenakitTargets.cmake>

Loads the recipe against minimal stand-ins for the parts of the Conan 2 API it
uses, then checks what a real `conan create` would rely on:
- set_version() finds the version of the top CMakeLists.txt;
- package_type is "header-library", the options are with_ibverbs and
  with_liburing (default False), package_id() clears the binary model;
- package_info(), for each option combination, names the CMake package
  "arenakit" and gives each component the very target name our own install
  exports (arenakit::arenakit, ::uring, ::ibverbs, ::dmabuf), with no lib or
  bin directories, and requires the matching ConanCenter library.
Exits non-zero with a message on the first mismatch.
"""
import importlib.util
import os
import re
import sys
import types


def fail(msg):
    print(f"check_conan_recipe: {msg}", file=sys.stderr)
    sys.exit(1)


class _Props:
    def __init__(self):
        self.properties = {}
        self.bindirs = ["bin"]
        self.libdirs = ["lib"]
        self.requires = []
        self.system_libs = []

    def set_property(self, key, value):
        self.properties[key] = value


class _CppInfo(_Props):
    def __init__(self):
        super().__init__()
        self.components = _Components()


class _Components(dict):
    def __missing__(self, key):
        value = _Props()
        self[key] = value
        return value


class _Options(types.SimpleNamespace):
    def get_safe(self, name, default=None):
        return getattr(self, name, default)


class _Settings(types.SimpleNamespace):
    def get_safe(self, name, default=None):
        return getattr(self, name, default)


class _Info:
    def __init__(self):
        self.cleared = False

    def clear(self):
        self.cleared = True


class ConanFile:  # the stand-in base class
    def __init__(self):
        self.version = None
        self.cpp_info = _CppInfo()
        self.info = _Info()


def _install_stubs():
    def load(_self, path):
        with open(path, encoding="utf-8") as f:
            return f.read()

    def noop(*_args, **_kwargs):
        return None

    modules = {
        "conan": {"ConanFile": ConanFile},
        "conan.errors": {"ConanInvalidConfiguration": type("ConanInvalidConfiguration", (Exception,), {})},
        "conan.tools": {},
        "conan.tools.build": {"check_min_cppstd": noop, "can_run": lambda _s: True},
        "conan.tools.cmake": {name: noop for name in ("CMake", "CMakeDeps", "CMakeToolchain", "cmake_layout")},
        "conan.tools.files": {"copy": noop, "load": load, "rmdir": noop},
        "conan.tools.gnu": {"PkgConfigDeps": noop},
        "conan.tools.scm": {"Version": str},
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module


def main():
    if len(sys.argv) != 4:
        fail(__doc__)
    recipe_path, cmake_version, targets_path = sys.argv[1:]
    _install_stubs()
    spec = importlib.util.spec_from_file_location("arenakit_recipe", recipe_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    recipe_classes = [c for c in vars(module).values()
                      if isinstance(c, type) and issubclass(c, ConanFile) and c is not ConanFile]
    if len(recipe_classes) != 1:
        fail(f"expected one ConanFile subclass, found {len(recipe_classes)}")
    cls = recipe_classes[0]

    if getattr(cls, "name", None) != "arenakit":
        fail(f"name is {getattr(cls, 'name', None)!r}, not 'arenakit'")
    if getattr(cls, "package_type", None) != "header-library":
        fail(f"package_type is {getattr(cls, 'package_type', None)!r}, not 'header-library'")
    if getattr(cls, "license", None) != "MIT":
        fail(f"license is {getattr(cls, 'license', None)!r}, not 'MIT'")
    if getattr(cls, "version", None):
        fail("the recipe hard-codes a version: it must come from CMakeLists.txt through set_version()")
    if set(cls.options) != {"with_ibverbs", "with_liburing"}:
        fail(f"options are {sorted(cls.options)}, expected with_ibverbs and with_liburing")
    if any(cls.default_options[o] is not False for o in cls.options):
        fail(f"default options must all be False: {cls.default_options}")

    # set_version(): the one version.
    recipe = cls()
    recipe.recipe_folder = os.path.dirname(os.path.abspath(recipe_path))
    recipe.set_version()
    if recipe.version != cmake_version:
        fail(f"set_version() gave {recipe.version!r}, CMakeLists.txt says {cmake_version!r}")

    recipe.package_id()
    if not recipe.info.cleared:
        fail("package_id() does not clear the binary model (self.info.clear())")

    # Our install's exported targets.
    with open(targets_path, encoding="utf-8") as f:
        exported = set(re.findall(r"add_library\((arenakit::\w+) INTERFACE IMPORTED\)", f.read()))
    if "arenakit::arenakit" not in exported:
        fail(f"{targets_path} does not export arenakit::arenakit")

    expected_requires = {"uring": "liburing::liburing", "ibverbs": "rdma-core::libibverbs"}
    for with_ibverbs in (False, True):
        for with_liburing in (False, True):
            r = cls()
            r.options = _Options(with_ibverbs=with_ibverbs, with_liburing=with_liburing)
            r.settings = _Settings(os="Linux")
            r.package_info()
            label = f"with_ibverbs={with_ibverbs} with_liburing={with_liburing}"
            props = r.cpp_info.properties
            if props.get("cmake_file_name") != "arenakit":
                fail(f"{label}: cmake_file_name is {props.get('cmake_file_name')!r}, not 'arenakit'")
            if r.cpp_info.bindirs or r.cpp_info.libdirs:
                fail(f"{label}: a header-library must have empty bindirs and libdirs")
            names = {}
            for comp_name, comp in r.cpp_info.components.items():
                target = comp.properties.get("cmake_target_name")
                if target is None:
                    fail(f"{label}: component {comp_name} has no cmake_target_name")
                if comp.bindirs or comp.libdirs:
                    fail(f"{label}: component {comp_name} has bindirs/libdirs")
                names[target] = comp
            if props.get("cmake_target_name") in names:
                fail(f"{label}: the aggregate target {props.get('cmake_target_name')} is also a component's name")
            want = {"arenakit::arenakit", "arenakit::dmabuf"}
            if with_liburing:
                want.add("arenakit::uring")
            if with_ibverbs:
                want.add("arenakit::ibverbs")
            if set(names) != want:
                fail(f"{label}: component targets {sorted(names)}, expected {sorted(want)}")
            missing = want - exported
            if missing:
                fail(f"{label}: our install does not export {sorted(missing)}, which the recipe names")
            if names["arenakit::arenakit"].properties.get("pkg_config_name") != "arenakit":
                fail(f"{label}: the core's pkg_config_name must be 'arenakit' like our arenakit.pc")
            if names["arenakit::arenakit"].requires:
                fail(f"{label}: the core requires {names['arenakit::arenakit'].requires}; it must stay free")
            for group, dep in expected_requires.items():
                target = f"arenakit::{group}"
                if target in names and dep not in names[target].requires:
                    fail(f"{label}: {target} does not require {dep}")
    print(f"conan recipe: version {recipe.version}, header-library, targets match the install: "
          f"{', '.join(sorted(exported))}")


if __name__ == "__main__":
    main()
