"""`biofeed stage`: copies exactly the shards a rank owns (balanced, or from
an owner map) to node-local storage, each checked against the manifest,
then the manifest; a second run copies nothing, a damaged copy is
replaced, and bad input fails with a message naming what is wrong. The rank
and world size come from torchrun-style variables here, as under a launcher.
"""
import json
import os
import numpy as np

import pytest

from conftest import describe, pack, random_seq, run_bf, write_fasta

WORLD = 3


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("stage")
    rng = np.random.default_rng(7)
    recs = [(f"r{i}", random_seq(rng, int(rng.integers(50, 400)))) for i in range(40)]
    write_fasta(d / "in.fa", recs)
    out = d / "data"
    pack(out, d / "in.fa", opts=("--records-per-shard", "4"))
    return out


def manifest(path):
    return json.loads((path / "manifest.json").read_text())


def stage(dataset, dest, rank, world=WORLD, *extra):
    env = {"RANK": str(rank), "WORLD_SIZE": str(world)}
    for k in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID", "PMIX_RANK"):
        env[k] = ""
    return run_bf("stage", dataset, dest, *extra, env=env)


def staged_shards(dest):
    return sorted(n for n in os.listdir(dest) if n.endswith(".h5"))


def test_ranks_stage_disjoint_owned_shards_covering_the_dataset(dataset, tmp_path):
    shards = {s["path"]: s for s in manifest(dataset)["shards"]}
    seen = []
    for r in range(WORLD):
        dest = tmp_path / f"node{r}"
        p = stage(dataset, dest, r)
        assert p.returncode == 0, describe(p)
        names = staged_shards(dest)
        assert p.stdout.startswith(f"OK rank {r} of {WORLD} (torchrun): {len(names)} shard(s) owned, "
                                   f"{len(names)} copied"), describe(p)
        assert names, f"rank {r} owns no shard of {len(shards)}"
        for n in names:
            assert (dest / n).read_bytes() == (dataset / n).read_bytes()
        assert manifest(dest) == manifest(dataset)
        assert not [n for n in os.listdir(dest) if n.startswith(".")], "a temporary was left behind"
        seen += names
    assert sorted(seen) == sorted(shards), "every shard must be staged by exactly one rank"
    sizes = [sum(shards[n]["size"] for n in staged_shards(tmp_path / f"node{r}")) for r in range(WORLD)]
    assert max(sizes) - min(sizes) <= max(s["size"] for s in shards.values()), sizes


def test_second_run_copies_nothing_and_a_damaged_copy_is_replaced(dataset, tmp_path):
    dest = tmp_path / "node"
    p = stage(dataset, dest, 1)
    assert p.returncode == 0, describe(p)
    names = staged_shards(dest)
    p = stage(dataset, dest, 1)
    assert p.returncode == 0 and f"0 copied (0.0 MB), {len(names)} already present" in p.stdout, describe(p)
    victim = dest / names[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    p = stage(dataset, dest, 1)
    assert p.returncode == 0 and f"1 copied" in p.stdout and f"{len(names) - 1} already present" in p.stdout, describe(p)
    assert victim.read_bytes() == (dataset / names[0]).read_bytes()


def test_owner_map_decides_which_shards(dataset, tmp_path):
    shards = [s["path"] for s in manifest(dataset)["shards"]]
    m = tmp_path / "owners.txt"
    m.write_text("# every shard to rank 1 except the first\n" +
                 "".join(f"{s} {0 if i == 0 else 1}\n" for i, s in enumerate(shards)))
    p = stage(dataset, tmp_path / "n0", 0, 2, "--owners", m)
    assert p.returncode == 0, describe(p)
    assert staged_shards(tmp_path / "n0") == [shards[0]]
    p = stage(dataset, tmp_path / "n1", 1, 2, "--owners", m)
    assert p.returncode == 0, describe(p)
    assert staged_shards(tmp_path / "n1") == sorted(shards[1:])


def test_errors_name_what_is_wrong(dataset, tmp_path):
    p = stage(tmp_path / "nowhere", tmp_path / "n", 0)
    assert p.returncode != 0 and "nowhere: cannot open the dataset" in p.stderr, describe(p)
    shards = [s["path"] for s in manifest(dataset)["shards"]]
    m = tmp_path / "owners.txt"
    m.write_text("".join(f"{s} 0\n" for s in shards[1:]) + "seq-99999.h5 1\n")
    p = stage(dataset, tmp_path / "n", 0, 2, "--owners", m)
    assert p.returncode != 0 and f"owners.txt line {len(shards)}:" in p.stderr and "seq-99999.h5" in p.stderr, describe(p)
    m.write_text("".join(f"{s} 5\n" for s in shards))
    p = stage(dataset, tmp_path / "n", 0, 2, "--owners", m)
    assert p.returncode != 0 and "owners.txt line 1:" in p.stderr, describe(p)
    p = stage(dataset, tmp_path / "n", 0, 2, "--bogus")
    assert p.returncode == 2 and "usage: biofeed stage" in p.stderr, describe(p)
    assert not (tmp_path / "n").exists() or not staged_shards(tmp_path / "n")
