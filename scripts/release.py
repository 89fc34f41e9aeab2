#!/usr/bin/env python3
"""Write the registry-ready vcpkg port and ConanCenter recipe for a tag.

usage: scripts/release.py VERSION [--archive FILE] [--url URL] [--out DIR] [--no-tree]

Run it once tag vVERSION is pushed. It hashes the very archive that both
registries download, https://github.com/arenakit/arenakit/archive/vVERSION.tar.gz
(or FILE, when given, e.g. one downloaded by hand), and writes:

  DIR/vcpkg/ports/arenakit/   the overlay port of packaging/vcpkg with its
                              checkout block replaced by vcpkg_from_github()
                              of REF vVERSION and the archive's SHA512: copy
                              it to microsoft/vcpkg's ports/arenakit, then
                              `vcpkg x-add-version arenakit`
  DIR/conan/recipes/arenakit/ the ConanCenter recipe tree, its conandata.yml
                              holding URL (or --url) and the archive's sha256:
                              copy it to conan-center-index's recipes/arenakit

and, unless --no-tree, records the same conandata.yml / config.yml entry in
this checkout's packaging/conan/recipes/arenakit, to be committed.
DIR defaults to build/release-VERSION. Nothing else is changed.
Checks first that VERSION is the one in CMakeLists.txt, that CHANGELOG.md has
an entry for it and, when the archive is downloaded, that the tag exists here.
The packaging_release_script test runs it on a local archive.
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = "arenakit/arenakit"
PORT_DIR = os.path.join(ROOT, "packaging", "vcpkg", "ports", "arenakit")
RECIPES_DIR = os.path.join(ROOT, "packaging", "conan", "recipes", "arenakit")
# What conan create / conan install leave in a recipe tree: never released.
LEFTOVERS = shutil.ignore_patterns("build", "CMakeUserPresets.json", "__pycache__", "*.pyc")


def fail(message):
    print(f"release: {message}", file=sys.stderr)
    sys.exit(1)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def check_version(version):
    match = re.search(r"project\s*\(\s*arenakit\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+)",
                      read(os.path.join(ROOT, "CMakeLists.txt")))
    if not match or match.group(1) != version:
        fail(f"CMakeLists.txt has version {match.group(1) if match else '(none)'}, not {version}")
    if not re.search(rf"\n## \[{re.escape(version)}\]", read(os.path.join(ROOT, "CHANGELOG.md"))):
        fail(f"CHANGELOG.md has no '## [{version}]' entry")


def registry_portfile(version, sha512):
    portfile = read(os.path.join(PORT_DIR, "portfile.cmake"))
    block = re.compile(r"# BEGIN SOURCE\n.*?# END SOURCE\n", re.S)
    if not block.search(portfile):
        fail("packaging/vcpkg/ports/arenakit/portfile.cmake has no '# BEGIN SOURCE' ... '# END SOURCE' block")
    source = (
        "vcpkg_from_github(\n"
        "    OUT_SOURCE_PATH SOURCE_PATH\n"
        f"    REPO {REPO}\n"
        "    REF \"v${VERSION}\"\n"
        f"    SHA512 {sha512}\n"
        "    HEAD_REF main\n"
        ")\n")
    return block.sub(lambda _m: source, portfile)


def conandata(existing, version, url, sha256):
    """conandata.yml with the entry for version set (newest first), others kept."""
    entries = dict(re.findall(r'\n  "([^"]+)":\n((?:    [^\n]*\n)+)', existing))
    entries[version] = f'    url: "{url}"\n    sha256: "{sha256}"\n'
    header = existing.split("sources:", 1)[0] if "sources:" in existing else ""
    body = "".join(f'  "{v}":\n{entries[v]}' for v in sorted(entries, key=_version_key, reverse=True))
    return f"{header}sources:\n{body}"


def config_yml(existing, version):
    versions = set(re.findall(r'\n  "([^"]+)":', existing)) | {version}
    return "versions:\n" + "".join(f'  "{v}":\n    folder: all\n'
                                   for v in sorted(versions, key=_version_key, reverse=True))


def _version_key(version):
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("version")
    parser.add_argument("--archive", help="hash this file instead of downloading the tag's archive")
    parser.add_argument("--url", help="URL written to conandata.yml (default: the tag's GitHub archive)")
    parser.add_argument("--out", help="output folder (default: build/release-VERSION)")
    parser.add_argument("--no-tree", action="store_true",
                        help="do not record the conandata.yml entry in this checkout")
    args = parser.parse_args()
    version = args.version.removeprefix("v")
    check_version(version)
    github_url = f"https://github.com/{REPO}/archive/v{version}.tar.gz"
    out = os.path.abspath(args.out or os.path.join(ROOT, "build", f"release-{version}"))

    if args.archive:
        data = open(args.archive, "rb").read()
    else:
        tag = subprocess.run(["git", "-C", ROOT, "rev-parse", "-q", "--verify", f"refs/tags/v{version}"],
                             capture_output=True, check=False)
        if tag.returncode != 0:
            fail(f"no tag v{version} here: tag and push it first")
        with urllib.request.urlopen(github_url) as response:
            data = response.read()
    sha512 = hashlib.sha512(data).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()

    port_out = os.path.join(out, "vcpkg", "ports", "arenakit")
    shutil.rmtree(port_out, ignore_errors=True)
    shutil.copytree(PORT_DIR, port_out, ignore=LEFTOVERS)
    write(os.path.join(port_out, "portfile.cmake"), registry_portfile(version, sha512))

    recipe_out = os.path.join(out, "conan", "recipes", "arenakit")
    shutil.rmtree(recipe_out, ignore_errors=True)
    shutil.copytree(RECIPES_DIR, recipe_out, ignore=LEFTOVERS)
    data_yml = conandata(read(os.path.join(RECIPES_DIR, "all", "conandata.yml")), version,
                         args.url or github_url, sha256)
    cfg_yml = config_yml(read(os.path.join(RECIPES_DIR, "config.yml")), version)
    write(os.path.join(recipe_out, "all", "conandata.yml"), data_yml)
    write(os.path.join(recipe_out, "config.yml"), cfg_yml)
    if not args.no_tree:
        write(os.path.join(RECIPES_DIR, "all", "conandata.yml"), data_yml)
        write(os.path.join(RECIPES_DIR, "config.yml"), cfg_yml)

    print(f"arenakit {version}: archive sha512 {sha512}")
    print(f"  vcpkg registry port:   {port_out}")
    print(f"  ConanCenter recipe:    {recipe_out}")
    if not args.no_tree:
        print("  recorded in packaging/conan/recipes/arenakit (conandata.yml, config.yml): commit them")


if __name__ == "__main__":
    main()
