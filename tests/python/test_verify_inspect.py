"""`biofeed verify` and `biofeed inspect` on good and damaged packs."""
import json
import os
import re

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import (assert_verifies, check_manifest_files, describe, load_manifest, pack, random_seq, run_bf,
                      verify, write_fasta, write_fastq)

RNG = np.random.default_rng(31)


@pytest.fixture
def seq_pack(tmp_path):
    recs = [(f"r{i} d", random_seq(RNG, int(RNG.integers(20, 300)), "ACGTacgt")) for i in range(12)]
    write_fasta(tmp_path / "in.fa", recs)
    out = tmp_path / "out"
    pack(out, tmp_path / "in.fa", opts=["--records-per-shard", "5"])
    return out, recs


@pytest.fixture
def img_pack(tmp_path):
    d = tmp_path / "imgs"
    (d).mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(4):
        tifffile.imwrite(d / f"i{i}.tif", RNG.integers(0, 60000, (20, 24), dtype=np.uint16))
        Image.fromarray(RNG.integers(0, 4, (20, 24), dtype=np.uint8)).save(tmp_path / "masks" / f"i{i}.png")
    out = tmp_path / "iout"
    pack(out, d, opts=["--labels", tmp_path / "masks", "--records-per-shard", "2"])
    return out


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x20]))


def bad_lines(p):
    return [l for l in p.stdout.splitlines() if l.startswith("BAD ")]


def test_verify_good_packs(seq_pack, img_pack):
    out, recs = seq_pack
    p = assert_verifies(out)
    assert "3 shard(s), 12 record(s)" in p.stdout, p.stdout
    p = assert_verifies(img_pack)
    assert "2 shard(s), 4 record(s)" in p.stdout, p.stdout
    for s in load_manifest(out)["shards"]:
        assert_verifies(out / s["path"])


def test_verify_flipped_sequence_byte(seq_pack):
    out, recs = seq_pack
    shard = out / "seq-00001.h5"
    with h5py.File(shard) as f:
        base = f["seq/data"].id.get_offset()
        off = f["seq/offsets"][()]
    k = 3
    rec_start = base + int(off[k])
    flip_byte(shard, rec_start + 7)
    with h5py.File(shard) as f:  # the flip landed inside record k's bytes
        data = f["seq/data"][()]
        assert data[off[k] + 7] != ord(recs[5 + k][1][7])
    p = verify(out)
    assert p.returncode == 1, describe(p)
    lines = [l for l in bad_lines(p) if "seq-00001.h5" in l and f"record {k} " in l]
    assert lines, describe(p)
    m = re.search(r"offset (\d+)", lines[0])
    assert m and int(m.group(1)) == rec_start, describe(p)
    assert "CRC32C" in lines[0]
    # the whole-file hash is wrong too, and no other shard is blamed
    assert any("seq-00001.h5" in l and "hash" in l for l in bad_lines(p)), describe(p)
    assert not [l for l in bad_lines(p) if "seq-00001.h5" not in l], describe(p)
    # verify on the shard alone checks record CRCs
    p = verify(shard)
    assert p.returncode == 1, describe(p)
    assert any(f"record {k} offset {rec_start}" in l for l in bad_lines(p)), describe(p)


def test_verify_flipped_image_and_label_bytes(img_pack):
    shard = img_pack / "img-g0-00001.h5"
    with h5py.File(shard) as f:
        img_off = f["img/data"].id.get_chunk_info_by_coord((1, 0, 0, 0)).byte_offset
        lab_off = f["label/data"].id.get_chunk_info_by_coord((0, 0, 0)).byte_offset
    flip_byte(shard, img_off + 5)
    flip_byte(shard, lab_off + 3)
    p = verify(img_pack)
    assert p.returncode == 1, describe(p)
    assert any("img-g0-00001.h5" in l and f"record 1 offset {img_off}" in l for l in bad_lines(p)), describe(p)
    assert any("img-g0-00001.h5" in l and f"record 0 offset {lab_off}" in l and "label" in l
               for l in bad_lines(p)), describe(p)


