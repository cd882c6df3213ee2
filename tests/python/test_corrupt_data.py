"""Corrupt records through the command and the Python module: with
on_corrupt: error `biofeed run` fails naming shard, record and byte offset;
with on_corrupt: skip it finishes, the summary counts the skip, and the
module's faults() reports it while the replaced row carries the next sample.
The record is damaged on disk at the byte h5py says it is stored at."""
import shutil

import h5py
import numpy as np
import pytest

import loader_support as ls

YAML = """\
datasets: [{path}]
batch_size: 8
sampling: {{order: none, drop_last: true}}
sequence: {{tokenizer: dna, max_len: 320}}
device: cpu
on_corrupt: {mode}
"""


@pytest.fixture
def damaged(tmp_path):
    """A copy of the 'dna' dataset whose record 5 has one byte flipped;
    returns (dataset dir, shard path, the record's byte offset)."""
    ds = tmp_path / "dna"
    shutil.copytree(ls.dataset("dna"), ds)
    shard = ds / "seq-00000.h5"
    with h5py.File(shard, "r") as f:
        offsets = f["/seq/offsets"][...]
        at = f["/seq/data"].id.get_offset() + int(offsets[5])
        length = int(offsets[6] - offsets[5])
    with open(shard, "r+b") as f:
        f.seek(at + length // 2)
        b = f.read(1)
        f.seek(at + length // 2)
        f.write(bytes([b[0] ^ 0x5A]))
    return ds, shard, at


def config(tmp_path, ds, mode):
    c = tmp_path / f"{mode}.yaml"
    c.write_text(YAML.format(path=ds, mode=mode))
    return c


def test_run_fails_naming_shard_record_offset(damaged, tmp_path):
    ds, shard, at = damaged
    p = ls.run_biofeed("run", config(tmp_path, ds, "error"), "-q", check=False)
    assert p.returncode == 1, p.stdout + p.stderr
    assert str(shard) in p.stderr and "record 5" in p.stderr and f"byte offset {at}" in p.stderr, p.stderr


def test_run_skips_and_says_so(damaged, tmp_path):
    ds, shard, at = damaged
    p = ls.run_biofeed("run", config(tmp_path, ds, "skip"), "-q")
    line = f"on_corrupt: skip: 1 corrupt record(s) skipped, 1 row(s) replaced; the last: {shard} record 5 at byte offset {at}"
    assert line in p.stdout, p.stdout


def test_module_faults(damaged, tmp_path):
    try:
        bf = ls.biofeed_module()
    except ls.ModuleUnavailable as e:
        pytest.fail(str(e))
    ds, shard, at = damaged
    loader = bf.Loader(str(config(tmp_path, ds, "skip")))
    assert loader.faults() == {"records_skipped": 0, "rows_replaced": 0, "last_shard": None, "last_record": 0,
                               "last_offset": 0}
    samples = np.concatenate([np.from_dlpack(b["sample"]).copy() for b in loader])
    assert samples[5] == 6 and samples[6] == 6
    assert np.array_equal(np.delete(samples, 5), np.delete(np.arange(len(samples)), 5))
    f = loader.faults()
    assert f == {"records_skipped": 1, "rows_replaced": 1, "last_shard": str(shard), "last_record": 5,
                 "last_offset": at}
    loader.close()
