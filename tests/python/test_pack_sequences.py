"""FASTA/FASTQ packs read back byte for byte with h5py."""
import gzip
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import (BGZF_EOF, bgzf_compress, check_manifest_files, crc32c, gz, load_manifest, pack,
                      random_seq, read_seq_shard, read_seqs, write_fasta, write_fastq)


def fasta_bytes_records(records):
    return [(h, s.encode(), None) for h, s in records]


@pytest.fixture
def mixed_case_records():
    rng = np.random.default_rng(7)
    return [
        ("chr1 first record, with description", random_seq(rng, 150, "ACGTacgtNn")),
        ("chr2", random_seq(rng, 61, "ACGT")),
        ("lower", random_seq(rng, 7, "acgtn")),
        ("x y\tz", random_seq(rng, 240, "ACGTRYKMacgt")),
    ]


def test_fasta_multiline_roundtrip(tmp_path, mixed_case_records):
    fa = write_fasta(tmp_path / "in.fa", mixed_case_records, width=60)
    pack(tmp_path / "out", fa)
    assert read_seqs(tmp_path / "out") == fasta_bytes_records(mixed_case_records)
    m = check_manifest_files(tmp_path / "out")
    assert m["kind"] == "sequence"
    assert [s["path"] for s in m["shards"]] == ["seq-00000.h5"]
    assert m["schema"]["quality"] is False
    assert m["totals"]["records"] == 4
    assert m["totals"]["record_bytes"] == sum(len(s) for _, s in mixed_case_records)
    assert m["sources"][0]["size"] == os.path.getsize(fa)


def test_fasta_crlf_and_blank_lines(tmp_path):
    (tmp_path / "in.fa").write_bytes(b">a one\r\nACGT\r\n\r\nacgt\r\n>b\r\nGG\r\n\n")
    pack(tmp_path / "out", tmp_path / "in.fa")
    assert read_seqs(tmp_path / "out") == [("a one", b"ACGTacgt", None), ("b", b"GG", None)]


def test_fasta_empty_record_kept(tmp_path):
    (tmp_path / "in.fa").write_bytes(b">a\nAC\n>empty\n>c\nTTT\n")
    pack(tmp_path / "out", tmp_path / "in.fa")
    assert read_seqs(tmp_path / "out") == [("a", b"AC", None), ("empty", b"", None), ("c", b"TTT", None)]


def test_fastq_roundtrip_with_quality(tmp_path):
    rng = np.random.default_rng(3)
    recs = []
    for i in range(20):
        n = int(rng.integers(1, 120))
        s = random_seq(rng, n, "ACGTN")
        q = "".join(chr(33 + int(v)) for v in rng.integers(0, 42, n))
        recs.append((f"read{i} lane=1", s, q))
    # a quality string that starts with '@' must not be taken for a header
    recs.append(("atq", "ACGT", "@@II"))
    fq = write_fastq(tmp_path / "r.fastq", recs)
    pack(tmp_path / "out", fq)
    got = read_seqs(tmp_path / "out")
    assert got == [(h, s.encode(), q.encode()) for h, s, q in recs]
    m = load_manifest(tmp_path / "out")
    assert m["schema"]["quality"] is True


def test_fastq_multiline(tmp_path):
    (tmp_path / "m.fq").write_bytes(b"@r1\nACGT\nAC\n+\nIIII\n#!\n@r2\nA\n+r2\n@\n")
    pack(tmp_path / "out", tmp_path / "m.fq")
    assert read_seqs(tmp_path / "out") == [("r1", b"ACGTAC", b"IIII#!"), ("r2", b"A", b"@")]


