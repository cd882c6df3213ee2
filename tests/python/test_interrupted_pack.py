"""A pack killed with SIGKILL part-way leaves no manifest and only hidden
temporaries named for its pid; the next pack into the same directory
succeeds, removes them, and its result verifies. Killed at random points of
a whole pack (commit included), verify accepts the directory only when it
holds a complete pack, the previous one or the new one, with every record."""
import os
import random
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import (BIOFEED, assert_verifies, check_manifest_files, find_tmp_leftovers, pack, snapshot, verify,
                      visible_files, write_fasta)

# About 120 MB: the ASan build packs it in a few seconds, so a kill at 0.3 s
# lands well before the commit.
N_BLOCKS = 1500


# Kills at random points need a pack short enough to run whole several
# times: about 24 MB.
N_MID_BLOCKS = 300


def _write_blocks(path, n_blocks):
    rng = np.random.default_rng(0)
    line = "".join("ACGT"[i] for i in rng.integers(0, 4, 100)) + "\n"
    block = "".join(f">r{{}}_{i}\n" + line * 8 for i in range(100))
    with open(path, "w") as f:
        for b in range(n_blocks):
            f.write(block.replace("{}", str(b)))
    return path


@pytest.fixture(scope="module")
def big_fasta(tmp_path_factory):
    return _write_blocks(tmp_path_factory.mktemp("bigin") / "big.fa", N_BLOCKS)


@pytest.fixture(scope="module")
def mid_fasta(tmp_path_factory):
    return _write_blocks(tmp_path_factory.mktemp("midin") / "mid.fa", N_MID_BLOCKS)


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


def _visible(out):
    return {n: b for n, b in snapshot(out).items() if not n.startswith(".")} if out.exists() else {}


@pytest.mark.slow
@pytest.mark.parametrize("previous", [False, True], ids=["fresh", "over-previous"])
def test_sigkill_at_random_points(tmp_path, mid_fasta, previous):
    opts = ["-q", "--shard-size", "2M"]
    t0 = time.monotonic()
    pack(tmp_path / "timed", mid_fasta, opts=opts)
    whole = time.monotonic() - t0
    small = tmp_path / "small.fa"
    write_fasta(small, [(f"s{i}", "ACGT" * (i + 1)) for i in range(5)])
    rng = random.Random(2026)
    outcomes = set()
    for k in range(5):
        out = tmp_path / f"out{k}"
        if previous:
            pack(out, small, opts=["--records-per-shard", "2"])
        before = _visible(out)
        at = rng.uniform(0.0, whole * 1.1)
        p = subprocess.Popen([BIOFEED, "pack", *opts, "-o", str(out), str(mid_fasta)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(at)
        p.send_signal(signal.SIGKILL)
        p.wait()
        now = _visible(out)
        accepted = out.exists() and verify(out).returncode == 0
        if previous and now == before:
            outcome = "previous"
            assert accepted, f"kill at {at:.2f} s: the previous pack no longer verifies"
        elif "manifest.json" in now:
            outcome = "new"
            assert accepted, f"kill at {at:.2f} s: a manifest is in place but verify rejects the directory"
            assert check_manifest_files(out)["totals"]["records"] == N_MID_BLOCKS * 100
        else:
            outcome = "incomplete"
            assert not accepted, f"kill at {at:.2f} s: verify accepts a directory without a complete pack"
        outcomes.add(outcome)
    assert outcomes - {"new"}, f"every kill landed after the pack finished ({whole:.2f} s); outcomes {outcomes}"
