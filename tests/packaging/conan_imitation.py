"""Run arenakit's Conan recipes the way `conan create` would, without Conan.

Conan cannot be installed on our CI machines (Debian packages only), so this
loads a recipe against stand-ins for the parts of the Conan 2 API it uses, and
runs its methods in Conan's order in scratch folders: set_version /
export_sources (checkout recipe) or source() from conandata.yml (ConanCenter
recipe: a real download of its URL, a file:// archive here, checked against
its sha256), then build(), package() and package_info(). It then writes what
Conan's CMakeDeps and PkgConfigDeps generators would make of package_info()
(same file names, same targets, the root target linking every component, the
build modules included after the targets, components not checked, cxxflags as
compile options, the cmake_config_version_compat property) for the test
package to build against.

usage:
  conan_imitation.py rules <conanfile.py> <CMakeLists.txt> <CHANGELOG.md>
  conan_imitation.py create <conanfile.py> <work dir> <source dir> [--version V] [--checkout]
      [--options with_liburing=True,...] [--platform liburing,rdma-core]
      writes <work dir>/package and <work dir>/generators (arenakit-config.cmake,
      *.pc) and prints the components it made
Exits non-zero with a message on the first thing a real Conan (or
ConanCenter's review) would reject.
"""
import argparse
import ast
import fnmatch
import hashlib
import importlib.util
import io
import os
import re
import shutil
import sys
import tarfile
import types
import urllib.request


def fail(msg):
    print(f"conan_imitation: {msg}", file=sys.stderr)
    sys.exit(1)


# ----------------------------------------------------------------- stand-ins
class ConanInvalidConfiguration(Exception):
    pass


class ConanException(Exception):
    pass


class _CMakeUsed(Exception):
    pass


class _Props:
    def __init__(self):
        self.properties = {}
        self.includedirs = ["include"]
        self.bindirs = ["bin"]
        self.libdirs = ["lib"]
        self.libs = []
        self.requires = []
        self.system_libs = []
        self.cxxflags = []
        self.cflags = []
        self.defines = []

    def set_property(self, key, value):
        self.properties[key] = value

    def get_property(self, key):
        return self.properties.get(key)


class _Components(dict):
    def __missing__(self, key):
        value = _Props()
        self[key] = value
        return value


class _CppInfo(_Props):
    def __init__(self):
        super().__init__()
        self.components = _Components()


class _Values(types.SimpleNamespace):
    def get_safe(self, name, default=None):
        return getattr(self, name, default)

    def rm_safe(self, name):
        if hasattr(self, name):
            delattr(self, name)


class _Info:
    def __init__(self):
        self.cleared = False

    def clear(self):
        self.cleared = True


class _Folders:
    def __init__(self):
        self.source = ""
        self.build = ""


class _Dependencies:
    """self.dependencies: .host[name] raises KeyError for what is not a package."""

    def __init__(self, names):
        self.host = {name: types.SimpleNamespace(ref=name) for name in names}


class ConanFile:
    def __init__(self):
        self.version = None
        self.cpp_info = _CppInfo()
        self.info = _Info()
        self.folders = _Folders()
        self.conan_data = None
        self.dependencies = _Dependencies([])
        self.requires_calls = []
        self.tool_requires_calls = []
        self.output = types.SimpleNamespace(info=print, warning=print)

    def requires(self, ref, **kwargs):
        self.requires_calls.append((ref, kwargs))

    def tool_requires(self, ref, **kwargs):
        self.tool_requires_calls.append(ref)

    @property
    def ref(self):
        return f"{self.name}/{self.version}"


def _check_min_cppstd(conanfile, cppstd):
    current = str(conanfile.settings.compiler.cppstd)
    if int(re.sub(r"\D", "", current)) < int(cppstd):
        raise ConanInvalidConfiguration(
            f"Current cppstd ({current}) is lower than the required C++ standard ({cppstd}).")


def _copy(conanfile, pattern, src, dst, keep_path=True, excludes=None):
    copied = []
    if not os.path.isdir(src):
        return copied
    for root, _dirs, files in os.walk(src):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), src)
            if fnmatch.fnmatch(rel, pattern):
                target = os.path.join(dst, rel if keep_path else name)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(os.path.join(root, name), target)
                copied.append(target)
    return copied