def test_verify_truncated_shard(seq_pack):
    out, _ = seq_pack
    shard = out / "seq-00002.h5"
    size = os.path.getsize(shard)
    os.truncate(shard, size // 2)
    p = verify(out)
    assert p.returncode == 1, describe(p)
    assert any("seq-00002.h5" in l for l in bad_lines(p)), describe(p)
    p = verify(shard)
    assert p.returncode != 0, describe(p)
    assert "seq-00002.h5" in p.stdout + p.stderr


def test_verify_deleted_shard(seq_pack):
    out, _ = seq_pack
    (out / "seq-00000.h5").unlink()
    p = verify(out)
    assert p.returncode == 1, describe(p)
    assert any("seq-00000.h5" in l for l in bad_lines(p)), describe(p)


def test_verify_manifest_hash_edited(seq_pack):
    out, _ = seq_pack
    m = load_manifest(out)
    h = m["shards"][1]["hash"]
    m["shards"][1]["hash"] = h[:-1] + ("0" if h[-1] != "0" else "1")
    (out / "manifest.json").write_text(json.dumps(m, indent=1))
    p = verify(out)
    assert p.returncode == 1, describe(p)
    lines = bad_lines(p)
    assert len(lines) == 1 and "seq-00001.h5" in lines[0] and "hash" in lines[0], describe(p)


def test_verify_manifest_size_and_records_edited(seq_pack):
    out, _ = seq_pack
    m = load_manifest(out)
    m["shards"][0]["size"] += 1
    m["shards"][2]["records"] += 1
    (out / "manifest.json").write_text(json.dumps(m))
    p = verify(out)
    assert p.returncode == 1, describe(p)
    assert any("seq-00000.h5" in l for l in bad_lines(p)), describe(p)
    assert any("seq-00002.h5" in l for l in bad_lines(p)), describe(p)


def test_verify_missing_manifest(seq_pack):
    out, _ = seq_pack
    (out / "manifest.json").unlink()
    p = verify(out)
    assert p.returncode != 0, describe(p)
    assert "manifest.json" in p.stderr


def test_verify_shard_outside_directory_refused(seq_pack, tmp_path):
    out, _ = seq_pack
    m = load_manifest(out)
    m["shards"][0]["path"] = "../in.fa"
    (out / "manifest.json").write_text(json.dumps(m))
    p = verify(out)
    assert p.returncode != 0, describe(p)


def test_inspect_sequence_dataset_and_shard(seq_pack):
    out, recs = seq_pack
    p = run_bf("inspect", out)
    assert p.returncode == 0, describe(p)
    assert "kind: sequence" in p.stdout
    assert "records: 12" in p.stdout
    assert "shards: 3" in p.stdout
    for name, n in (("seq-00000.h5", 5), ("seq-00001.h5", 5), ("seq-00002.h5", 2)):
        assert re.search(rf"{name}\s+{n} records", p.stdout), p.stdout
    total = sum(len(s) for _, s in recs)
    assert f"total {total}" in p.stdout
    p = run_bf("inspect", out / "seq-00002.h5")
    assert p.returncode == 0, describe(p)
    assert "2 records" in p.stdout
    assert "access: open" in p.stdout
    assert "provenance: " in p.stdout


def test_inspect_fastq_shard_mentions_quality(tmp_path):
    write_fastq(tmp_path / "r.fq", [("a", "ACGT", "IIII"), ("b", "AC", "##")])
    pack(tmp_path / "out", tmp_path / "r.fq")
    p = run_bf("inspect", tmp_path / "out")
    assert p.returncode == 0 and "+quality" in p.stdout, describe(p)


def test_inspect_image_dataset(img_pack):
    p = run_bf("inspect", img_pack)
    assert p.returncode == 0, describe(p)
    assert "kind: image" in p.stdout
    assert "records: 4" in p.stdout
    assert "uint16 [1, 20, 24]" in p.stdout
    assert "labels uint8" in p.stdout
    p = run_bf("inspect", img_pack / "img-g0-00000.h5")
    assert p.returncode == 0, describe(p)
    assert "uint16 [1, 20, 24]" in p.stdout and "2 records" in p.stdout


def test_inspect_and_verify_not_a_dataset(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    for cmd in ("inspect", "verify"):
        p = run_bf(cmd, tmp_path / "empty")
        assert p.returncode != 0, describe(p)
        p = run_bf(cmd, tmp_path / "junk.h5")
        assert p.returncode != 0, describe(p)
        assert "junk.h5" in p.stdout + p.stderr


def test_verify_corrupt_deflated_chunk(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(3):
        a = (np.add.outer(np.arange(30), np.arange(40)) * (i + 1)).astype(np.uint16)
        tifffile.imwrite(d / f"i{i}.tif", a)
    out = tmp_path / "out"
    pack(out, d, opts=["--compress", "deflate"])
    shard = out / "img-g0-00000.h5"
    with h5py.File(shard) as f:
        info = f["img/data"].id.get_chunk_info_by_coord((1, 0, 0, 0))
    assert info.filter_mask == 0  # really deflated
    flip_byte(shard, info.byte_offset + info.size // 2)
    p = verify(out)
    assert p.returncode == 1, describe(p)
    assert any("img-g0-00000.h5" in l and f"record 1 offset {info.byte_offset}" in l for l in bad_lines(p)), \
        describe(p)
    assert not any("record 0" in l or "record 2" in l for l in bad_lines(p)), describe(p)


def test_inspect_length_statistics(tmp_path):
    lens = [5, 1, 9, 30, 2, 2, 14, 7, 3, 100, 8]
    write_fasta(tmp_path / "in.fa", [(f"r{i}", "A" * n) for i, n in enumerate(lens)])
    pack(tmp_path / "out", tmp_path / "in.fa", opts=["--records-per-shard", "4"])
    p = run_bf("inspect", tmp_path / "out")
    assert p.returncode == 0, describe(p)
    s = sorted(lens)
    acc, n50 = 0, None
    for v in sorted(lens, reverse=True):
        acc += v
        if 2 * acc >= sum(lens):
            n50 = v
            break
    assert f"min {s[0]} " in p.stdout and f"max {s[-1]} " in p.stdout, p.stdout
    assert f"N50 {n50} " in p.stdout and f"total {sum(lens)}" in p.stdout, p.stdout
    assert f"mean {sum(lens) / len(lens):.1f}" in p.stdout, p.stdout


def test_quiet_and_unrelated_files_kept(tmp_path):
    write_fasta(tmp_path / "in.fa", [("a", "ACGT")])
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "seq-old.txt").write_text("also mine")
    p = pack(out, tmp_path / "in.fa", opts=["-q"])
    assert p.stdout == "" and p.stderr == "", describe(p)
    p = pack(out, tmp_path / "in.fa")
    assert "packed 1 records into 1 shard(s)" in p.stdout
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "seq-old.txt").read_text() == "also mine"
    assert_verifies(out)
