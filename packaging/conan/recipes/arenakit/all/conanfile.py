import os
import textwrap

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, get, save
from conan.tools.layout import basic_layout
from conan.tools.scm import Version

required_conan_version = ">=2.1"


class ArenakitConan(ConanFile):
    name = "arenakit"
    description = ("Header-only C++20 memory arenas for networking and storage hot paths: "
                   "RDMA receive pools, release lists, page pools, devmem-style token tracking.")
    license = "MIT"
    url = "https://github.com/conan-io/conan-center-index"
    homepage = "https://github.com/arenakit/arenakit"
    topics = ("memory-arena", "rdma", "io-uring", "dma-buf", "allocator", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    # Each option adds one optional target (and its library); the package's
    # files are the same for every option, which only choose components.
    options = {
        "with_ibverbs": [True, False],
        "with_liburing": [True, False],
    }
    default_options = {
        "with_ibverbs": False,
        "with_liburing": False,
    }
    no_copy_source = True

    # The optional components, each with the option that adds it and the
    # requirement its target links.
    # A requirement resolved by the profile's [platform_requires] is the
    # system's own library, linked by name.
    _optional = {
        "uring": ("with_liburing", "liburing::liburing", "uring"),
        "ibverbs": ("with_ibverbs", "rdma-core::libibverbs", "ibverbs"),
    }

    @property
    def _min_cppstd(self):
        return 20

    @property
    def _compilers_minimum_version(self):
        # Concepts and designated initialisers everywhere; upstream CI builds
        # with these two, warnings as errors.
        return {"gcc": "12", "clang": "14"}

    def layout(self):
        basic_layout(self, src_folder="src")

    def requirements(self):
        # The mappers' headers include <liburing.h> / <infiniband/verbs.h> and
        # call the libraries: consumers need both the headers and the libs.
        # A system liburing or rdma-core can stand in through the profile's
        # [platform_requires] or [replace_requires].
        if self.options.with_ibverbs:
            self.requires("rdma-core/48.0", transitive_headers=True, transitive_libs=True)
        if self.options.with_liburing:
            self.requires("liburing/2.8", transitive_headers=True, transitive_libs=True)

    def package_id(self):
        self.info.clear()

    def validate(self):
        if self.settings.os != "Linux":
            raise ConanInvalidConfiguration(f"{self.ref} needs Linux (mmap, mbind, io_uring, dma-buf)")
        check_min_cppstd(self, self._min_cppstd)
        minimum = self._compilers_minimum_version.get(str(self.settings.compiler))
        if minimum and Version(self.settings.compiler.version) < minimum:
            raise ConanInvalidConfiguration(
                f"{self.ref} needs C++{self._min_cppstd} concepts: {self.settings.compiler} >= {minimum}")

    def source(self):
        get(self, **self.conan_data["sources"][self.version], strip_root=True)

    def build(self):
        pass

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        # Every header, whatever the options (package_id() ignores them).
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"),
             os.path.join(self.package_folder, "include"))
        self._write_cmake_module(os.path.join(self.package_folder, self._cmake_module))

    @property
    def _cmake_module(self):
        return os.path.join("lib", "cmake", f"conan-official-{self.name}-targets.cmake")

    def _write_cmake_module(self, path):
        # Included by the arenakitConfig.cmake that CMakeDeps generates, after
        # the targets are made, so that they behave like those of arenakit's
        # own install:
        # - arenakit::arenakit is both the core component and the package's
        #   root target, to which CMakeDeps links every component: give it
        #   back the core's own link interface, so linking the core never
        #   pulls in liburing or libibverbs;
        # - C++20 is a compile feature of the target (the -std=c++20 that
        #   cpp_info.cxxflags puts in arenakit.pc for pkg-config users is
        #   taken off again, so a C++23 consumer is not set back);
        # - a component asked for with find_package(arenakit COMPONENTS ...)
        #   that this package was built without makes find_package fail, and
        #   the message names it and the option that adds it.
        options = " ".join(f"{c}={o}" for c, (o, _, _) in self._optional.items())
        content = textwrap.dedent(f"""\
            # arenakit {self.version}: see package() of its Conan recipe.
            if(TARGET arenakit::arenakit)
              get_target_property(_arenakit_links arenakit::arenakit INTERFACE_LINK_LIBRARIES)
              if(_arenakit_links)
                list(REMOVE_ITEM _arenakit_links arenakit::arenakit arenakit::uring arenakit::ibverbs arenakit::dmabuf)
                set_property(TARGET arenakit::arenakit PROPERTY INTERFACE_LINK_LIBRARIES "${{_arenakit_links}}")
              endif()
              get_target_property(_arenakit_opts arenakit::arenakit INTERFACE_COMPILE_OPTIONS)
              if(_arenakit_opts)
                string(REPLACE "-std=c++20" "" _arenakit_opts "${{_arenakit_opts}}")
                set_property(TARGET arenakit::arenakit PROPERTY INTERFACE_COMPILE_OPTIONS "${{_arenakit_opts}}")
              endif()
              set_property(TARGET arenakit::arenakit APPEND PROPERTY INTERFACE_COMPILE_FEATURES cxx_std_20)
            endif()
            set(_arenakit_built "")
            foreach(_arenakit_comp uring ibverbs dmabuf)
              if(TARGET arenakit::${{_arenakit_comp}})
                list(APPEND _arenakit_built ${{_arenakit_comp}})
              endif()
            endforeach()
            set(_arenakit_missing "")
            foreach(_arenakit_comp IN LISTS arenakit_FIND_COMPONENTS)
              if(_arenakit_comp IN_LIST _arenakit_built)
                set(arenakit_${{_arenakit_comp}}_FOUND TRUE)
              else()
                set(arenakit_${{_arenakit_comp}}_FOUND FALSE)
                if(arenakit_FIND_REQUIRED_${{_arenakit_comp}})
                  list(APPEND _arenakit_missing ${{_arenakit_comp}})
                endif()
              endif()
            endforeach()
            if(_arenakit_missing)
              set(_arenakit_report "")
              foreach(_arenakit_comp IN LISTS _arenakit_missing)
                set(_arenakit_how "")
                foreach(_arenakit_pair {options})
                  if(_arenakit_pair MATCHES "^${{_arenakit_comp}}=(.*)$")
                    set(_arenakit_how "; add it with -o \\"arenakit/*:${{CMAKE_MATCH_1}}=True\\"")
                  endif()
                endforeach()
                if(_arenakit_built)
                  string(REPLACE ";" ", " _arenakit_list "${{_arenakit_built}}")
                else()
                  set(_arenakit_list "none")
                endif()
                string(APPEND _arenakit_report
                       "\\n  component ${{_arenakit_comp}} is not in this package (built with: ${{_arenakit_list}})${{_arenakit_how}}")
              endforeach()
              set(arenakit_NOT_FOUND_MESSAGE "arenakit {self.version} (Conan package):${{_arenakit_report}}")
              set(arenakit_FOUND FALSE)
            endif()
            unset(_arenakit_links)
            unset(_arenakit_opts)
            unset(_arenakit_built)
            unset(_arenakit_missing)
            unset(_arenakit_comp)
            unset(_arenakit_pair)
            unset(_arenakit_how)
            unset(_arenakit_list)
            unset(_arenakit_report)
            """)
        save(self, path, content)

    def _is_package(self, name):
        # dependencies.host leaves out what [platform_requires] resolved.
        try:
            self.dependencies.host[name]
        except KeyError:
            return False
        return True

    def package_info(self):
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        # The CMake package and targets of arenakit's own install:
        # find_package(arenakit [COMPONENTS uring ibverbs dmabuf]) and
        # arenakit::arenakit (the core) plus one target per component. The
        # root target is the core's own name, not an extra aggregate; the
        # module above keeps the core free of the components.
        self.cpp_info.set_property("cmake_file_name", "arenakit")
        self.cpp_info.set_property("cmake_target_name", "arenakit::arenakit")
        self.cpp_info.set_property("pkg_config_name", "arenakit")
        self.cpp_info.set_property("cmake_build_modules", [self._cmake_module])
        # While the major version is 0 a minor release may break the API.
        if Version(self.version).major == 0:
            self.cpp_info.set_property("cmake_config_version_compat", "SameMinorVersion")

        core = self.cpp_info.components["core"]
        core.set_property("cmake_target_name", "arenakit::arenakit")
        core.set_property("pkg_config_name", "arenakit")
        core.bindirs = []
        core.libdirs = []
        # For pkg-config users, as in arenakit's own arenakit.pc.
        core.cxxflags = ["-std=c++20"]
        if self.settings.os in ["Linux", "FreeBSD"]:
            core.system_libs = ["pthread"]

        # The kernel's UAPI header <linux/dma-buf.h>: no library.
        dmabuf = self.cpp_info.components["dmabuf"]
        dmabuf.set_property("cmake_target_name", "arenakit::dmabuf")
        dmabuf.set_property("pkg_config_name", "arenakit-dmabuf")
        dmabuf.bindirs = []
        dmabuf.libdirs = []
        dmabuf.requires = ["core"]

        for comp, (option, requirement, system_lib) in self._optional.items():
            if not self.options.get_safe(option):
                continue
            component = self.cpp_info.components[comp]
            component.set_property("cmake_target_name", f"arenakit::{comp}")
            component.set_property("pkg_config_name", f"arenakit-{comp}")
            component.bindirs = []
            component.libdirs = []
            component.requires = ["core"]
            if self._is_package(requirement.split("::")[0]):
                component.requires.append(requirement)
            else:
                # [platform_requires] in the profile: Conan hands over no
                # package, the system's library and headers are used.
                component.system_libs = [system_lib]
