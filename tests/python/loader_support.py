"""Shared by test_loader_python.py and test_run_cli.py: builds and installs
the biofeed Python module into the running interpreter's environment (the
venv pytest runs from, build/venv under `make test`), and packs the small
datasets the loader tests read.

The module is (re)installed with `pip install ./python` when it cannot be
imported or is older than libbiofeed.a or its sources; BIOFEED_BUILD points
setup.py at $BUILD (default build), the same build as the tested binary.
Datasets are packed once per process into a temporary folder, with the
`biofeed` binary the CLI tests use ($BIOFEED), from inputs written here
(random FASTA) or by scripts/demo_images.py (synthetic images).
"""
import atexit
import functools
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BUILD", "build"))
BUILD = BUILD if BUILD.is_absolute() else REPO / BUILD
LIB = BUILD / "lib" / "libbiofeed.a"
BIOFEED = os.environ.get("BIOFEED") or str(REPO / "build" / "tests" / "biofeed")
SOURCES = [REPO / "python" / "setup.py", *sorted((REPO / "python" / "biofeed").glob("*.[ch]")),
           *sorted((REPO / "python" / "biofeed").glob("*.py"))]


class ModuleUnavailable(Exception):
    pass


def _installed_module_file():
    p = subprocess.run([sys.executable, "-c", "import biofeed._biofeed as m; print(m.__file__)"],
                       capture_output=True, text=True, cwd=tempfile.gettempdir())
    return Path(p.stdout.strip()) if p.returncode == 0 else None


def _builds_offline():
    """Whether the venv's own setuptools can build a wheel (no PyPI needed)."""
    try:
        import setuptools
    except ImportError:
        return False
    try:
        import wheel  # noqa: F401
        return True
    except ImportError:
        return tuple(int(x) for x in setuptools.__version__.split(".")[:2]) >= (70, 1)


def _pip_install():
    env = dict(os.environ, BIOFEED_BUILD=str(BUILD))
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall"]
    if _builds_offline():
        cmd.append("--no-build-isolation")
    p = subprocess.run([*cmd, str(REPO / "python")], capture_output=True, text=True, env=env, timeout=600)
    if p.returncode != 0:
        raise ModuleUnavailable(f"`{' '.join(cmd)} ./python` failed (exit {p.returncode}):\n{p.stdout}\n{p.stderr}")


@functools.lru_cache(maxsize=None)
def biofeed_module():
    """The imported biofeed package, installed or rebuilt first if needed."""
    if not LIB.is_file():
        raise ModuleUnavailable(f"{LIB} not found: run `make` (BUILD={BUILD})")
    installed = _installed_module_file()
    newest = max(p.stat().st_mtime for p in [LIB, *SOURCES])
    if installed is None or installed.stat().st_mtime < newest:
        _pip_install()
    import importlib
    importlib.invalidate_caches()
    import biofeed
    return biofeed


# --------------------------------------------------------------------------
# datasets

