"""Bad input through the CLI: a non-zero exit, a message naming the file
(and line, column or record where there is one), and nothing in the output
directory that looks like a complete pack. Where the directory already held
a complete pack, that pack is left exactly as it was and still verifies."""
import gzip
import os

import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import (assert_no_complete_pack, assert_verifies, bgzf_compress, describe, find_tmp_leftovers,
                      pack, random_seq, run_bf, snapshot, write_fasta, write_fastq)

RNG = np.random.default_rng(99)


def _good_fasta(d, n=3):
    recs = [(f"g{k}", random_seq(RNG, 50 + k)) for k in range(n)]
    return write_fasta(d / f"good{n}.fa", recs)


def _png(path, shape=(16, 16), mode="L"):
    a = RNG.integers(0, 255, shape, dtype=np.uint8)
    Image.fromarray(a, mode).save(path)
    return path


# Each case builds its inputs under d and returns (inputs, options, words the
# error message must contain). Paths are relative to d (the cwd of the run).

def case_empty_fasta(d):
    (d / "empty.fa").write_bytes(b"")
    return ["empty.fa"], [], ["empty.fa", "empty"]


def case_blank_lines_only(d):
    (d / "blank.fa").write_bytes(b"\n\n\n")
    return ["blank.fa"], [], ["blank.fa"]


def case_fasta_no_header(d):
    (d / "nohdr.fa").write_bytes(b"ACGTACGT\n>r\nAC\n")
    return ["nohdr.fa"], [], ["nohdr.fa", "line 1"]


def case_binary_garbage(d):
    g = np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    (d / "garbage.fa").write_bytes(b"\x00" + g)
    return ["garbage.fa"], [], ["garbage.fa", "line 1"]


def case_binary_after_header(d):
    (d / "bin.fa").write_bytes(b">ok\nACGT\n>r2\nAC\x01\x02GT\n")
    return ["bin.fa"], [], ["bin.fa", "line 4, column 3"]


def case_nul_in_header(d):
    (d / "nul.fa").write_bytes(b">a\x00b\nACGT\n")
    return ["nul.fa"], [], ["nul.fa", "line 1"]


