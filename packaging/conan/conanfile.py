"""arenakit from a checkout: `conan create packaging/conan -s compiler.cppstd=20`.

The ConanCenter-style recipe in recipes/arenakit/all/ fetches a released
archive (conandata.yml). This one packages the checkout it sits in instead,
for people building an unreleased version from source, and is otherwise that
very recipe: same options, requirements, package layout and package_info().
"""
import importlib.util
import os
import re

from conan.errors import ConanException
from conan.tools.files import copy, load
from conan.tools.layout import basic_layout

required_conan_version = ">=2.1"

_CCI_RECIPE = "recipes/arenakit/all/conanfile.py"


def _load_cci_recipe():
    # Next to this file both in the checkout and in Conan's export folder
    # (it is exported with this recipe).
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), *_CCI_RECIPE.split("/"))
    spec = importlib.util.spec_from_file_location("arenakit_cci_recipe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_cci = _load_cci_recipe()


class ArenakitFromCheckoutConan(_cci.ArenakitConan):
    exports = _CCI_RECIPE

    @property
    def _checkout(self):
        # packaging/conan/ -> the top of the checkout.
        return os.path.normpath(os.path.join(self.recipe_folder, "..", ".."))

    def set_version(self):
        # The one place of the version: project(arenakit VERSION x.y.z).
        if self.version:
            return
        cmakelists = os.path.join(self._checkout, "CMakeLists.txt")
        if not os.path.isfile(cmakelists):
            raise ConanException(
                f"{cmakelists} not found: this recipe packages the arenakit checkout it sits in "
                "(packaging/conan/). Outside a checkout use recipes/arenakit/all with --version.")
        match = re.search(r"project\s*\(\s*arenakit\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+)", load(self, cmakelists))
        if not match:
            raise ConanException(f"no project(arenakit VERSION x.y.z) in {cmakelists}")
        self.version = match.group(1)

    def export_sources(self):
        # What the package is made of: the headers and the license.
        copy(self, "LICENSE", self._checkout, self.export_sources_folder)
        copy(self, "*.hpp", os.path.join(self._checkout, "include"),
             os.path.join(self.export_sources_folder, "include"))

    def layout(self):
        # The exported sources are the source folder itself.
        basic_layout(self, src_folder=".")

    def source(self):
        pass
