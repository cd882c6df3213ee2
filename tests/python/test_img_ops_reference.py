"""The image ops against numpy and scipy themselves.

The C test binary test_img_intensity, run with `--dump DIR`, writes the
inputs and outputs of a few cases from the CPU backend (the CUDA kernels are
held to the same bytes by test_img_parity). Here they are recomputed with
the libraries users compare against:

- percentile normalization: numpy.percentile per sample and channel, then
  CSBDeep's normalize_mi_ma in float32; must match bit for bit;
- an affine crop: scipy.ndimage.affine_transform, linear, 'grid-constant'
  border, in float64; within 2e-5 of the value range;
- a 3D Gaussian blur: scipy.ndimage.gaussian_filter, 'reflect' border,
  truncate 4, in float64; within 1e-6.
"""
import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

scipy_ndimage = pytest.importorskip("scipy.ndimage")

REPO = Path(__file__).resolve().parents[2]


def _binary():
    bf = os.environ.get("BIOFEED")
    here = Path(bf).parent if bf else REPO / "build" / "tests"
    return here / "test_img_intensity"


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    exe = _binary()
    if not os.access(exe, os.X_OK):
        pytest.skip(f"{exe} not built (make build/tests/test_img_intensity)")
    out = tmp_path_factory.mktemp("img_cases")
    p = subprocess.run([str(exe), "--dump", str(out)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    found = {}
    for meta in out.glob("*.json"):
        m = json.loads(meta.read_text())
        x = np.fromfile(meta.with_suffix(".in"), dtype=m["dtype"]).reshape(m["shape"])
        y = np.fromfile(meta.with_suffix(".out"), dtype=np.float32).reshape(m["out_shape"])
        found[meta.stem] = (m, x, y)
    return found


@pytest.mark.parametrize("name", ["percentile_uint16", "percentile_float32"])
def test_percentile_normalization_matches_numpy(cases, name):
    m, x, y = cases[name]
    eps = np.float32(m["eps"])
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            ch = x[b, c]
            mi = np.float32(np.percentile(ch, m["pmin"]))
            ma = np.float32(np.percentile(ch, m["pmax"]))
            want = (ch.astype(np.float32) - mi) / (ma - mi + eps)
            np.testing.assert_array_equal(y[b, c], want, err_msg=f"{name} sample {b} channel {c}")


def test_affine_matches_scipy(cases):
    m, x, y = cases["affine2d"]
    th = math.radians(m["rotate"])
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    shear = np.array([[1.0, 0.0], [m["shear"], 1.0]])
    a = rot @ shear @ np.diag([1.0 / m["scale"]] * 2)
    win = np.array(y.shape[2:], dtype=np.float64)
    c = (win - 1) / 2
    offset = np.array(m["origin"], dtype=np.float64) + c + m["translate"] - a @ c
    src = x[0, 0].astype(np.float64)
    want = scipy_ndimage.affine_transform(src, a, offset=offset, output_shape=y.shape[2:], order=1,
                                          mode="grid-constant", cval=0.0, prefilter=False)
    err = np.abs(want - y[0, 0]).max()
    assert err <= 2e-5 * (src.max() - src.min()), err


def test_blur_matches_scipy(cases):
    m, x, y = cases["blur3d"]
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            want = scipy_ndimage.gaussian_filter(x[b, c].astype(np.float64), sigma=m["sigma"], mode="reflect",
                                                 truncate=4.0)
            err = np.abs(want - y[b, c]).max()
            assert err <= 1e-6, (b, c, err)
