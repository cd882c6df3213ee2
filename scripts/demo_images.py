#!/usr/bin/env python3
"""Writes the inputs of the image demo datasets (for `biofeed pack --labels`).

microscopy (2D, 8-bit gray tiles with uint16 instance masks):
  real       when IMAGES holds scikit-image sample PNGs (scripts/
             fetch-sample-data.sh) of at least 256x256: each is turned
             to gray and cut into 256x256 tiles (stride 64); its mask comes
             from an Otsu threshold (the smaller side of it is foreground),
             split into connected objects (scipy.ndimage, 4-connected) with
             objects under 20 pixels dropped (without scipy: one label for
             all foreground). Written as PNG.
  synthetic  otherwise (or with --synthetic): 256x256 uint16 images of
             Gaussian "cells" on a noisy background, the masks the ellipses
             they were drawn from. Written as TIFF (tifffile).
volumes (3D, always synthetic): uint16 volumes [Z, Y, X] (default 8 of
  64x96x96) with bright spheres on noise, labels the sphere instances
  (uint8), written as multi-page TIFF (one page per Z slice).

Layout: OUT/microscopy-src/{images,masks}/NAME.{png,tif},
        OUT/volumes-src/{images,labels}/NAME.tif
Each folder gets a SOURCE file saying what it holds; a folder whose SOURCE
matches the request is left as it is. Deterministic: fixed seeds.

usage: demo_images.py --out OUT [--images DIR] [--synthetic] [--count N]
                      [--volumes N] [--volume-shape Z Y X]
(--count 0 or --volumes 0 leaves that dataset out)
"""
import argparse
import shutil
from pathlib import Path

import numpy as np

TILE = 256
STRIDE = 64
MIN_OBJECT = 20


def otsu(gray):
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    p = hist / hist.sum()
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1 - omega))
    return int(np.nanargmax(between))


def instances(fg):
    """Connected objects of a boolean mask as uint16 labels 1..n (0: background)."""
    try:
        from scipy import ndimage
    except ImportError:
        return fg.astype(np.uint16)  # one label for all foreground without scipy
    lab, n = ndimage.label(fg)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    keep = sizes >= MIN_OBJECT
    keep[0] = False
    remap = np.zeros(n + 1, np.int64)
    remap[keep] = np.arange(1, int(keep.sum()) + 1)
    out = remap[lab]
    if out.max() > 65535:
        out = np.where(out > 0, (out - 1) % 65535 + 1, 0)
    return out.astype(np.uint16)


def png_size(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def real_microscopy(pngs, out):
    from PIL import Image

    for path in pngs:
        im = Image.open(path)
        gray = np.asarray(im.convert("L"))
        t = otsu(gray)
        fg = gray > t
        if fg.mean() > 0.5:
            fg = ~fg
        lab = instances(fg)
        for y in range(0, gray.shape[0] - TILE + 1, STRIDE):
            for x in range(0, gray.shape[1] - TILE + 1, STRIDE):
                name = f"{path.stem}_y{y:04d}_x{x:04d}"
                Image.fromarray(gray[y:y + TILE, x:x + TILE]).save(out / "images" / f"{name}.png")
                tile = lab[y:y + TILE, x:x + TILE]
                Image.fromarray(tile.astype(np.uint16)).save(out / "masks" / f"{name}.png")


def synthetic_microscopy(out, count):
    import tifffile

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:TILE, 0:TILE]
    for i in range(count):
        img = rng.normal(400, 40, (TILE, TILE))
        lab = np.zeros((TILE, TILE), np.uint16)
        for k in range(1, int(rng.integers(8, 25)) + 1):
            cy, cx = rng.uniform(10, TILE - 10, 2)
            ry, rx = rng.uniform(6, 18, 2)
            th = rng.uniform(0, np.pi)
            dy, dx = yy - cy, xx - cx
            u = (dy * np.cos(th) + dx * np.sin(th)) / ry
            v = (-dy * np.sin(th) + dx * np.cos(th)) / rx
            r2 = u * u + v * v
            img += rng.uniform(800, 3000) * np.exp(-r2)
            lab[(r2 <= 1) & (lab == 0)] = k
        img = np.clip(img, 0, 65535).astype(np.uint16)
        tifffile.imwrite(out / "images" / f"cells_{i:04d}.tif", img)
        tifffile.imwrite(out / "masks" / f"cells_{i:04d}.tif", lab)


def synthetic_volumes(out, count, shape):
    import tifffile

    rng = np.random.default_rng(11)
    z, y, x = shape
    zz, yy, xx = np.mgrid[0:z, 0:y, 0:x]
    for i in range(count):
        vol = rng.normal(200, 30, shape)
        lab = np.zeros(shape, np.uint8)
        for k in range(1, int(rng.integers(3, 9)) + 1):
            r = rng.uniform(4, min(shape) / 4)
            c = [rng.uniform(r, s - r) for s in shape]
            d2 = ((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2) / (r * r)
            inside = d2 <= 1
            vol[inside] += rng.uniform(1000, 4000) * (1.2 - 0.5 * d2[inside])
            lab[inside & (lab == 0)] = k
        vol = np.clip(vol, 0, 65535).astype(np.uint16)
        tifffile.imwrite(out / "images" / f"vol_{i:03d}.tif", vol)
        tifffile.imwrite(out / "labels" / f"vol_{i:03d}.tif", lab)


def fresh(out, sub, source):
    """Whether OUT already holds what SOURCE describes; else empties it."""
    stamp = out / "SOURCE"
    if stamp.is_file() and stamp.read_text().strip() == source:
        return False
    shutil.rmtree(out, ignore_errors=True)
    for s in sub:
        (out / s).mkdir(parents=True)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--images", type=Path, help="folder with the scikit-image sample PNGs")
    ap.add_argument("--synthetic", action="store_true", help="synthetic microscopy even when real PNGs exist")
    ap.add_argument("--count", type=int, default=64, help="synthetic microscopy images (default 64; 0: none)")
    ap.add_argument("--volumes", type=int, default=8, help="volumes (default 8; 0: none)")
    ap.add_argument("--volume-shape", type=int, nargs=3, default=[64, 96, 96], metavar=("Z", "Y", "X"))
    a = ap.parse_args()

    if a.count > 0:
        microscopy(a)
    if a.volumes > 0:
        volumes(a)


def microscopy(a):
    pngs = sorted(a.images.glob("*.png")) if a.images and a.images.is_dir() and not a.synthetic else []
    pngs = [p for p in pngs if min(png_size(p)) >= TILE]
    mic = a.out / "microscopy-src"
    if pngs:
        source = "real: " + ", ".join(p.name for p in pngs) + f"; {TILE}px tiles, Otsu masks"
        if fresh(mic, ("images", "masks"), source):
            real_microscopy(pngs, mic)
        print(f"microscopy: real ({source})")
    else:
        source = f"synthetic: {a.count} cell images {TILE}x{TILE} uint16 TIFF, ellipse masks"
        if fresh(mic, ("images", "masks"), source):
            synthetic_microscopy(mic, a.count)
        print(f"microscopy: synthetic ({source})")
    (mic / "SOURCE").write_text(source + "\n")


def volumes(a):
    vol = a.out / "volumes-src"
    shape = tuple(a.volume_shape)
    source = f"synthetic: {a.volumes} volumes {'x'.join(map(str, shape))} uint16 multi-page TIFF, sphere labels"
    if fresh(vol, ("images", "labels"), source):
        synthetic_volumes(vol, a.volumes, shape)
    (vol / "SOURCE").write_text(source + "\n")
    print(f"volumes: synthetic ({source})")


if __name__ == "__main__":
    main()
