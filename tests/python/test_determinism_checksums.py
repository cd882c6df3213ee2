"""Record CRCs and manifest hashes against independent implementations, and
byte-identical output for identical input."""
import os
import time
from pathlib import Path

import h5py
import numpy as np
import tifffile
from PIL import Image

from conftest import (check_manifest_files, crc32c, load_manifest, pack, random_seq, snapshot, write_fasta,
                      write_fastq, xxh3_128_hex)

RNG = np.random.default_rng(77)


def _seq_inputs(d):
    d.mkdir()
    for k in range(3):
        write_fasta(d / f"s{k}.fa", [(f"s{k}r{i}", random_seq(RNG, int(RNG.integers(1, 900)), "ACGTNacgt"))
                                     for i in range(15)], width=61)
    return d


def _img_inputs(d):
    (d / "imgs").mkdir(parents=True)
    (d / "masks").mkdir()
    rows = []
    for i in range(6):
        shape = (40, 50) if i % 3 else (30, 20)
        a = (np.add.outer(np.arange(shape[0]), np.arange(shape[1])) * (i + 3)).astype(np.uint16)
        a[::5] = RNG.integers(0, 65535, (len(a[::5]), shape[1]), dtype=np.uint16)
        tifffile.imwrite(d / "imgs" / f"im{i}.tif", a)
        Image.fromarray((a % 7).astype(np.uint8)).save(d / "masks" / f"im{i}.png")
        rows.append(f"im{i},{i % 2}")
    (d / "cls.csv").write_text("\n".join(rows) + "\n")
    return d


def _twice(tmp_path, inputs, opts, envs=(None, None)):
    """The same pack in two directories, more than a second apart (so that a
    timestamp in the files would show), with the same relative paths."""
    outs = []
    for k, w in enumerate(("w1", "w2")):
        if k:
            time.sleep(1.1)
        wd = tmp_path / w
        wd.mkdir()
        pack("out", *inputs, opts=opts, cwd=wd, env=envs[k])
        outs.append(wd / "out")
    return outs


def test_sequence_pack_is_deterministic(tmp_path):
    _seq_inputs(tmp_path / "in")
    a, b = _twice(tmp_path, ["../in"], ["--shard-size", "4K"])
    sa, sb = snapshot(a), snapshot(b)
    assert len(sa) > 3
    assert sa.keys() == sb.keys()
    for name in sa:
        assert sa[name] == sb[name], f"{name} differs between two identical packs"


def test_image_pack_is_deterministic(tmp_path):
    _img_inputs(tmp_path / "in")
    opts = ["--compress", "deflate", "--level", "9", "--labels", "../in/masks", "--classes", "../in/cls.csv",
            "--records-per-shard", "2"]
    # one thread against two: the chunk compression is spread over threads
    a, b = _twice(tmp_path, ["../in/imgs"], opts, envs=({"OMP_NUM_THREADS": "1"}, {"OMP_NUM_THREADS": "2"}))
    sa, sb = snapshot(a), snapshot(b)
    assert len(sa) == 4  # g0: 2 samples (1 shard), g1: 4 samples (2 shards), manifest
    assert sa.keys() == sb.keys()
    for name in sa:
        assert sa[name] == sb[name], f"{name} differs between two identical packs"


def test_sequence_crcs_and_hashes(tmp_path):
    d = _seq_inputs(tmp_path / "in")
    out = tmp_path / "out"
    pack(out, d, opts=["--records-per-shard", "10"])
    m = check_manifest_files(out)  # sizes, records and xxh3-128 of every shard
    for s in m["sources"]:
        data = Path(s["path"]).read_bytes()
        assert s["size"] == len(data)
        assert s["hash"] == "xxh3-128:" + xxh3_128_hex(data)
    n = 0
    for s in m["shards"]:
        with h5py.File(out / s["path"]) as f:
            data, off, crc = f["seq/data"][()], f["seq/offsets"][()], f["seq/crc"][()]
        for i in range(len(crc)):
            assert int(crc[i]) == crc32c(data[off[i]:off[i + 1]].tobytes()), (s["path"], i)
            n += 1
    assert n == 45


def test_fastq_crc_covers_sequence_only(tmp_path):
    write_fastq(tmp_path / "r.fq", [("a", "ACGT", "IIII"), ("b", "GGA", "#!~")])
    pack(tmp_path / "out", tmp_path / "r.fq")
    with h5py.File(tmp_path / "out" / "seq-00000.h5") as f:
        assert [int(c) for c in f["seq/crc"][()]] == [crc32c(b"ACGT"), crc32c(b"GGA")]


def test_image_crcs_little_endian_c_order(tmp_path):
    d = _img_inputs(tmp_path / "in")
    out = tmp_path / "out"
    pack(out, d / "imgs", opts=["--labels", d / "masks", "--classes", d / "cls.csv"])
    m = check_manifest_files(out)
    n = 0
    for s in m["shards"]:
        with h5py.File(out / s["path"]) as f:
            data, crc = f["img/data"][()], f["img/crc"][()]
            lab, lcrc = f["label/data"][()], f["label/crc"][()]
            cls = f["label/class"][()]
        assert data.dtype == np.uint16 and lab.dtype == np.uint8
        for i in range(len(crc)):
            assert int(crc[i]) == crc32c(np.ascontiguousarray(data[i]).astype("<u2").tobytes())
            assert int(lcrc[i]) == crc32c(np.ascontiguousarray(lab[i]).tobytes())
            n += 1
        assert set(cls.tolist()) <= {0, 1}
    assert n == 6


def test_manifest_sources_and_command(tmp_path):
    d = _seq_inputs(tmp_path / "in")
    pack("out", "in", opts=["--records-per-shard", "100"], cwd=tmp_path)
    m = load_manifest(tmp_path / "out")
    assert m["command"] == "biofeed pack -o out --records-per-shard 100 in"
    assert [s["path"] for s in m["sources"]] == ["in/s0.fa", "in/s1.fa", "in/s2.fa"]
    assert m["options"]["records_per_shard"] == 100
    assert m["totals"]["records"] == 45
    assert m["totals"]["record_bytes"] == sum(
        len(b"".join(l for l in (d / f"s{k}.fa").read_bytes().split(b"\n") if not l.startswith(b">")))
        for k in range(3))
