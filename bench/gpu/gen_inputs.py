"""Inputs for bench/gpu_check.sh, written with the Python standard library
only (the GPU machine may have no network and no numpy): a 4 Mbp genome and
5000 proteins (FASTA), 64 microscopy images uint16 512x512 with uint8 masks,
and 2 volumes uint16 256x512x512 with uint8 labels (NIfTI-1 .nii, masks
paired by file stem in a sibling folder). Deterministic; existing files are
kept.

usage: gen_inputs.py DIR
"""
import os
import random
import struct
import sys

HDR = struct.Struct("<i10s18sihbb8h3fhhhh8ffffhbbffffii80s24shh6f4f4f4f16s4s")
assert HDR.size == 348


def nifti(path, dims, datatype, bitpix, data):
    dim = [len(dims)] + list(dims) + [1] * (7 - len(dims))
    pixdim = [1.0] * 8
    hdr = HDR.pack(348, b"", b"", 0, 0, b"r"[0], 0, *dim, 0.0, 0.0, 0.0, 0, datatype, bitpix, 0, *pixdim,
                   352.0, 1.0, 0.0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0, b"biofeed gpu_check", b"", 0, 0,
                   0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, b"", b"n+1\0")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(hdr + b"\0\0\0\0")
        f.write(data)
    os.replace(tmp, path)


def image_u16(rng, voxels):
    """Random uint16 below 4096 (little-endian): percentiles and
    interpolation see spread-out values."""
    return bytes(b & 0x0F if i % 2 else b for i, b in enumerate(rng.randbytes(2 * voxels))) if voxels < 1 << 20 \
        else bytes(rng.randbytes(2 * 4096)) * (voxels // 4096) + bytes(2 * (voxels % 4096))


def mask_u8(voxels, period):
    """Blocks of labels 0, 1, 2: foreground crops find labelled voxels."""
    block = bytes((i // period) % 3 for i in range(3 * period))
    return (block * (voxels // len(block) + 1))[:voxels]


def fasta(path, records):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for name, seq in records:
            f.write(f">{name}\n")
            for i in range(0, len(seq), 80):
                f.write(seq[i:i + 80] + "\n")
    os.replace(tmp, path)


def main():
    out = sys.argv[1]
    rng = random.Random(7)
    for sub in ("microscopy/images", "microscopy/masks", "volumes/images", "volumes/labels"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    path = os.path.join(out, "genome.fna")
    if not os.path.exists(path):
        fasta(path, [("chr1", "".join(rng.choices("ACGT", k=4_000_000)))])
    path = os.path.join(out, "proteins.fasta")
    if not os.path.exists(path):
        aa = "LAGVSERTIDPKQNFYMHWC"
        fasta(path, [(f"p{i}", "".join(rng.choices(aa, k=min(3000, int(rng.lognormvariate(5.7, 0.6))))))
                     for i in range(5000)])
    for i in range(64):
        path = os.path.join(out, "microscopy/images", f"cell{i:03d}.nii")
        if not os.path.exists(path):
            nifti(path, (512, 512), 512, 16, image_u16(rng, 512 * 512))
            nifti(os.path.join(out, "microscopy/masks", f"cell{i:03d}.nii"), (512, 512), 2, 8,
                  mask_u8(512 * 512, 700 + i))
    for i in range(2):
        path = os.path.join(out, "volumes/images", f"vol{i}.nii")
        if not os.path.exists(path):
            nifti(path, (512, 512, 256), 512, 16, image_u16(rng, 256 * 512 * 512))
            nifti(os.path.join(out, "volumes/labels", f"vol{i}.nii"), (512, 512, 256), 2, 8,
                  mask_u8(256 * 512 * 512, 40000 + i))


if __name__ == "__main__":
    main()
