"""Writes the deterministic inputs of the end-to-end benchmark, which
run.sh then packs with `biofeed pack`: a synthetic genome (FASTA), synthetic
proteins (FASTA, UniProt-like lengths), 2D uint16 512x512 images and 3D
uint16 256x512x512 volumes (HDF5 stacks, one sample per index of axis 0).
Nothing is rewritten when the file is already there.

usage: gen_data.py DIR GENOME_MBP PROTEINS IMAGES VOLUMES
"""
import os
import sys

import h5py
import numpy as np

AA = np.frombuffer(b"LAGVSERTIDPKQNFYMHWC", np.uint8)


def fasta(path, records):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for name, seq in records:
            f.write(b">" + name + b"\n")
            for i in range(0, len(seq), 80):
                f.write(seq[i:i + 80].tobytes() + b"\n")
    os.replace(tmp, path)


def genome(path, mbp):
    rng = np.random.default_rng(1)
    n = mbp * 1_000_000
    chroms = [(b"chr1", n // 2), (b"chr2", n - n // 2)]
    fasta(path, [(name, np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, size)]) for name, size in chroms])


def proteins(path, n):
    rng = np.random.default_rng(2)
    lengths = np.clip(rng.lognormal(np.log(300), 0.6, n), 30, 3000).astype(np.int64)
    fasta(path, [(b"p%d" % i, AA[rng.integers(0, len(AA), int(k))]) for i, k in enumerate(lengths)])


def smooth_u16(rng, shape):
    """Blobs over a background plus shot-like noise: percentiles and
    interpolation see realistic, non-constant data."""
    coarse = rng.random(tuple(max(2, s // 32) for s in shape), dtype=np.float32)
    img = coarse
    for ax, s in enumerate(shape):
        img = np.repeat(img, -(-s // img.shape[ax]), axis=ax)
    img = img[tuple(slice(0, s) for s in shape)]
    return (img * 3000 + rng.integers(0, 1000, shape, dtype=np.uint16) + 100).astype(np.uint16)


def stack(path, n, shape):
    tmp = path + ".tmp"
    rng = np.random.default_rng(3)
    with h5py.File(tmp, "w") as f:
        d = f.create_dataset("images", (n, 1) + shape, np.uint16, chunks=(1, 1) + (shape if len(shape) == 2 else (32,) + shape[1:]))
        for i in range(n):
            d[i, 0] = smooth_u16(rng, shape)
    os.replace(tmp, path)


def main():
    out, mbp, n_prot, n_img, n_vol = sys.argv[1], *map(int, sys.argv[2:6])
    os.makedirs(out, exist_ok=True)
    jobs = [(f"genome-{mbp}M.fna", lambda p: genome(p, mbp)),
            (f"proteins-{n_prot}.fasta", lambda p: proteins(p, n_prot)),
            (f"images-{n_img}.h5", lambda p: stack(p, n_img, (512, 512))),
            (f"volumes-{n_vol}.h5", lambda p: stack(p, n_vol, (256, 512, 512)))]
    for name, make in jobs:
        path = os.path.join(out, name)
        if not os.path.exists(path):
            print(f"gen_data: writing {path}", file=sys.stderr, flush=True)
            make(path)


if __name__ == "__main__":
    main()
