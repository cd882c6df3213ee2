"""A pack killed with SIGKILL part-way leaves no manifest and only hidden
temporaries named for its pid; the next pack into the same directory
succeeds, removes them, and its result verifies."""
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import (BIOFEED, assert_verifies, check_manifest_files, find_tmp_leftovers, pack, snapshot,
                      visible_files, write_fasta)

# About 120 MB: the ASan build packs it in a few seconds, so a kill at 0.3 s
# lands well before the commit.
N_BLOCKS = 1500


@pytest.fixture(scope="module")
def big_fasta(tmp_path_factory):
    d = tmp_path_factory.mktemp("bigin")
    rng = np.random.default_rng(0)
    line = "".join("ACGT"[i] for i in rng.integers(0, 4, 100)) + "\n"
    block = "".join(f">r{{}}_{i}\n" + line * 8 for i in range(100))
    path = d / "big.fa"
    with open(path, "w") as f:
        for b in range(N_BLOCKS):
            f.write(block.replace("{}", str(b)))
    return path


def _kill_midway(cmd, cwd, out):
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)
    # wait (briefly) for the first temporary shard so the kill lands mid-write
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and p.poll() is None:
        if out.exists() and find_tmp_leftovers(out, p.pid):
            break
        time.sleep(0.02)
    still_running = p.poll() is None
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stderr.close()
    assert still_running, "the pack finished before it could be interrupted; make the input bigger"
    assert p.returncode == -signal.SIGKILL
    return p.pid


@pytest.mark.slow
def test_sigkill_then_rerun(tmp_path, big_fasta):
    out = tmp_path / "out"
    cmd = [BIOFEED, "pack", "-q", "-o", str(out), "--shard-size", "8M", str(big_fasta)]
    pid = _kill_midway(cmd, tmp_path, out)
    names = os.listdir(out) if out.exists() else []
    assert "manifest.json" not in names
    assert visible_files(out) == [], f"visible files after the kill: {visible_files(out)}"
    assert sorted(names) == find_tmp_leftovers(out, pid), names  # only '.<name>.tmp.<pid>'
    # the same pack again: succeeds, verifies, and leaves nothing else behind
    pack(out, big_fasta, opts=["-q", "--shard-size", "8M"])
    assert find_tmp_leftovers(out) == []
    assert [n for n in os.listdir(out) if n.startswith(".")] == []
    m = check_manifest_files(out)
    assert m["totals"]["records"] == N_BLOCKS * 100
    assert len(m["shards"]) > 10
    assert_verifies(out)


@pytest.mark.slow
def test_sigkill_keeps_previous_pack(tmp_path, big_fasta):
    out = tmp_path / "out"
    write_fasta(tmp_path / "small.fa", [(f"s{i}", "ACGT" * (i + 1)) for i in range(5)])
    pack(out, tmp_path / "small.fa", opts=["--records-per-shard", "2"])
    before = snapshot(out)
    cmd = [BIOFEED, "pack", "-q", "-o", str(out), "--shard-size", "8M", str(big_fasta)]
    pid = _kill_midway(cmd, tmp_path, out)
    after = {n: b for n, b in snapshot(out).items() if not n.startswith(".")}
    assert after == before
    assert sorted(n for n in os.listdir(out) if n.startswith(".")) == find_tmp_leftovers(out, pid)
    assert_verifies(out)
    # a later (small) pack cleans the dead pack's temporaries
    pack(out, tmp_path / "small.fa")
    assert [n for n in os.listdir(out) if n.startswith(".")] == []
    check_manifest_files(out)
    assert_verifies(out)
