#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses into tests/fuzz/corpus/.

Run from the repository root with the test venv's Python (numpy, h5py,
tifffile, nibabel) and a built `biofeed` for the packed-shard seeds:

    build/venv/bin/python tests/fuzz/make_corpus.py --biofeed build/bin/biofeed

Seeds are small valid inputs of every variant each reader supports, plus a
few near misses, so that fuzzing starts deep inside the readers instead of
at their magic numbers. Where a harness reads a control byte first (see the
comment at the top of tests/fuzz/fuzz_<target>.c), the seed's name says what
that byte selects. The state seeds are inputs of fuzz_state's own encoding
(a cursor and an XOR mask over a state the harness saves itself)."""

import argparse
import gzip
import io
import json
import os
import struct
import subprocess
import tempfile
import zlib

import h5py
import nibabel as nib
import numpy as np
import tifffile

ROOT = os.path.join("tests", "fuzz", "corpus")
VOCAB_MARK = b"\n#--vocab--\n"  # fuzz_seq_config / fuzz_job: what follows is the vocabulary file


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def text_lines(path, n):
    """The first n lines of a (possibly gzip) text file, or None if absent."""
    if not os.path.exists(path):
        return None
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return b"".join(f.readline() for _ in range(n))


# ---- FASTA / FASTQ: control byte = alphabet | policy << 2 | storage << 4
def ctl(alphabet, policy, storage):
    return bytes([alphabet | policy << 2 | storage << 4])


def fastx(data_dir):
    dna, rna, protein, anyab = 1, 2, 3, 0
    error, replace, drop = 0, 1, 2
    plain, gz, bgzf = 0, 2, 3
    fa = b">a first record\nACGTN\nacgtn\n>b\n\n>c\nRYKMSWBDHV-\n"
    fq = b"@r1\nACGT\n+\n!!!!\n@r2 two lines\nAC\nGT\n+r2\n@@II\n@r3\n\n+\n\n"
    put("fastx", "dna-error-plain", ctl(dna, error, plain) + fa)
    put("fastx", "dna-replace-gzip", ctl(dna, replace, gz) + fa + b">bad\nACGTJX\n")
    put("fastx", "rna-drop-plain", ctl(rna, drop, plain) + b">r\nACGU\n>t\nACGT\n>u\nacgu\n")
    put("fastx", "protein-replace-bgzf", ctl(protein, replace, bgzf) + b">p\nMKV*-\nJ1O\n>q\nmk\n")
    put("fastx", "any-error-fastq", ctl(anyab, error, plain) + fq)
    put("fastx", "dna-drop-fastq-bgzf", ctl(dna, drop, bgzf) + fq + b"@bad\nACJT\n+\nIIII\n")
    put("fastx", "crlf", ctl(dna, error, plain) + b">a\r\nACGT\r\nAC\r\n>b\r\nGG\r\n")
    put("fastx", "quality-short", ctl(dna, error, plain) + b"@q\nACGT\n+\n!!\n")
    put("fastx", "no-header", ctl(dna, error, plain) + b"ACGT\n")
    put("fastx", "mixed", ctl(anyab, error, gz) + b">a\nAC\n@b\nAC\n+\n!!\n")
    reads = text_lines(os.path.join(data_dir, "reads", "SRR059298_subset.fastq.gz"), 16)
    if reads:
        put("fastx", "real-reads-bgzf", ctl(dna, replace, bgzf) + reads)
    prot = text_lines(os.path.join(data_dir, "uniprot", "DB.fasta.gz"), 12)
    if prot:
        put("fastx", "real-uniprot", ctl(protein, error, plain) + prot)
    genome = text_lines(os.path.join(data_dir, "ecoli", "NC_008253.fna.gz"), 8)
    if genome:
        put("fastx", "real-ecoli-gzip", ctl(dna, error, gz) + genome)


# ---- TIFF: control byte bit 0 = multi-page files as C (else Z)
def tiff_bytes(arr, **kw):
    b = io.BytesIO()
    tifffile.imwrite(b, arr, **kw)
    return b.getvalue()


def tiff():
    g = np.arange(48, dtype=np.uint8).reshape(6, 8)
    z = np.arange(3 * 6 * 8, dtype=np.uint16).reshape(3, 6, 8) * 97
    Z, C = b"\x00", b"\x01"
    put("tiff", "u8-gray", Z + tiff_bytes(g, photometric="minisblack"))
    put("tiff", "u8-miniswhite", Z + tiff_bytes(g, photometric="miniswhite"))
    put("tiff", "u16-pages-z", Z + tiff_bytes(z, photometric="minisblack"))
    put("tiff", "u16-pages-c", C + tiff_bytes(z, photometric="minisblack"))
    put("tiff", "i16-bigendian", Z + tiff_bytes(g.astype(np.int16) - 20, photometric="minisblack", byteorder=">"))
    put("tiff", "f32", Z + tiff_bytes(g.astype(np.float32) / 7, photometric="minisblack"))
    rgb = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    put("tiff", "rgb-chunky", Z + tiff_bytes(rgb, photometric="rgb", planarconfig="contig"))
    put("tiff", "rgb-planar", Z + tiff_bytes(rgb.transpose(2, 0, 1).copy(), photometric="rgb",
                                              planarconfig="separate"))
    big = np.arange(20 * 40, dtype=np.uint16).reshape(20, 40)
    put("tiff", "u16-tiled", Z + tiff_bytes(big, photometric="minisblack", tile=(16, 16)))
    put("tiff", "rgb-tiled-planar", Z + tiff_bytes(np.stack([big, big, big]), photometric="rgb",
                                                    planarconfig="separate", tile=(16, 16)))
    put("tiff", "u8-lzw", Z + tiff_bytes(g, photometric="minisblack", compression="lzw"))
    put("tiff", "u16-deflate-strips", Z + tiff_bytes(big, photometric="minisblack", compression="zlib",
                                                      rowsperstrip=3))
    put("tiff", "u8-packbits", Z + tiff_bytes(g, photometric="minisblack", compression="packbits"))
    put("tiff", "u8-2bit-unsupported", Z + tiff_bytes(np.zeros((4, 8), np.uint8), photometric="minisblack",
                                                       bitspersample=2))


# ---- PNG: written here so that every color type and depth is covered
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_rows(img, depth):
    """Scanlines (filter byte 0) of a [h, w, c] array of samples."""
    out = b""
    for row in img:
        flat = row.reshape(-1)
        if depth == 16:
            raw = flat.astype(">u2").tobytes()
        elif depth == 8:
            raw = flat.astype(np.uint8).tobytes()
        else:
            per = 8 // depth
            vals = list(flat) + [0] * (-len(flat) % per)
            raw = bytes(sum(int(v) << (8 - depth * (k + 1)) for k, v in enumerate(vals[i:i + per]))
                        for i in range(0, len(vals), per))
        out += b"\x00" + raw
    return out


def png_bytes(img, color, depth, plte=None, trns=None, interlace=False):
    h, w = img.shape[:2]
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 1 if interlace else 0)
    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        raw = b"".join(png_rows(img[y0::dy, x0::dx], depth) for x0, y0, dx, dy in passes
                       if img[y0::dy, x0::dx].size)
    else:
        raw = png_rows(img, depth)
    body = png_chunk(b"IHDR", ihdr)
    if plte is not None:
        body += png_chunk(b"PLTE", plte)
    if trns is not None:
        body += png_chunk(b"tRNS", trns)
    body += png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def png():
    h, w = 5, 7
    ramp = np.arange(h * w).reshape(h, w, 1)
    for depth in (1, 2, 4, 8, 16):
        put("png", f"gray{depth}", png_bytes(ramp % (1 << depth), 0, depth))
    put("png", "gray-alpha8", png_bytes(np.concatenate([ramp, 255 - ramp], 2) % 256, 4, 8))
    put("png", "gray-alpha16", png_bytes(np.concatenate([ramp * 999, ramp], 2), 4, 16))
    rgb = np.concatenate([ramp, ramp * 2, ramp * 3], 2)
    put("png", "rgb8", png_bytes(rgb % 256, 2, 8))
    put("png", "rgb16", png_bytes(rgb * 1000, 2, 16))
    put("png", "rgba8", png_bytes(np.concatenate([rgb, ramp], 2) % 256, 6, 8))
    put("png", "palette2-trns", png_bytes(ramp % 4, 3, 2, plte=bytes(range(12)), trns=b"\x00\x80"))
    put("png", "palette8", png_bytes(ramp % 3, 3, 8, plte=b"\xff\x00\x00\x00\xff\x00\x00\x00\xff"))
    put("png", "gray8-interlaced", png_bytes(ramp % 256, 0, 8, interlace=True))
    put("png", "rgb16-interlaced", png_bytes(rgb * 1000, 2, 16, interlace=True))


# ---- NIfTI: control byte bit 0 = store gzip-compressed as .nii.gz
def nifti_bytes(arr, endian="<"):
    hdr = nib.Nifti1Header(endianness=endian)
    return nib.Nifti1Image(arr, np.eye(4), header=hdr).to_bytes()


def nifti():
    v = np.arange(4 * 5 * 3).reshape(4, 5, 3)
    P, G = b"\x00", b"\x01"
    put("nifti", "u8-3d", P + nifti_bytes(v.astype(np.uint8)))
    put("nifti", "u8-3d-gz", G + nifti_bytes(v.astype(np.uint8)))
    put("nifti", "i16-4d", P + nifti_bytes(np.stack([v, -v], 3).astype(np.int16)))
    put("nifti", "i16-4d-bigendian-gz", G + nifti_bytes(np.stack([v, -v], 3).astype(np.int16), ">"))
    put("nifti", "f32-2d", P + nifti_bytes((v[:, :, 0] / 3).astype(np.float32)))
    put("nifti", "u16-z1-t2", P + nifti_bytes(np.stack([v[:, :, :1], v[:, :, :1]], 3).astype(np.uint16)))
    put("nifti", "i32-bigendian", P + nifti_bytes(v.astype(np.int32), ">"))
    put("nifti", "f64-unsupported", P + nifti_bytes(v.astype(np.float64)))


# ---- shards: packed by biofeed, plus HDF5 files of a user's own layout
def pack(biofeed, tmp, name, inputs, *args):
    out = os.path.join(tmp, "out-" + name)
    subprocess.run([biofeed, "pack", "-q", "-o", out, *args, *inputs], check=True)
    shards = sorted(f for f in os.listdir(out) if f.endswith(".h5"))
    for k, f in enumerate(shards):
        with open(os.path.join(out, f), "rb") as fh:
            put("shard", f"{name}-{k}", fh.read())
    with open(os.path.join(out, "manifest.json"), "rb") as fh:
        put("manifest", name, fh.read())


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def shards(biofeed, tmp):
    write(os.path.join(tmp, "a.fa"), b">a one\nACGTNACGT\n>b\nacgtACGT\n>c\n\n>d\nAC\n")
    write(os.path.join(tmp, "r.fq"), b"@r1\nACGT\n+\nIIII\n@r2\nGGCCA\n+\n!!!!!\n")
    pack(biofeed, tmp, "seq-fasta", [os.path.join(tmp, "a.fa")], "--alphabet", "dna")
    pack(biofeed, tmp, "seq-fastq", [os.path.join(tmp, "r.fq")])
    img, lab = os.path.join(tmp, "img"), os.path.join(tmp, "lab")
    os.makedirs(img)
    os.makedirs(lab)
    ramp = np.arange(6 * 8).reshape(6, 8, 1)
    for k in range(2):
        write(os.path.join(img, f"i{k}.png"), png_bytes((ramp + k) % 256, 0, 8))
        write(os.path.join(lab, f"i{k}.png"), png_bytes(ramp % 3, 0, 8))
    write(os.path.join(tmp, "classes.csv"), b"i0,3\ni1,7\n")
    pack(biofeed, tmp, "img-labels-classes", [img], "--labels", lab, "--classes", os.path.join(tmp, "classes.csv"))
    vol = os.path.join(tmp, "vol")
    os.makedirs(vol)
    for k in range(2):
        z = (np.arange(3 * 6 * 8).reshape(3, 6, 8) * (k + 3)).astype(np.uint16)
        write(os.path.join(vol, f"v{k}.tif"), tiff_bytes(z, photometric="minisblack"))
    pack(biofeed, tmp, "img-3d-deflate", [vol], "--compress", "deflate")
    tiles = os.path.join(tmp, "tiles")
    os.makedirs(tiles)
    big = np.zeros((1100, 1024), np.uint8)
    big[::97, ::89] = 200
    write(os.path.join(tiles, "t.tif"), tiff_bytes(big, photometric="minisblack", compression="zlib"))
    pack(biofeed, tmp, "img-tiles-deflate", [tiles], "--compress", "deflate")

    def h5(name, build):
        p = os.path.join(tmp, name + ".h5")
        with h5py.File(p, "w", libver="earliest") as f:
            build(f)
        with open(p, "rb") as fh:
            put("shard", "user-" + name, fh.read())

    def chunked(f):
        d = np.arange(3 * 6 * 8).reshape(3, 6, 8).astype(">i2")
        f.create_dataset("img/data", data=d, chunks=(1, 3, 4), shuffle=True, compression="gzip", fletcher32=True)
        f.create_dataset("label/data", data=(d % 5).astype(np.uint8))

    def contiguous(f):
        f.create_dataset("img/data", data=np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5), fillvalue=1.5)

    def sparse(f):
        d = f.create_dataset("img/data", shape=(4, 6, 6), dtype=np.uint16, chunks=(1, 3, 3), fillvalue=7)
        d[1, :3, :3] = 9

    def rank5(f):
        f.create_dataset("img/data", data=np.arange(2 * 2 * 2 * 3 * 4, dtype=np.uint32).reshape(2, 2, 2, 3, 4),
                         chunks=(1, 1, 2, 2, 2), compression="gzip")

    h5("chunked-fletcher", chunked)
    h5("contiguous", contiguous)
    h5("sparse", sparse)
    h5("rank5", rank5)


# ---- manifests beyond the packed ones
def manifests():
    base = {"biofeed_manifest": 1, "format": 1, "kind": "sequence", "tool_version": "biofeed 0.1.0",
            "shards": [{"path": "seq-00000.h5", "size": 100, "records": 2, "hash": "xxh3-128:" + "0" * 32}]}
    put("manifest", "minimal", json.dumps(base).encode())
    img = dict(base, kind="image", schema={"groups": [{"group": 0, "dtype": "uint8", "shape": [1, 4, 4]}]},
               shards=[{"path": "img-g0-00000.h5", "size": 1, "records": 1, "hash": "x", "group": 0},
                       {"path": "sub/img-g1-00000.h5", "size": 2, "records": 3, "hash": "y", "group": 1}])
    put("manifest", "image-groups", json.dumps(img).encode())
    put("manifest", "escape", json.dumps(dict(base, shards=[{"path": "../x.h5", "size": 1, "records": 1,
                                                             "hash": "h"}])).encode())


# ---- YAML: sequence ops, image ops, job configs
SEQ = [
    b"tokenizer: dna\nmax_len: 64\n",
    b"tokenizer: hyenadna\nmax_len: 1024\ncase: upper\n"
    b"window: {length: 1023, mode: random, max_n_frac: 0.1, max_attempts: 8}\nrc: 0.5\nshift: 3\n",
    b"tokenizer: esm2\nmax_len: 1024\npadding: longest\ntruncation: random\nmlm: {p: 0.15, mask: 0.8, random: 0.1}\n",
    b"tokenizer: dnabert\nk: 6\nspecials: {begin: cls, end: sep}\nwindow: {length: 500, mode: tiled, stride: 250}\n",
    b"tokenizer: nt\nmlm: {p: 0.2, span: true}\ntruncation: left\n",
    b"tokenizer: byte\ncase: softmask\nonehot: true\nwindow: {length: 10, bed: r.bed}\n",
    b"tokenizer: rna\ncase: n\nonehot: {dtype: bfloat16, n: uniform}\n",
    b"tokenizer: vocab\nvocab: {file: v.txt, mode: char, alphabet: dna}\nmax_len: 16\n" + VOCAB_MARK +
    b"<pad>\n<unk>\n<cls>\n<eos>\n<mask>\nA\nC\nG\nT\nN\n",
    b"tokenizer: vocab\nvocab: {file: v.txt, mode: kmer, k: 2, stride: 1}\n" + VOCAB_MARK +
    b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nAA\nAC\nAG\nAT\nCA\nCC\nCG\nCT\nGA\nGC\nGG\nGT\nTA\nTC\nTG\nTT\n",
    b"tokenizer: vocab\nvocab: {file: v.txt, mode: nt, k: 3}\n" + VOCAB_MARK + b"<pad>\n<unk>\nAAA\nACG\nA\n",
    b"tokenizer: dna\nunknown_key: 1\n",
]

IMG = [
    b"- crop: {size: [16, 16], mode: random, pad: reflect}\n- flip: {axes: [y, x], prob: 0.5}\n"
    b"- normalize: {mode: percentile, pmin: 1, pmax: 99.8, clip: true}\n",
    b"ops:\n  - crop: {size: [8, 16, 16], mode: foreground, fg_prob: 0.33, pad: constant, pad_value: 2, label_pad: 0}\n"
    b"  - flip: {axes: [z, y, x]}\n  - permute: {prob: 0.2}\n"
    b"  - affine: {prob: 1, rotate: [[-15, 15], [-5, 5], 3], scale: [0.85, 1.25], isotropic: false, "
    b"shear: [-0.1, 0.1], translate: [-5, 5]}\n"
    b"  - normalize: {mode: zscore, mean: 0, std: 1}\n  - blur: {sigma: [0.5, 1.0]}\n",
    b"- crop: {size: [32, 32], mode: center, pad: none}\n- rot90\n- elastic: {spacing: [16, 8], magnitude: 2}\n"
    b"- normalize: {mode: minmax}\n- brightness: {range: [-0.1, 0.1]}\n- contrast: {range: 1.1}\n"
    b"- gamma: {range: [0.7, 1.5], invert_prob: 0.5}\n- noise: {sigma: [0, 0.1]}\n- lowres: {zoom: [0.5, 1.0]}\n",
    b"- normalize: {mode: scale, factor: 1.5259e-5}\n- normalize: {mode: minmax}\n",
    b"- crop: {size: [16]}\n",
]

JOB = [
    b"datasets: [d]\n",
    b"seed: 7\ndatasets:\n  - path: d1\n    weight: 2\n  - d2\nbatch_size: 4\n"
    b"sampling: {order: shards, shard_window: 2, drop_last: false, batching: bucket, bucket_window: 8}\n"
    b"sequence:\n  tokenizer: dna\n  max_len: 32\ndevice: cpu\nprefetch: 2\nmemory_limit: 64M\n"
    b"io: {engine: pread, queue_depth: 8, direct: false, readers: 2, workers: 1}\ndist: {rank: 0, world_size: 1}\n",
    b"datasets: [d]\nsampling: {batching: tokens, max_tokens: 4096}\n"
    b"sequence: {tokenizer: vocab, vocab: {file: v.txt}, padding: longest}\n" + VOCAB_MARK +
    b"<pad>\n<unk>\nA\nC\nG\nT\n",
    b"datasets: [img]\nimage:\n  ops:\n    - crop: {size: [8, 8]}\n    - normalize: {mode: zscore}\n"
    b"  output: {dtype: bfloat16, layout: channels_last, label_dtype: uint8}\n",
    b"datasets: [d]\nsequence: {tokenizer: esm2, max_len: 64}\non_corrupt: skip\n",
]


def configs():
    for k, text in enumerate(SEQ):
        put("seq_config", f"seq-{k:02d}", text)
    for k, text in enumerate(IMG):
        put("img_config", f"img-{k:02d}", text)
    for name in sorted(os.listdir("configs")):
        if name.endswith(".yaml"):
            with open(os.path.join("configs", name), "rb") as f:
                put("job", name[:-5], f.read())
    for k, text in enumerate(JOB):
        put("job", f"job-{k:02d}", text)


# ---- resume state: control byte = xor mode (bit 0 clear) | fix crc (bit 1) | sampler << 2,
# then epoch (u16) and position (u64), then an XOR mask over the saved state (zeros: valid).
def states():
    for sampler in range(4):
        for epoch, pos in ((0, 0), (1, 3), (2, 1)):
            put("state", f"s{sampler}-e{epoch}-p{pos}", bytes([2 | sampler << 2]) + struct.pack("<HQ", epoch, pos))
    put("state", "raw-garbage", b"\x01BFDS\x01\x00" + bytes(46))
    put("state", "xor-seed-nocrc", bytes([0]) + struct.pack("<HQ", 0, 0) + bytes(8) + b"\x01")


# ---- hostile shards for tests/fuzz/regress/shard: sizes a file claims but cannot hold
def hostile():
    d = os.path.join("tests", "fuzz", "regress", "shard")
    os.makedirs(d, exist_ok=True)

    def shard(name, kind, n, build):
        p = os.path.join(d, name)
        with h5py.File(p, "w", libver="earliest") as f:
            f.attrs["biofeed_format"] = np.int32(1)
            f.attrs["kind"] = kind
            f.attrs["n_records"] = np.uint64(n)
            f.attrs["access"] = "open"
            build(f)

    def records(f):  # 2^33 records whose tables were never written
        f.create_dataset("seq/offsets", shape=(2**33 + 1,), dtype="<u8", chunks=(1024,))
        f.create_dataset("seq/crc", shape=(2**33,), dtype="<u4", chunks=(1024,))
        f.create_dataset("seq/data", shape=(0,), dtype="u1")

    def bases(f):  # one record of 2^40 bytes that were never written
        f.create_dataset("seq/offsets", data=np.array([0, 2**40], "<u8"))
        f.create_dataset("seq/crc", data=np.array([0], "<u4"))
        f.create_dataset("seq/data", shape=(2**40,), dtype="u1")

    def sample(f):  # one 2^40-byte image whose chunks were never written
        f.create_dataset("img/data", shape=(1, 1, 2**20, 2**20), dtype="u1", chunks=(1, 1, 1024, 1024))
        f.create_dataset("img/crc", data=np.array([0], "<u4"))

    def overflow(f):  # a sample of 2^65 bytes: wraps a 64-bit size to 0
        f.create_dataset("img/data", shape=(1, 1, 2**32, 2**32), dtype="<u2", chunks=(1, 1, 4096, 4096))
        f.create_dataset("img/crc", data=np.array([0], "<u4"))

    def label_rank(f):  # labels of rank 7
        f.create_dataset("img/data", data=np.zeros((1, 1, 2, 2), "u1"))
        f.create_dataset("img/crc", data=np.array([0], "<u4"))
        f.create_dataset("label/data", data=np.zeros((1, 2, 2, 1, 1, 1, 1), "u1"))
        f.create_dataset("label/crc", data=np.array([0], "<u4"))

    shard("seq-2e33-records", "sequence", 2**33, records)
    shard("seq-2e40-bytes", "sequence", 1, bases)
    shard("img-2e40-sample", "image", 1, sample)
    shard("img-sample-overflow", "image", 1, overflow)
    shard("img-label-rank7", "image", 1, label_rank)
    with h5py.File(os.path.join(d, "user-1m-empty-chunks"), "w", libver="earliest") as f:
        f.create_dataset("img/data", shape=(4, 2, 1024, 1024), dtype="u1", chunks=(1, 1, 4, 4))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--biofeed", default="build/bin/biofeed")
    ap.add_argument("--data", default="build/data", help="sample data (make sample-data); optional")
    a = ap.parse_args()
    fastx(a.data)
    tiff()
    png()
    nifti()
    manifests()
    configs()
    states()
    hostile()
    with tempfile.TemporaryDirectory() as tmp:
        shards(os.path.abspath(a.biofeed), tmp)


if __name__ == "__main__":
    main()