def test_fasta_gz_roundtrip(tmp_path, mixed_case_records):
    plain = write_fasta(tmp_path / "plain.fa", mixed_case_records, width=50)
    (tmp_path / "in.fa.gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    pack(tmp_path / "out", tmp_path / "in.fa.gz")
    assert read_seqs(tmp_path / "out") == fasta_bytes_records(mixed_case_records)


def test_fasta_gz_multimember(tmp_path):
    # concatenated gzip members (as from `cat a.gz b.gz`) are one stream
    (tmp_path / "in.fa.gz").write_bytes(gz(b">a\nAC\nGT\n") + gz(b">b\nTT\n"))
    pack(tmp_path / "out", tmp_path / "in.fa.gz")
    assert read_seqs(tmp_path / "out") == [("a", b"ACGT", None), ("b", b"TT", None)]


def test_bgzf_python_writer_roundtrip(tmp_path):
    rng = np.random.default_rng(11)
    recs = [(f"s{i}", random_seq(rng, int(rng.integers(100, 3000)), "ACGTacgt")) for i in range(60)]
    plain = write_fasta(tmp_path / "p.fa", recs, width=70).read_bytes()
    data = bgzf_compress(plain, block=4000)  # many blocks, records cross block edges
    assert data.endswith(BGZF_EOF)
    (tmp_path / "in.fa.bgz").write_bytes(data)
    (tmp_path / "p.fa").unlink()
    pack(tmp_path / "out", tmp_path / "in.fa.bgz")
    assert read_seqs(tmp_path / "out") == fasta_bytes_records(recs)


def test_bgzf_bgzip_roundtrip(tmp_path, mixed_case_records):
    bgzip = shutil.which("bgzip")
    if not bgzip:
        pytest.skip("bgzip not on PATH (Debian package tabix); BGZF is covered by the Python BGZF writer test")
    write_fasta(tmp_path / "in.fa", mixed_case_records)
    subprocess.run([bgzip, "-f", str(tmp_path / "in.fa")], check=True)
    pack(tmp_path / "out", tmp_path / "in.fa.gz")
    assert read_seqs(tmp_path / "out") == fasta_bytes_records(mixed_case_records)


def test_protein_fasta(tmp_path):
    recs = [("sp|P1|X protein one", "MKTAYIAKQRQISFVKSHFSRQ*"), ("p2", "mktay-iakqX*"),
            ("p3", "ACDEFGHIKLMNPQRSTVWYBZUOJ")]
    fa = write_fasta(tmp_path / "p.faa", recs, width=10)
    pack(tmp_path / "out", fa, opts=["--alphabet", "protein"])
    assert read_seqs(tmp_path / "out") == fasta_bytes_records(recs)
    m = load_manifest(tmp_path / "out")
    assert m["options"]["alphabet"] == "protein"
    assert m["schema"]["alphabet"] == "protein"


def _many_records(tmp_path, n_files=3, per_file=7, seed=5):
    rng = np.random.default_rng(seed)
    all_recs, files = [], []
    for k in range(n_files):
        recs = [(f"f{k}r{i}", random_seq(rng, int(rng.integers(1, 400)))) for i in range(per_file)]
        files.append(write_fasta(tmp_path / f"in{k}.fa", recs))
        all_recs += recs
    return files, all_recs


def test_records_per_shard(tmp_path):
    files, recs = _many_records(tmp_path)
    pack(tmp_path / "out", *files, opts=["--records-per-shard", "4"])
    m = check_manifest_files(tmp_path / "out")
    assert [s["path"] for s in m["shards"]] == [f"seq-{i:05d}.h5" for i in range(6)]
    assert [s["records"] for s in m["shards"]] == [4, 4, 4, 4, 4, 1]
    assert read_seqs(tmp_path / "out") == fasta_bytes_records(recs)
    # each shard's provenance names exactly the inputs its records came from
    per_shard = [read_seq_shard(tmp_path / "out" / s["path"]) for s in m["shards"]]
    import h5py
    for s, rs in zip(m["shards"], per_shard):
        with h5py.File(tmp_path / "out" / s["path"]) as f:
            prov = json.loads(f.attrs["provenance"])
        want = sorted({f"in{int(name[1])}.fa" for name, _, _ in rs})
        assert sorted(os.path.basename(x["path"]) for x in prov["sources"]) == want


def test_shard_size_never_splits_records(tmp_path):
    files, recs = _many_records(tmp_path, seed=9)
    recs.append(("huge", "ACGT" * 700))  # bigger than a whole shard: gets one of its own
    write_fasta(tmp_path / "in9.fa", [recs[-1]])
    files.append(tmp_path / "in9.fa")
    limit = 1024
    pack(tmp_path / "out", *files, opts=["--shard-size", "1K"])
    m = check_manifest_files(tmp_path / "out")
    # the greedy rule: a shard closes when the next record would pass the limit
    expect, cur, cur_len = [], 0, 0
    for _, s in recs:
        if cur and cur_len + len(s) > limit:
            expect.append(cur)
            cur, cur_len = 0, 0
        cur += 1
        cur_len += len(s)
    expect.append(cur)
    assert [s["records"] for s in m["shards"]] == expect
    out = tmp_path / "out"
    for s in m["shards"]:
        rs = read_seq_shard(out / s["path"])
        nbytes = sum(len(x[1]) for x in rs)
        assert nbytes <= limit or len(rs) == 1
    assert read_seqs(out) == fasta_bytes_records(recs)


def test_directory_input_sorted_recursive(tmp_path):
    d = tmp_path / "in"
    (d / "b").mkdir(parents=True)
    (d / "b" / "sub").mkdir()
    write_fasta(d / "c.fa", [("c", "CCCC")])
    write_fasta(d / "a.fasta", [("a", "AAAA")])
    write_fasta(d / "b" / "z.fna", [("bz", "GGGG")])
    write_fasta(d / "b" / "sub" / "y.fa", [("bsy", "TTTT")])
    write_fasta(d / "b" / "a.fa", [("ba", "NNNN")])
    (d / "README.txt").write_text("not an input")
    write_fasta(d / ".hidden.fa", [("hidden", "ACGT")])
    pack(tmp_path / "out", d)
    names = [r[0] for r in read_seqs(tmp_path / "out")]
    # sorted by name within each directory, directories expanded in place
    assert names == ["a", "ba", "bsy", "bz", "c"]
    m = load_manifest(tmp_path / "out")
    assert [os.path.relpath(s["path"], d) for s in m["sources"]] == [
        "a.fasta", "b/a.fa", "b/sub/y.fa", "b/z.fna", "c.fa"]


def test_length_filters(tmp_path):
    recs = [("a", "A" * 5), ("b", "C" * 10), ("c", "G" * 20), ("d", "T" * 11)]
    fa = write_fasta(tmp_path / "in.fa", recs)
    p = pack(tmp_path / "out", fa, opts=["--min-length", "10", "--max-length", "11"])
    assert [r[0] for r in read_seqs(tmp_path / "out")] == ["b", "d"]
    assert "dropped 2 record(s) by length" in p.stdout


def test_stale_shards_of_previous_pack_removed(tmp_path):
    files, recs = _many_records(tmp_path)
    out = tmp_path / "out"
    pack(out, *files, opts=["--records-per-shard", "2"])
    assert len(load_manifest(out)["shards"]) == 11
    pack(out, *files, opts=["--records-per-shard", "10"])
    m = check_manifest_files(out)  # also: no file beyond manifest + listed shards
    assert len(m["shards"]) == 3
    assert read_seqs(out) == fasta_bytes_records(recs)


def test_crc_matches_python_crc32c(tmp_path):
    rng = np.random.default_rng(1)
    recs = [(f"r{i}", random_seq(rng, int(rng.integers(0, 2000)), "ACGTacgtN-")) for i in range(30)]
    pack(tmp_path / "out", write_fasta(tmp_path / "in.fa", recs), opts=["--records-per-shard", "8"])
    import h5py
    for p in sorted((tmp_path / "out").glob("seq-*.h5")):
        with h5py.File(p) as f:
            data, off, crc = f["seq/data"][()], f["seq/offsets"][()], f["seq/crc"][()]
        for i in range(len(crc)):
            assert int(crc[i]) == crc32c(data[off[i]:off[i + 1]].tobytes())
    check_manifest_files(tmp_path / "out")  # sizes and xxh3-128 hashes


@pytest.mark.parametrize("rps", [None, "1"])
def test_empty_record_first_in_shard(tmp_path, rps):
    # a zero-length record that opens a shard (here: the first record)
    (tmp_path / "in.fa").write_bytes(b">empty\n>s\nACGT\n>e2\n>t\nGG\n")
    opts = ["--records-per-shard", rps] if rps else []
    pack(tmp_path / "out", tmp_path / "in.fa", opts=opts)
    assert read_seqs(tmp_path / "out") == [("empty", b"", None), ("s", b"ACGT", None), ("e2", b"", None),
                                          ("t", b"GG", None)]


def test_empty_fastq_record_first(tmp_path):
    (tmp_path / "in.fq").write_bytes(b"@e\n\n+\n\n@s\nAC\n+\nII\n")
    pack(tmp_path / "out", tmp_path / "in.fq")
    assert read_seqs(tmp_path / "out") == [("e", b"", b""), ("s", b"AC", b"II")]


def test_header_bytes_kept(tmp_path):
    # UTF-8 headers read back as text; other bytes at least come back unchanged as bytes
    (tmp_path / "in.fa").write_bytes(">µ-sample größe\nACGT\n".encode() + b">caf\xe9 latin-1\nAC\n")
    pack(tmp_path / "out", tmp_path / "in.fa")
    import h5py
    with h5py.File(tmp_path / "out" / "seq-00000.h5") as f:
        raw = list(f["seq/names"][()])
    assert raw == ["µ-sample größe".encode(), b"caf\xe9 latin-1"]


def test_sequence_pack_replaces_image_pack(tmp_path):
    from PIL import Image
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(3):
        Image.fromarray(np.full((4, 4), i, np.uint8)).save(d / f"{i}.png")
    out = tmp_path / "out"
    pack(out, d, opts=["--records-per-shard", "1"])
    assert len(load_manifest(out)["shards"]) == 3
    pack(out, write_fasta(tmp_path / "a.fa", [("a", "ACGT")]))
    m = check_manifest_files(out)  # the image shards are gone
    assert m["kind"] == "sequence" and [s["path"] for s in m["shards"]] == ["seq-00000.h5"]