_ROOT = Path(tempfile.mkdtemp(prefix="biofeed-loader-tests-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


def run_biofeed(*args, timeout=300, check=True):
    p = subprocess.run([BIOFEED, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                       errors="replace")
    if check and p.returncode != 0:
        raise AssertionError(f"biofeed {' '.join(map(str, args))}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def _fasta(path, records, width=60):
    with gzip.open(path, "wt") as f:
        for name, seq in records:
            f.write(f">{name}\n")
            for i in range(0, len(seq), width):
                f.write(seq[i:i + width] + "\n")


def _random_records(seed, n, lo, hi, alphabet, prefix):
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(alphabet.encode(), np.uint8)
    return [(f"{prefix}{i}", letters[rng.integers(0, len(letters), int(rng.integers(lo, hi)))].tobytes().decode())
            for i in range(n)]


def _demo_images(out, *args):
    p = subprocess.run([sys.executable, str(REPO / "scripts" / "demo_images.py"), "--out", str(out), *args],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError(f"scripts/demo_images.py failed:\n{p.stdout}\n{p.stderr}")


@functools.lru_cache(maxsize=None)
def dataset(kind):
    """A packed dataset directory: 'dna' (200 records of 60..300 bp), 'genome'
    (3 records of 200 kb), 'protein' (600 records of 40..500 residues),
    'microscopy' (24 synthetic 256x256 cell images with masks), 'volumes'
    (4 synthetic 64x96x96 volumes with labels)."""
    out = _ROOT / kind
    src = _ROOT / f"{kind}-src"
    src.mkdir()
    if kind == "dna":
        _fasta(src / "dna.fa.gz", _random_records(1, 200, 60, 300, "ACGT", "r"))
        run_biofeed("pack", "-q", "-o", out, "--alphabet", "dna", src / "dna.fa.gz")
    elif kind == "genome":
        _fasta(src / "genome.fa.gz", _random_records(2, 3, 200_000, 200_001, "ACGT", "chr"), width=80)
        run_biofeed("pack", "-q", "-o", out, "--alphabet", "dna", src / "genome.fa.gz")
    elif kind == "protein":
        _fasta(src / "prot.fa.gz", _random_records(3, 600, 40, 500, "ACDEFGHIKLMNPQRSTVWY", "p"))
        run_biofeed("pack", "-q", "-o", out, "--alphabet", "protein", src / "prot.fa.gz")
    elif kind == "microscopy":
        _demo_images(src, "--synthetic", "--count", "24", "--volumes", "0")
        d = src / "microscopy-src"
        run_biofeed("pack", "-q", "-o", out, "--labels", d / "masks", d / "images")
    elif kind == "volumes":
        _demo_images(src, "--count", "0", "--volumes", "4")
        d = src / "volumes-src"
        run_biofeed("pack", "-q", "-o", out, "--labels", d / "labels", d / "images")
    else:
        raise KeyError(kind)
    return out


# The demo datasets the configs in configs/ name (../build/demo/NAME), and
# the test dataset that stands in for each.
DEMO_STAND_INS = {"ecoli": "genome", "uniprot": "protein", "microscopy": "microscopy", "volumes": "volumes",
                  "reads": "dna"}


def config_for_tests(cfg, dest_dir):
    """A copy of configs/NAME.yaml in dest_dir with every `path:` that names
    build/demo/NAME pointing at its test stand-in and `device: cpu`. Returns
    (path, None), or (None, reason) when a dataset has no stand-in."""
    text = Path(cfg).read_text()

    def repl(m):
        name = m.group(3)
        if name not in DEMO_STAND_INS:
            raise KeyError(name)
        return f"{m.group(1)}{dataset(DEMO_STAND_INS[name])}"

    try:
        text = re.sub(r"(path:\s*)(['\"]?)(?:[^\s,}'\"]*/)?build/demo/(\w+)/?\2", repl, text)
    except KeyError as e:
        return None, f"{Path(cfg).name} reads build/demo/{e.args[0]}, which has no test stand-in"
    if re.search(r"(?m)^device:", text):
        text = re.sub(r"(?m)^device:.*$", "device: cpu", text)
    else:
        text += "\ndevice: cpu\n"
    out = Path(dest_dir) / Path(cfg).name
    out.write_text(text)
    return out, None


def snapshot(batch):
    """{name: numpy copy} of a batch (host memory)."""
    return {k: np.from_dlpack(v).copy() for k, v in batch.items()}


def assert_same_batches(a, b):
    assert len(a) == len(b), (len(a), len(b))
    for i, (x, y) in enumerate(zip(a, b)):
        assert x.keys() == y.keys(), (i, x.keys(), y.keys())
        for k in x:
            assert x[k].dtype == y[k].dtype and x[k].shape == y[k].shape, (i, k, x[k].dtype, y[k].dtype)
            assert np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f"), f"batch {i}: output {k} differs"