def _get(conanfile, url, sha256=None, strip_root=False, destination=None, **_kwargs):
    # A real download, checked like Conan checks it; file:// only here (CI
    # has no network: the test writes a local archive's URL).
    if not url.startswith("file:"):
        raise ConanException(f"{url}: this imitation downloads only file:// URLs")
    with urllib.request.urlopen(url) as response:
        data = response.read()
    actual = hashlib.sha256(data).hexdigest()
    if sha256 != actual:
        raise ConanException(f"sha256 signature failed for '{url}': expected {sha256}, got {actual}")
    destination = destination or conanfile.source_folder
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        if strip_root:
            roots = {m.name.split("/", 1)[0] for m in members}
            if len(roots) != 1:
                raise ConanException(f"strip_root: the archive has {len(roots)} top folders")
            for m in members:
                m.name = m.name.split("/", 1)[1] if "/" in m.name else ""
            members = [m for m in members if m.name]
        tar.extractall(destination, members=members)


def _save(conanfile, path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(content)


def _load(conanfile, path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _basic_layout(conanfile, src_folder="."):
    conanfile.folders.source = src_folder
    conanfile.folders.build = "build"


class _Version:
    def __init__(self, value):
        self._parts = [int(p) if p.isdigit() else p for p in str(value).split(".")]

    @property
    def major(self):
        return self._parts[0]

    def __lt__(self, other):
        return self._parts < _Version(other)._parts


def _cmake_stub(*_args, **_kwargs):
    raise _CMakeUsed()


def install_stubs():
    modules = {
        "conan": {"ConanFile": ConanFile},
        "conan.errors": {"ConanInvalidConfiguration": ConanInvalidConfiguration,
                         "ConanException": ConanException},
        "conan.tools": {},
        "conan.tools.build": {"check_min_cppstd": _check_min_cppstd, "can_run": lambda _s: True},
        "conan.tools.cmake": {n: _cmake_stub for n in ("CMake", "CMakeDeps", "CMakeToolchain", "cmake_layout")},
        "conan.tools.files": {"copy": _copy, "get": _get, "save": _save, "load": _load,
                              "rmdir": lambda _s, p: shutil.rmtree(p, ignore_errors=True)},
        "conan.tools.gnu": {"PkgConfigDeps": _cmake_stub},
        "conan.tools.layout": {"basic_layout": _basic_layout},
        "conan.tools.scm": {"Version": _Version},
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module


def load_recipe(path):
    install_stubs()
    spec = importlib.util.spec_from_file_location("conanfile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Conan's rule: the one ConanFile subclass defined in this very module.
    classes = [c for n, c in vars(module).items()
               if not n.startswith("_") and isinstance(c, type) and issubclass(c, ConanFile)
               and c is not ConanFile and c.__module__ == module.__name__]
    if len(classes) != 1:
        fail(f"{path}: expected one ConanFile subclass, found {len(classes)}")
    return classes[0]


def parse_conandata(path):
    # The subset of YAML that conandata.yml uses: sources: "v": url/sha256.
    text = _load(None, path)
    sources = {}
    for version, body in re.findall(r'\n  "([^"]+)":\n((?:    [^\n]*\n)+)', text):
        entry = dict(re.findall(r'    (\w+): "([^"]*)"', body))
        sources[version] = entry
    return {"sources": sources}


def parse_options(text):
    options = {"with_ibverbs": False, "with_liburing": False}
    for item in filter(None, (text or "").split(",")):
        key, value = item.split("=")
        options[key] = value == "True"
    return options


# --------------------------------------------------------------------- rules
def cmd_rules(args):
    """What ConanCenter's review and `conan create` outside the repository need."""
    recipe_dir = os.path.dirname(os.path.abspath(args.recipe))
    source = _load(None, args.recipe)
    tree = ast.parse(source)
    cls_node = next((n for n in tree.body if isinstance(n, ast.ClassDef)), None)
    if cls_node is None:
        fail("no recipe class")
    methods = {n.name: n for n in cls_node.body if isinstance(n, ast.FunctionDef)}

    # Works outside the repository: nothing is read from above the recipe.
    if re.search(r"""["']\.\.["']|\.\./""", source):
        fail(f"{args.recipe} reads files above its own folder (../): a copy in a recipes tree cannot")
    if "export_sources" in methods or "exports_sources" in source:
        fail(f"{args.recipe} exports sources: a ConanCenter recipe gets them in source() from conandata.yml")
    if "source" not in methods or "conan_data" not in ast.get_source_segment(source, methods["source"]):
        fail(f"{args.recipe} has no source() that fetches conandata.yml's archive")
    if "set_version" in methods:
        fail(f"{args.recipe} has set_version(): a recipes tree passes the version (config.yml, --version)")

    # build() of a header-only package does nothing: no CMake, no pkgconf.
    build = methods.get("build")
    if build is None:
        fail(f"{args.recipe} has no build() (Conan warns; ConanCenter wants `pass`)")
    if not all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
               for s in build.body):
        fail(f"build() of a header-only package must do nothing, it has: {ast.get_source_segment(source, build)}")
    if re.search(r"conan\.tools\.cmake|CMakeToolchain|tool_requires|build_requirements", source):
        fail(f"{args.recipe} uses CMake or tool_requires: a header-only package needs neither")

    # Requirements as ConanCenter accepts them: exact versions, no ranges.
    cls = load_recipe(args.recipe)
    for combo in ({"with_ibverbs": True, "with_liburing": True},):
        recipe = cls()
        recipe.options = _Values(**combo)
        recipe.settings = _Values(os="Linux")
        recipe.requirements()
        for ref, _kw in recipe.requires_calls:
            if not re.fullmatch(r"[a-z0-9_.+-]+/[0-9][0-9A-Za-z.+-]*", ref):
                fail(f"requirement {ref!r} is not an exact name/version (ConanCenter accepts no ranges for it)")
        names = sorted(ref.split("/")[0] for ref, _ in recipe.requires_calls)
        if names != ["liburing", "rdma-core"]:
            fail(f"with every option the requirements are {names}, expected liburing and rdma-core")

    if getattr(cls, "package_type", None) != "header-library":
        fail("package_type is not 'header-library'")
    if getattr(cls, "license", None) != "MIT":
        fail("license is not 'MIT'")
    if getattr(cls, "version", None):
        fail("the recipe hard-codes a version")
    if set(cls.options) != {"with_ibverbs", "with_liburing"} or any(cls.default_options[o] for o in cls.options):
        fail(f"options must be with_ibverbs and with_liburing, both False by default: {cls.default_options}")

    # The recipes tree: config.yml and conandata.yml for the current version.
    version = re.search(r"project\s*\(\s*arenakit\s+VERSION\s+([0-9.]+)", _load(None, args.cmakelists)).group(1)
    config = os.path.join(os.path.dirname(recipe_dir), "config.yml")
    if not os.path.isfile(config) or f'"{version}":' not in _load(None, config):
        fail(f"{config} does not list version {version} (recipes-tree layout: <name>/config.yml, <name>/all/)")
    conandata = os.path.join(recipe_dir, "conandata.yml")
    if not os.path.isfile(conandata):
        fail(f"no conandata.yml next to {args.recipe}")
    entry = parse_conandata(conandata)["sources"].get(version)
    if not entry:
        fail(f"conandata.yml has no sources entry for {version}")
    want_url = f"https://github.com/arenakit/arenakit/archive/v{version}.tar.gz"
    if entry.get("url") != want_url:
        fail(f"conandata.yml's url for {version} is {entry.get('url')!r}, expected {want_url!r}")
    released = not re.search(rf"\n## \[{re.escape(version)}\] - Unreleased", _load(None, args.changelog))
    if not re.fullmatch(r"[0-9a-f]{64}", entry.get("sha256", "")):
        if released:
            fail(f"{version} is released (CHANGELOG.md has its date) but conandata.yml has no sha256 for it: "
                 "run scripts/release.py")
        if not entry.get("sha256", "").startswith("unreleased"):
            fail(f"conandata.yml's sha256 for {version} is neither a sha256 nor marked unreleased")
    print(f"conan recipe rules: recipes tree for {version}, source() from conandata.yml, build() empty, "
          f"requirements {', '.join(r for r, _ in recipe.requires_calls)}")


# -------------------------------------------------------------------- create
def cmd_create(args):
    cls = load_recipe(args.recipe)
    work = os.path.abspath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    options = parse_options(args.options)
    platform = set(filter(None, (args.platform or "").split(",")))

    recipe = cls()
    recipe.recipe_folder = os.path.dirname(os.path.abspath(args.recipe))
    recipe.version = args.version
    if args.checkout:
        recipe.set_version()
        if not recipe.version:
            fail("set_version() gave no version")
        recipe.export_sources_folder = os.path.join(work, "export_source")
        recipe.export_sources()
    elif not recipe.version:
        fail("--version is needed for a recipes-tree recipe")
    conandata = os.path.join(recipe.recipe_folder, "conandata.yml")
    if os.path.isfile(conandata):
        recipe.conan_data = parse_conandata(conandata)

    # Conan's order and folders. A header-only package is built once.
    recipe.options = _Values(**options)
    recipe.settings = _Values(os="Linux", arch="x86_64", build_type="Release",
                              compiler=_Compiler("gcc", "12", args.cppstd))
    recipe.requirements()
    recipe.validate()
    recipe.layout()
    base_source = recipe.export_sources_folder if args.checkout else os.path.join(work, "source")
    recipe.source_folder = os.path.normpath(os.path.join(base_source, recipe.folders.source))
    recipe.build_folder = os.path.join(work, "build")
    recipe.package_folder = os.path.join(work, "package")
    os.makedirs(recipe.source_folder, exist_ok=True)
    os.makedirs(recipe.build_folder, exist_ok=True)
    try:
        recipe.source()
    except ConanException as e:
        fail(f"source(): {e}")
    try:
        recipe.build()
    except _CMakeUsed:
        fail("build() runs CMake: a header-only package has nothing to build, and a consumer would need "
             "CMake and pkgconf resolved for it")
    try:
        recipe.package()
    except _CMakeUsed:
        fail("package() runs CMake: copy the headers and license instead")
    recipe.package_id()
    if not recipe.info.cleared:
        fail("package_id() does not clear the binary model")
    check_package(recipe.package_folder, args.source)

    # package_info() with the requirements as Conan packages, or as the
    # system's ([platform_requires]).
    info = cls()
    info.version = recipe.version
    info.options = _Values(**options)
    info.settings = recipe.settings
    info.package_folder = recipe.package_folder
    deps = [ref.split("/")[0] for ref, _ in recipe.requires_calls]
    info.dependencies = _Dependencies([d for d in deps if d not in platform])
    info.package_info()
    generators = os.path.join(work, "generators")
    components = write_cmakedeps(info, generators, platform)
    write_pkgconfigdeps(info, generators)
    print(f"conan create imitation: arenakit/{recipe.version}, components {' '.join(components)}")


class _Compiler:
    def __init__(self, name, version, cppstd):
        self._name, self.version, self.cppstd = name, version, cppstd

    def __str__(self):
        return self._name


def check_package(package, source_dir):
    headers = set()
    for root, _dirs, files in os.walk(os.path.join(source_dir, "include")):
        for name in files:
            if name.endswith(".hpp"):
                headers.add(os.path.relpath(os.path.join(root, name), source_dir))
    packaged = set()
    for root, _dirs, files in os.walk(package):
        for name in files:
            packaged.add(os.path.relpath(os.path.join(root, name), package))
    missing = headers - packaged
    if missing:
        fail(f"the package lacks headers: {sorted(missing)}")
    if "licenses/LICENSE" not in packaged:
        fail("the package has no licenses/LICENSE")
    binaries = [p for p in packaged if re.search(r"\.(a|so(\.[0-9.]+)?|o)$", p)]
    if binaries:
        fail(f"binaries in a header-only package: {binaries}")
    stray = [p for p in packaged if not (p.startswith("include/arenakit/") or p.startswith("licenses/")
                                         or re.fullmatch(r"lib/cmake/[^/]+\.cmake", p))]
    if stray:
        fail(f"unexpected files in the package: {sorted(stray)}")
    if any(re.search(r"(Config|-config)\.cmake$|/Find[^/]*\.cmake$", p) for p in packaged):
        fail("the package ships a CMake config or find module: CMakeDeps generates those")


def _target_of(info, comp_name):
    return info.cpp_info.components[comp_name].get_property("cmake_target_name") or f"arenakit::{comp_name}"


def write_cmakedeps(info, out, platform):
    """What CMakeDeps would generate, reduced to what a consumer sees."""
    cpp = info.cpp_info
    file_name = cpp.get_property("cmake_file_name") or "arenakit"
    root_target = cpp.get_property("cmake_target_name") or "arenakit::arenakit"
    pkg = info.package_folder
    lines = ["# CMakeDeps imitation (tests/packaging/conan_imitation.py)"]
    dep_targets = {"liburing::liburing": "uring", "rdma-core::libibverbs": "ibverbs"}
    names = []
    comps = list(cpp.components.items())
    # Dependencies: the targets their own CMakeDeps files would define.
    for comp_name, comp in comps:
        for req in comp.requires:
            if "::" in req:
                dep = req.split("::")[0]
                if dep in platform:
                    fail(f"component {comp_name} requires {req}, but {dep} is a [platform_requires]: "
                         "CMakeDeps fails ('is not a direct dependency')")
                lines.append(f"if(NOT TARGET {req})\n  add_library({req} INTERFACE IMPORTED)\n"
                             f"  set_property(TARGET {req} PROPERTY INTERFACE_LINK_LIBRARIES {dep_targets[req]})\n"
                             "endif()")
    for comp_name, comp in comps:
        target = _target_of(info, comp_name)
        names.append(target)
        if comp.bindirs or comp.libdirs:
            fail(f"component {comp_name} has bindirs/libdirs in a header-library")
        links = []
        for req in comp.requires:
            links.append(req if "::" in req else _target_of(info, req))
        links += comp.system_libs
        includes = " ".join(os.path.join(pkg, d) for d in comp.includedirs)
        opts = " ".join(f"$<$<COMPILE_LANGUAGE:CXX>:{f}>" for f in comp.cxxflags)
        lines.append(f"if(NOT TARGET {target})\n  add_library({target} INTERFACE IMPORTED)\nendif()")
        lines.append(f"set_property(TARGET {target} APPEND PROPERTY INTERFACE_INCLUDE_DIRECTORIES {includes})")
        if links:
            lines.append(f"set_property(TARGET {target} APPEND PROPERTY INTERFACE_LINK_LIBRARIES {' '.join(links)})")
        if opts:
            lines.append(f"set_property(TARGET {target} APPEND PROPERTY INTERFACE_COMPILE_OPTIONS {opts})")
    # Our own install has no aggregate target: the root target must be one
    # of the components' (CMakeDeps always makes it).
    if root_target not in names:
        fail(f"the root target {root_target} is an aggregate that arenakit's own install does not have "
             f"(targets: {', '.join(names)})")
    # The root target: made only if no component took its name, and linked
    # to every component either way.
    lines.append(f"if(NOT TARGET {root_target})\n  add_library({root_target} INTERFACE IMPORTED)\nendif()")
    for target in names:
        lines.append(f"set_property(TARGET {root_target} APPEND PROPERTY INTERFACE_LINK_LIBRARIES {target})")
    for module in cpp.get_property("cmake_build_modules") or []:
        path = os.path.join(pkg, module)
        if not os.path.isfile(path):
            fail(f"build module {module} is not in the package")
        lines.append(f'include("{path}")')
    os.makedirs(out, exist_ok=True)
    _save(None, os.path.join(out, f"{file_name}-config.cmake"), "\n".join(lines) + "\n")
    compat = cpp.get_property("cmake_config_version_compat") or "SameMajorVersion"
    if compat not in ("SameMajorVersion", "SameMinorVersion"):
        fail(f"cmake_config_version_compat {compat!r} is not imitated here")
    parts = 2 if compat == "SameMinorVersion" else 1
    _save(None, os.path.join(out, f"{file_name}-config-version.cmake"), f"""\
set(PACKAGE_VERSION "{info.version}")
string(REPLACE "." ";" _have "${{PACKAGE_VERSION}}")
string(REPLACE "." ";" _want "${{PACKAGE_FIND_VERSION}}")
list(SUBLIST _have 0 {parts} _have)
list(SUBLIST _want 0 {parts} _want)
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION OR NOT _have STREQUAL _want)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
""")
    return [n.split("::")[1] for n in names]


def write_pkgconfigdeps(info, out):
    """The .pc files PkgConfigDeps would write (one per component)."""
    pkg = info.package_folder
    for comp_name, comp in info.cpp_info.components.items():
        name = comp.get_property("pkg_config_name") or f"arenakit-{comp_name}"
        cflags = [f'-I"${{includedir}}"'] + comp.cxxflags + comp.cflags
        libs = [f"-l{lib}" for lib in comp.libs + comp.system_libs]
        requires = []
        for req in comp.requires:
            if "::" in req:
                requires.append({"liburing::liburing": "liburing", "rdma-core::libibverbs": "libibverbs"}[req])
            else:
                requires.append(info.cpp_info.components[req].get_property("pkg_config_name") or f"arenakit-{req}")
        text = (f"prefix={pkg}\nincludedir=${{prefix}}/include\n\nName: {name}\nDescription: Conan component\n"
                f"Version: {info.version}\n" + (f"Libs: {' '.join(libs)}\n" if libs else "")
                + f"Cflags: {' '.join(cflags)}\n" + (f"Requires: {' '.join(requires)}\n" if requires else ""))
        _save(None, os.path.join(out, f"{name}.pc"), text)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    rules = sub.add_parser("rules")
    rules.add_argument("recipe")
    rules.add_argument("cmakelists")
    rules.add_argument("changelog")
    create = sub.add_parser("create")
    create.add_argument("recipe")
    create.add_argument("work")
    create.add_argument("source")
    create.add_argument("--version")
    create.add_argument("--checkout", action="store_true")
    create.add_argument("--options")
    create.add_argument("--platform")
    create.add_argument("--cppstd", default="20")
    args = parser.parse_args()
    try:
        if args.cmd == "rules":
            cmd_rules(args)
        else:
            cmd_create(args)
    except ConanInvalidConfiguration as e:
        fail(f"invalid configuration: {e}")


if __name__ == "__main__":
    main()