def case_truncated_gz(d):
    body = b"".join(b">r%d\n%s\n" % (i, random_seq(RNG, 200).encode()) for i in range(300))
    data = gzip.compress(body)
    (d / "trunc.fa.gz").write_bytes(data[: len(data) // 2])
    return ["trunc.fa.gz"], [], ["trunc.fa.gz", "truncated"]


def case_truncated_bgzf(d):
    body = b"".join(b">r%d\n%s\n" % (i, random_seq(RNG, 200).encode()) for i in range(300))
    data = bgzf_compress(body, block=5000)
    (d / "trunc.fa.bgz").write_bytes(data[:-28])  # cut exactly at a block edge: only the EOF block is missing
    return ["trunc.fa.bgz"], [], ["trunc.fa.bgz", "truncated"]


def case_invalid_dna_char(d):
    (d / "inv.fa").write_bytes(b">r1\nACGTNacgtn\n>r2 x\nACGT\nACJT\n")
    return ["inv.fa"], ["--alphabet", "dna"], ["inv.fa", "line 5, column 3", "r2"]


def case_invalid_in_second_file_after_shards(d):
    # the first file fills (temporary) shards before the second one fails
    write_fasta(d / "a.fa", [(f"a{i}", random_seq(RNG, 100)) for i in range(10)])
    (d / "b.fa").write_bytes(b">b1\nACGU\n")
    return ["a.fa", "b.fa"], ["--alphabet", "dna", "--records-per-shard", "2"], ["b.fa", "line 2, column 4"]


def case_fastq_quality_mismatch(d):
    (d / "bad.fq").write_bytes(b"@q1\nACGT\n+\nIIII\n@q2 desc\nACGTA\n+\nIII\n@q3\nA\n+\nI\n")
    return ["bad.fq"], [], ["bad.fq", "q2", "line 5"]


def case_fastq_truncated(d):
    (d / "cut.fq").write_bytes(b"@q1\nACGT\n+\nIIII\n@q2\nACGT\n")
    return ["cut.fq"], [], ["cut.fq", "q2"]


def case_mixed_fasta_fastq(d):
    (d / "a.fa").write_bytes(b">a\nAC\n")
    (d / "b.fq").write_bytes(b"@b\nAC\n+\nII\n")
    return ["a.fa", "b.fq"], [], ["b.fq", "FASTQ"]


def case_tiff_jpeg(d):
    pytest.importorskip("imagecodecs", reason="tifffile needs imagecodecs to write JPEG-compressed TIFF")
    a = RNG.integers(0, 255, (32, 32), dtype=np.uint8)
    tifffile.imwrite(d / "jpeg.tif", a, compression="jpeg")
    return ["jpeg.tif"], [], ["jpeg.tif", "JPEG", "page 1"]


def case_tiff_1bit(d):
    a = RNG.integers(0, 2, (20, 24), dtype=np.uint8).astype(bool)
    Image.fromarray(a).convert("1").save(d / "bilevel.tif")
    return ["bilevel.tif"], [], ["bilevel.tif", "bit depth 1"]


def case_tiff_late_failure(d):
    # good images first (their shards are written), then the bad one
    for i in range(3):
        _png(d / f"a{i}.png")
    Image.fromarray(np.zeros((8, 8), bool)).convert("1").save(d / "z.tif")
    return ["a0.png", "a1.png", "a2.png", "z.tif"], ["--records-per-shard", "1"], ["z.tif", "bit depth 1"]


def case_truncated_tiff(d):
    tifffile.imwrite(d / "t.tif", RNG.integers(0, 255, (64, 64), dtype=np.uint8))
    data = (d / "t.tif").read_bytes()
    (d / "t.tif").write_bytes(data[:200])
    return ["t.tif"], [], ["t.tif"]


def case_empty_tiff(d):
    (d / "e.tif").write_bytes(b"")
    return ["e.tif"], [], ["e.tif", "empty"]


def case_truncated_png(d):
    _png(d / "t.png", (64, 64))
    data = (d / "t.png").read_bytes()
    (d / "t.png").write_bytes(data[: len(data) // 2])
    return ["t.png"], [], ["t.png"]


def case_not_a_png(d):
    (d / "fake.png").write_bytes(b"this is text, not a PNG file\n")
    return ["fake.png"], [], ["fake.png"]


def case_truncated_nifti(d):
    import nibabel as nib
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.uint16), np.eye(4)), str(d / "v.nii"))
    data = (d / "v.nii").read_bytes()
    (d / "v.nii").write_bytes(data[: len(data) - 100])
    return ["v.nii"], [], ["v.nii"]


def case_mask_shape_differs(d):
    (d / "imgs").mkdir()
    (d / "masks").mkdir()
    _png(d / "imgs" / "a.png", (16, 16))
    _png(d / "masks" / "a.png", (16, 16))
    _png(d / "imgs" / "b.png", (16, 16))
    _png(d / "masks" / "b.png", (16, 15))
    return ["imgs"], ["--labels", "masks"], ["masks/b.png", "imgs/b.png", "16x15"]


def case_mask_missing(d):
    (d / "imgs").mkdir()
    (d / "masks").mkdir()
    _png(d / "imgs" / "a.png")
    _png(d / "imgs" / "b.png")
    _png(d / "masks" / "a_mask.png")
    return ["imgs"], ["--labels", "masks/*_mask.png"], ["imgs/b.png", "masks/b_mask.png"]


def case_class_missing(d):
    _png(d / "a.png")
    _png(d / "b.png")
    (d / "cls.csv").write_text("a,1\n")
    return ["a.png", "b.png"], ["--classes", "cls.csv"], ["b.png", "'b'", "cls.csv"]


def case_h5_without_dataset_option(d):
    import h5py
    with h5py.File(d / "x.h5", "w") as f:
        f["d"] = np.zeros((2, 4, 4), np.uint8)
    return ["x.h5"], [], ["x.h5", "--h5-dataset"]


def case_h5_missing_dataset(d):
    import h5py
    with h5py.File(d / "x.h5", "w") as f:
        f["d"] = np.zeros((2, 4, 4), np.uint8)
    return ["x.h5"], ["--h5-dataset", "/nope/images"], ["x.h5", "/nope"]


def case_unknown_extension(d):
    (d / "notes.txt").write_text(">a\nACGT\n")
    return ["notes.txt"], [], ["notes.txt"]


def case_missing_input(d):
    return ["does-not-exist.fa"], [], ["does-not-exist.fa"]


def case_mixing_fasta_and_images(d):
    (d / "a.fa").write_bytes(b">a\nAC\n")
    _png(d / "b.png")
    return ["a.fa", "b.png"], [], ["a.fa", "b.png"]


def case_dropped_everything(d):
    (d / "short.fa").write_bytes(b">a\nAC\n>b\nACG\n")
    return ["short.fa"], ["--min-length", "10"], ["no records"]


def case_fastq_record_in_fasta(d):
    (d / "m.fa").write_bytes(b">a\nACGT\n@b\nAC\n")
    return ["m.fa"], [], ["m.fa", "line 3"]


def case_fastq_bad_quality_char(d):
    (d / "q.fq").write_bytes(b"@a\nACGT\n+\nII I\n")
    return ["q.fq"], [], ["q.fq", "line 4, column 3"]


def case_empty_directory(d):
    (d / "nothing").mkdir()
    (d / "nothing" / "readme.txt").write_text("x")
    return ["nothing"], [], ["nothing"]


def case_tiff_pages_differ(d):
    with tifffile.TiffWriter(d / "p.tif") as t:
        t.write(np.zeros((10, 10), np.uint8))
        t.write(np.zeros((10, 12), np.uint8))
    return ["p.tif"], [], ["p.tif", "page 2"]


def case_tiff_float64(d):
    tifffile.imwrite(d / "f64.tif", np.zeros((8, 8), np.float64))
    return ["f64.tif"], [], ["f64.tif", "64"]


def case_tiff_uint32(d):
    tifffile.imwrite(d / "u32.tif", np.zeros((8, 8), np.uint32))
    return ["u32.tif"], [], ["u32.tif", "32-bit"]


def case_h5_float64(d):
    import h5py
    with h5py.File(d / "f.h5", "w") as f:
        f["d"] = np.zeros((2, 4, 4), np.float64)
    return ["f.h5"], ["--h5-dataset", "d"], ["f.h5", "float64"]


def case_h5_lzf_filter(d):
    import h5py
    with h5py.File(d / "z.h5", "w") as f:
        f.create_dataset("d", data=np.zeros((2, 4, 4), np.uint8), compression="lzf")
    return ["z.h5"], ["--h5-dataset", "d"], ["z.h5", "filter"]


def case_h5_rank2(d):
    import h5py
    with h5py.File(d / "r.h5", "w") as f:
        f["d"] = np.zeros((4, 4), np.uint8)
    return ["r.h5"], ["--h5-dataset", "d"], ["r.h5", "rank 2"]


def case_h5_sample_axis_out_of_range(d):
    import h5py
    with h5py.File(d / "a.h5", "w") as f:
        f["d"] = np.zeros((2, 4, 4), np.uint8)
    return ["a.h5"], ["--h5-dataset", "d", "--sample-axis", "3"], ["a.h5", "axis 3"]


CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fresh_output(tmp_path, case):
    d = tmp_path / "work"
    d.mkdir()
    inputs, opts, words = CASES[case](d)
    p = run_bf("pack", "-o", "out", *opts, *inputs, cwd=d)
    assert p.returncode != 0, describe(p)
    for w in words:
        assert w in p.stderr, f"expected {w!r} in the message\n{describe(p)}"
    assert p.stderr.startswith("biofeed pack: error: "), describe(p)
    assert_no_complete_pack(d / "out")


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_keeps_previous_pack(tmp_path, case):
    d = tmp_path / "work"
    d.mkdir()
    good = _good_fasta(d, 7)
    pack("out", good.name, opts=["--records-per-shard", "2"], cwd=d)
    before = snapshot(d / "out")
    assert len(before) == 5
    inputs, opts, words = CASES[case](d)
    p = run_bf("pack", "-o", "out", *opts, *inputs, cwd=d)
    assert p.returncode != 0, describe(p)
    for w in words:
        assert w in p.stderr, f"expected {w!r} in the message\n{describe(p)}"
    assert snapshot(d / "out") == before
    assert find_tmp_leftovers(d / "out") == []
    assert_verifies(d / "out")


def test_invalid_replace_reported(tmp_path):
    (tmp_path / "in.fa").write_bytes(b">r1\nACGTJ\nacgtj\n>r2\nACGT\n>r3\nXXAA\n")
    p = pack(tmp_path / "out", tmp_path / "in.fa", opts=["--alphabet", "dna", "--invalid", "replace"])
    assert "replaced 4 byte(s)" in p.stdout, p.stdout
    from conftest import load_manifest, read_seqs
    assert read_seqs(tmp_path / "out") == [("r1", b"ACGTNacgtn", None), ("r2", b"ACGT", None),
                                          ("r3", b"NNAA", None)]
    assert load_manifest(tmp_path / "out")["options"]["invalid"] == "replace"


def test_invalid_replace_protein_uses_x(tmp_path):
    # every letter is valid protein, so only non-letters are replaced: by 'X'
    (tmp_path / "in.faa").write_bytes(b">p\nMK1T\nmk#t\n")
    p = pack(tmp_path / "out", tmp_path / "in.faa", opts=["--alphabet", "protein", "--invalid", "replace"])
    from conftest import read_seqs
    assert read_seqs(tmp_path / "out") == [("p", b"MKXTmkXt", None)]
    assert "replaced 2 byte(s)" in p.stdout


def test_invalid_drop_reported(tmp_path):
    (tmp_path / "in.fa").write_bytes(b">r1\nACGT\n>r2\nACGT\nAJGT\nACGT\n>r3\nTTTT\n>r4\nUUUU\n")
    p = pack(tmp_path / "out", tmp_path / "in.fa", opts=["--alphabet", "dna", "--invalid", "drop"])
    assert "2 for invalid characters" in p.stdout, p.stdout
    from conftest import load_manifest, read_seqs
    assert read_seqs(tmp_path / "out") == [("r1", b"ACGT", None), ("r3", b"TTTT", None)]
    assert load_manifest(tmp_path / "out")["totals"]["records"] == 2


def test_rna_alphabet(tmp_path):
    (tmp_path / "in.fa").write_bytes(b">r1\nACGU\n>r2\nACGT\n")
    p = run_bf("pack", "-o", tmp_path / "out", "--alphabet", "rna", tmp_path / "in.fa")
    assert p.returncode != 0 and "line 4, column 4" in p.stderr, describe(p)
    assert_no_complete_pack(tmp_path / "out")


def test_unwritable_output_directory(tmp_path):
    (tmp_path / "in.fa").write_bytes(b">a\nACGT\n")
    (tmp_path / "plainfile").write_text("I am a file, not a directory\n")
    out = tmp_path / "plainfile" / "out"
    p = run_bf("pack", "-o", out, tmp_path / "in.fa")
    assert p.returncode != 0, describe(p)
    assert "plainfile" in p.stderr, describe(p)
    assert (tmp_path / "plainfile").read_text() == "I am a file, not a directory\n"


def test_output_is_a_regular_file(tmp_path):
    (tmp_path / "in.fa").write_bytes(b">a\nACGT\n")
    (tmp_path / "out").write_text("x")
    p = run_bf("pack", "-o", tmp_path / "out", tmp_path / "in.fa")
    assert p.returncode != 0 and str(tmp_path / "out") in p.stderr, describe(p)
    assert (tmp_path / "out").read_text() == "x"


@pytest.mark.parametrize("args,word", [
    (["--shard-size", "0"], "--shard-size"),
    (["--shard-size", "12Q"], "--shard-size"),
    (["--records-per-shard", "0"], "--records-per-shard"),
    (["--alphabet", "klingon"], "--alphabet"),
    (["--invalid", "ignore"], "--invalid"),
    (["--level", "13"], "--level"),
    (["--pages", "t"], "--pages"),
    (["--compress", "zstd"], "--compress"),
])
def test_bad_options(tmp_path, args, word):
    (tmp_path / "in.fa").write_bytes(b">a\nACGT\n")
    p = run_bf("pack", "-o", tmp_path / "out", *args, tmp_path / "in.fa")
    assert p.returncode == 2, describe(p)
    assert word in p.stderr
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_commit_failure_keeps_previous_pack(tmp_path):
    """pack.h: "on failure the directory holds what it held before". Here the
    new pack fails while committing (a directory sits where its second shard
    must go, so that rename fails): the earlier pack must survive intact."""
    d = tmp_path
    write_fasta(d / "old.fa", [("o1", "ACGT" * 10)])
    pack("out", "old.fa", cwd=d)
    (d / "out" / "seq-00001.h5").mkdir()  # in the way of the new pack's second shard
    (d / "out" / "seq-00001.h5" / "keep").write_text("x")
    before = snapshot(d / "out")
    write_fasta(d / "new.fa", [("n1", "GGGG" * 5), ("n2", "TTTT" * 5)])
    p = run_bf("pack", "-o", "out", "--records-per-shard", "1", "new.fa", cwd=d)
    assert p.returncode != 0, describe(p)
    assert "seq-00001.h5" in p.stderr, describe(p)
    assert snapshot(d / "out") == before, "the failed commit changed the previous pack's files"
    assert_verifies(d / "out")
