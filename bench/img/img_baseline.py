"""The numpy/scipy versions of the two standard image jobs that img_bench.c
times, written the way a training script would: one sample at a time, the
same ops and parameter ranges. Prints "<job> <samples> <seconds>" like
img_bench. Single-threaded: run with OMP_NUM_THREADS=1 (numpy's BLAS).

  2d: uint16 512 x 512 -> random 256 x 256 crop, flips, rot90, percentile
      normalization (np.percentile 1 and 99.8 of the image, CSBDeep's
      formula in float32), Gaussian noise (sigma in [0, 0.1]) -> float32
  3d: uint16 256 x 512 x 512 (uint8 labels) -> random 128^3 patch, affine
      (rotation +-15 degrees per axis, scale 0.85..1.25) and elastic
      (control points every 32 voxels, N(0, magnitude^2) smoothed by
      [1 2 1]/4 per axis, magnitude 2..5, linearly interpolated), one
      scipy.ndimage.map_coordinates pass: linear for the image, nearest for
      the labels -> float32 and int64

usage: img_baseline.py 2d|3d SAMPLES
"""
import math
import sys
import time

import numpy as np
from scipy import ndimage


def fill_u16(n, seed):
    rng = np.random.default_rng(seed)
    i = np.arange(n, dtype=np.uint64)
    return (((i * np.uint64(2654435761)) >> np.uint64(20)) % np.uint64(4000)).astype(np.uint16) + \
        rng.integers(0, 1024, n, dtype=np.uint16)


def job_2d(n):
    rng = np.random.default_rng(42)
    imgs = fill_u16(32 * 512 * 512, 1).reshape(32, 512, 512)
    out = np.empty((256, 256), np.float32)
    t0 = time.perf_counter()
    for i in range(n):
        x = imgs[i % 32]
        y0, x0 = rng.integers(0, 257, 2)
        p = x[y0:y0 + 256, x0:x0 + 256]
        if rng.random() < 0.5:
            p = p[::-1]
        if rng.random() < 0.5:
            p = p[:, ::-1]
        p = np.rot90(p, rng.integers(0, 4))
        mi, ma = np.percentile(x, [1.0, 99.8])
        mi, ma = np.float32(mi), np.float32(ma)
        q = (p.astype(np.float32) - mi) / (ma - mi + np.float32(1e-20))
        q += rng.normal(0.0, rng.uniform(0.0, 0.1), q.shape).astype(np.float32)
        out[...] = q
    return time.perf_counter() - t0


def rot(deg, p, q):
    r = np.eye(3)
    t = math.radians(deg)
    r[p, p] = r[q, q] = math.cos(t)
    r[p, q] = -math.sin(t)
    r[q, p] = math.sin(t)
    return r


def job_3d(n):
    rng = np.random.default_rng(42)
    shape = (256, 512, 512)
    vols = fill_u16(2 * 256 * 512 * 512, 1).reshape(2, *shape)
    labs = ((np.arange(2 * 256 * 512 * 512, dtype=np.int64) >> 13) % 3).astype(np.uint8).reshape(2, *shape)
    P, SP = 128, 32
    nodes = (P - 1) // SP + 2
    grid = np.stack(np.meshgrid(*[np.arange(P, dtype=np.float64)] * 3, indexing="ij"))  # [3, P, P, P]
    c = (P - 1) / 2.0
    t0 = time.perf_counter()
    for i in range(n):
        vol, lab = vols[i % 2], labs[i % 2]
        origin = np.array([rng.integers(0, s - P + 1) for s in shape], dtype=np.float64)
        a = rot(rng.uniform(-15, 15), 1, 2) @ rot(rng.uniform(-15, 15), 2, 0) @ rot(rng.uniform(-15, 15), 0, 1)
        a = a @ np.diag([1.0 / rng.uniform(0.85, 1.25)] * 3)
        mag = rng.uniform(2.0, 5.0)
        disp = np.empty_like(grid)
        for k in range(3):
            g = rng.normal(0.0, 1.0, (nodes,) * 3)
            for ax in range(3):
                g = ndimage.convolve1d(g, [0.25, 0.5, 0.25], axis=ax, mode="nearest")
            g *= mag / 0.375 ** 1.5
            disp[k] = ndimage.map_coordinates(g, grid / SP, order=1, prefilter=False)
        u = (grid + disp - c).reshape(3, -1)
        s = (a @ u).reshape(3, P, P, P) + (origin + c)[:, None, None, None]
        img = ndimage.map_coordinates(vol, s, order=1, mode="grid-constant", cval=0.0, prefilter=False,
                                      output=np.float32)
        seg = ndimage.map_coordinates(lab, s, order=0, mode="grid-constant", cval=0, prefilter=False).astype(np.int64)
        assert img.shape == seg.shape
    return time.perf_counter() - t0


if __name__ == "__main__":
    job, n = sys.argv[1], int(sys.argv[2])
    dt = job_2d(n) if job == "2d" else job_3d(n)
    print(f"{job} {n} {dt:.4f}")
