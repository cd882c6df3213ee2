"""Round trip of real data through `biofeed pack`: each file fetched by
scripts/fetch-sample-data.sh (`make sample-data`) is packed into tmp_path,
read back with h5py and compared byte for byte with the input as parsed here
(gzip + a small FASTA/FASTQ parser; PNGs decoded with Pillow), and the
packed dataset must pass `biofeed verify`. A file that is absent (no network
when the data was fetched) skips its test.

env: BIOFEED (default <repo>/build/tests/biofeed), BIOFEED_DATA (default
<repo>/build/data). Self-contained: uses no conftest fixtures.
"""

import gzip
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

REPO = Path(__file__).resolve().parents[2]
BIOFEED = Path(os.environ.get("BIOFEED", REPO / "build" / "tests" / "biofeed"))
DATA = Path(os.environ.get("BIOFEED_DATA", REPO / "build" / "data"))
FETCH_HINT = "run `make sample-data` (scripts/fetch-sample-data.sh) with network access"

SEQ_CASES = [
    # (id, path under DATA, pack options, is FASTQ, alphabet)
    ("ecoli-genome", "ecoli/NC_008253.fna.gz", ["--alphabet", "dna"], False, "dna"),
    ("uniprot-proteins", "uniprot/DB.fasta.gz", ["--alphabet", "protein"], False, "protein"),
    ("illumina-reads", "reads/SRR059298_subset.fastq.gz", ["--alphabet", "dna"], True, "dna"),
]


def _biofeed():
    if not BIOFEED.is_file() or not os.access(BIOFEED, os.X_OK):
        pytest.skip(f"{BIOFEED} not built (run `make`)")
    return str(BIOFEED)


def _input(rel):
    path = DATA / rel
    if not path.is_file():
        pytest.skip(f"{path} absent: {FETCH_HINT}")
    return path


def _run(*args):
    proc = subprocess.run([_biofeed(), *map(str, args)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"biofeed {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}"
    return proc


def _pack_and_verify(out, *args):
    _run("pack", "-q", "-o", out, *args)
    _run("verify", out)
    manifest = json.loads((out / "manifest.json").read_text())
    return manifest


def _lines(path):
    with gzip.open(path, "rb") as f:
        for line in f:
            yield line.rstrip(b"\n").rstrip(b"\r")


def parse_fasta(path):
    """Returns (headers, sequences) as lists of bytes; headers without '>'."""
    names, seqs, cur = [], [], None
    for line in _lines(path):
        if line.startswith(b">"):
            if cur is not None:
                seqs.append(b"".join(cur))
            names.append(line[1:])
            cur = []
        elif line and cur is not None:
            cur.append(line)
    if cur is not None:
        seqs.append(b"".join(cur))
    return names, seqs


def parse_fastq(path):
    """Returns (headers, sequences, qualities); multi-line records allowed."""
    names, seqs, quals = [], [], []
    it = _lines(path)
    for line in it:
        if not line:
            continue
        assert line.startswith(b"@"), line[:80]
        names.append(line[1:])
        seq = []
        for line in it:
            if line.startswith(b"+"):
                break
            seq.append(line)
        seq = b"".join(seq)
        qual = b""
        while len(qual) < len(seq):
            qual += next(it)
        seqs.append(seq)
        quals.append(qual)
    return names, seqs, quals


def _shards(out, manifest):
    return [out / s["path"] for s in manifest["shards"]]


@pytest.mark.parametrize("rel,opts,fastq,alphabet", [c[1:] for c in SEQ_CASES], ids=[c[0] for c in SEQ_CASES])
def test_sequences_round_trip(tmp_path, rel, opts, fastq, alphabet):
    src = _input(rel)
    if fastq:
        names, seqs, quals = parse_fastq(src)
    else:
        names, seqs = parse_fasta(src)
        quals = None
    assert names, f"{src}: the parser found no records"

    out = tmp_path / "packed"
    manifest = _pack_and_verify(out, *opts, src)
    assert manifest["kind"] == "sequence"
    assert manifest["totals"]["records"] == len(names)
    assert manifest["totals"]["record_bytes"] == sum(map(len, seqs))
    assert manifest["schema"]["quality"] is fastq

    got_names, got_data, got_qual, got_lens = [], [], [], []
    for shard in _shards(out, manifest):
        with h5py.File(shard, "r") as f:
            assert f.attrs["kind"] in ("sequence", b"sequence")
            assert f.attrs["alphabet"] in (alphabet, alphabet.encode())
            g = f["seq"]
            offsets = g["offsets"][...]
            n = int(f.attrs["n_records"])
            assert offsets.shape == (n + 1,) and offsets[0] == 0
            assert np.all(np.diff(offsets.astype(np.int64)) >= 0)
            got_lens.append(np.diff(offsets.astype(np.int64)))
            data = g["data"][...].tobytes()
            assert len(data) == offsets[-1]
            got_data.append(data)
            got_names.extend(x if isinstance(x, bytes) else x.encode() for x in g["names"][...])
            assert g["crc"].shape == (n,)
            if fastq:
                qual = g["quality"][...].tobytes()
                assert len(qual) == len(data)
                got_qual.append(qual)
            else:
                assert "quality" not in g

    assert len(got_names) == len(names)
    for i, (a, b) in enumerate(zip(got_names, names)):
        assert a == b, f"record {i}: header {a[:100]!r} != {b[:100]!r}"
    lens = np.concatenate(got_lens)
    assert np.array_equal(lens, np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs)))
    assert b"".join(got_data) == b"".join(seqs)
    if fastq:
        assert b"".join(got_qual) == b"".join(quals)


def _png_cases():
    pngs = sorted((DATA / "images").glob("*.png"))
    return pngs or [DATA / "images" / "(none)"]


def _pillow_planes(path):
    """The PNG as biofeed stores it, [C, Y, X], decoded with Pillow."""
    Image = pytest.importorskip("PIL.Image", reason="Pillow not installed; add Pillow to tests/python/requirements.txt")
    with Image.open(path) as im:
        im.load()
        mode = im.mode
        if mode == "P":  # libpng expands palettes to RGB, and tRNS to alpha
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif mode == "1":  # 1-bit gray is scaled to 0/255
            im = im.convert("L")
        elif mode in ("I;16", "I;16B", "I"):
            return np.asarray(im).astype(np.uint16)[None]
        elif mode not in ("L", "LA", "RGB", "RGBA"):
            pytest.skip(f"{path.name}: Pillow mode {mode} has no exact 8-bit reference")
        arr = np.asarray(im)
    return arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))


@pytest.mark.parametrize("png", _png_cases(), ids=lambda p: p.name)
@pytest.mark.parametrize("compress", ["none", "deflate"])
def test_png_round_trip(tmp_path, png, compress):
    if not png.is_file():
        pytest.skip(f"no PNGs in {png.parent}: {FETCH_HINT}")
    want = _pillow_planes(png)
    out = tmp_path / "packed"
    manifest = _pack_and_verify(out, "--compress", compress, png)
    assert manifest["kind"] == "image"
    assert manifest["totals"]["records"] == 1
    (shard,) = _shards(out, manifest)
    with h5py.File(shard, "r") as f:
        assert f.attrs["kind"] in ("image", b"image")
        d = f["img"]["data"]
        assert d.shape == (1, *want.shape), f"{png.name}: {d.shape} != {(1, *want.shape)}"
        assert d.compression == ("gzip" if compress == "deflate" else None)
        got = d[0]
    assert got.dtype == want.dtype
    assert np.array_equal(got, want), f"{png.name}: pixels differ"
