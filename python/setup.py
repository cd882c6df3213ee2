"""Builds biofeed._biofeed against the library of a biofeed build directory.

The extension links the static library (BUILD/lib/libbiofeed.a) so that the
installed module does not depend on the build tree, plus the libraries that
`make` recorded beside it in BUILD/lib/biofeed-link.txt (HDF5, htslib, ...,
OpenMP, MPI, and the static CUDA runtime and NCCL when the library has them).

BUILD is $BIOFEED_BUILD when set (relative paths are taken from the
repository root), else the repository's build/. Build the library first:
`make` (or `make BUILD=...`) at the repository root.
"""
import os
import re
import shlex
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


def link_libs(link_txt):
    """The libraries a static consumer of libbiofeed.a links, as `make` wrote them."""
    with open(link_txt) as f:
        return shlex.split(f.read())


def version():
    with open(os.path.join(REPO, "include", "biofeed", "biofeed.h")) as f:
        return re.search(r'#define BFD_VERSION_STRING "([^"]+)"', f.read()).group(1)


BUILD = build_dir()
LIB_A = os.path.join(BUILD, "lib", "libbiofeed.a")
LINK_TXT = os.path.join(BUILD, "lib", "biofeed-link.txt")
for path in (LIB_A, LINK_TXT):
    if not os.path.exists(path):
        need_make(path)

link = link_libs(LINK_TXT)
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
