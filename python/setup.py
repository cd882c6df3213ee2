"""Builds biofeed._biofeed against the library of a biofeed build directory.

The extension links the static library (BUILD/lib/libbiofeed.a) so that the
installed module does not depend on the build tree, plus the libraries the
build recorded in BUILD/config.mk (PKG_LIBS), OpenMP, and the static CUDA
runtime when the library holds CUDA kernels.

BUILD is $BIOFEED_BUILD when set (relative paths are taken from the
repository root), else the repository's build/. Build the library first:
`make` (or `make BUILD=...`) at the repository root.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def build_dir():
    d = os.environ.get("BIOFEED_BUILD", "build")
    return d if os.path.isabs(d) else os.path.join(REPO, d)


def need_make(what):
    sys.exit(f"biofeed: {what} not found. Build the library first: run `make` at {REPO} "
             f"(or set BIOFEED_BUILD to the build directory you use with `make BUILD=...`).")


def pkg_libs(config_mk):
    with open(config_mk) as f:
        for line in f:
            m = re.match(r"\s*PKG_LIBS\s*:?=(.*)", line)
            if m:
                return shlex.split(m.group(1))
    sys.exit(f"biofeed: no PKG_LIBS line in {config_mk}; remove it and run `make` again")


def has_cuda_objects(archive):
    """Whether the library was built with nvcc (its members include *.cu.o)."""
    ar = shutil.which("ar") or shutil.which("gcc-ar")
    if not ar:
        sys.exit("biofeed: `ar` (binutils) is needed to inspect libbiofeed.a")
    names = subprocess.run([ar, "t", archive], check=True, capture_output=True, text=True).stdout.split()
    return any(n.endswith(".cu.o") for n in names)


def cuda_libs():
    home = os.environ.get("CUDA_HOME")
    if not home:
        nvcc = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
        home = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
    lib64 = os.path.join(home, "lib64")
    if not os.path.exists(os.path.join(lib64, "libcudart_static.a")):
        sys.exit(f"biofeed: the library has CUDA kernels but {lib64}/libcudart_static.a is missing; "
                 f"set CUDA_HOME to the CUDA toolkit the library was built with")
    return [f"-L{lib64}", "-lcudart_static", "-ldl", "-lrt", "-lstdc++"]


def version():
    with open(os.path.join(REPO, "include", "biofeed", "biofeed.h")) as f:
        return re.search(r'#define BFD_VERSION_STRING "([^"]+)"', f.read()).group(1)


BUILD = build_dir()
LIB_A = os.path.join(BUILD, "lib", "libbiofeed.a")
CONFIG_MK = os.path.join(BUILD, "config.mk")
for path in (LIB_A, CONFIG_MK):
    if not os.path.exists(path):
        need_make(path)

link = pkg_libs(CONFIG_MK) + ["-fopenmp"] + (cuda_libs() if has_cuda_objects(LIB_A) else [])
# Intermediate files go to the build directory, not into the source tree.
STAGE = os.path.join(BUILD, "python")
os.makedirs(STAGE, exist_ok=True)

setup(
    version=version(),
    packages=["biofeed"],
    ext_modules=[
        Extension(
            "biofeed._biofeed",
            sources=["biofeed/_biofeed.c"],
            include_dirs=[os.path.join(REPO, "include")],
            extra_objects=[LIB_A],
            extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-Wshadow", "-Wno-unused-parameter"],
            extra_link_args=link,
            depends=[LIB_A, os.path.join(REPO, "include", "biofeed", "loader.h")],
        )
    ],
    options={"build": {"build_base": os.path.join(STAGE, "build")}, "egg_info": {"egg_base": STAGE}},
)
