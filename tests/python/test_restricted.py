"""Restricted data end to end through the `biofeed` command (and the Python
module): `keygen` writes a private key; `pack --restricted --key-file`
seals every FASTQ record (and its quality) and every stored image chunk; the
shards carry access, key_id and shard_id, hold no plaintext and no names,
and their CRCs cover the stored bytes; `run` yields batches equal to the
open pack's; `--dump` and `--preview` refuse restricted data unless
`--allow-restricted-output`; the audit log gets one JSON line per shard
open and close; `verify` passes without the key, authenticates with it and
names the records a wrong key or an altered byte fails; key files that
others may read are refused.

Everything is read back with h5py, json and numpy, not with biofeed.
"""
import json
import os
import re
import socket
import stat
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

import loader_support as ls
from conftest import crc32c, describe, random_seq, run_bf, write_fastq

SEQ_YAML = """\
seed: 7
datasets: [{{path: {path}}}]
batch_size: 5
sampling: {{order: global, drop_last: false}}
sequence: {{tokenizer: dna, max_len: 64, window: {{length: 48, mode: random}}, mlm: {{p: 0.15}}}}
device: cpu
memory_limit: 64M
{extra}
"""

IMG_YAML = """\
seed: 3
datasets: [{{path: {path}}}]
batch_size: 3
sampling: {{order: shards, drop_last: false}}
image:
  ops:
    - crop: {{size: [24, 32], mode: random}}
    - flip: {{axes: [y, x]}}
    - normalize: {{mode: percentile}}
  output: {{dtype: float32, layout: channels_first, label_dtype: int32}}
device: cpu
memory_limit: 64M
{extra}
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Keys, inputs and the open and restricted packs of them."""
    d = tmp_path_factory.mktemp("restricted")
    w = {"dir": d}
    for k in ("key", "key2"):
        p = run_bf("keygen", d / f"{k}.bin")
        assert p.returncode == 0, describe(p)
        w[k] = d / f"{k}.bin"
        w[k + "_id"] = re.search(r"key id ([0-9a-f]{16})", p.stdout).group(1)
    rng = np.random.default_rng(5)
    recs = []
    for i in range(30):
        s = random_seq(rng, int(rng.integers(40, 400)))
        recs.append((f"patient-{i:03d} sample secret", s, "".join(chr(33 + int(q)) for q in rng.integers(0, 40, len(s)))))
    write_fastq(d / "reads.fq", recs)
    w["recs"] = recs
    imgs, masks = d / "img", d / "mask"
    imgs.mkdir()
    masks.mkdir()
    for i in range(7):
        yy, xx = np.mgrid[0:40, 0:56]
        tifffile.imwrite(imgs / f"c{i}.tif", ((yy * 7 + xx * 3 + i * 100) % 4000).astype(np.uint16))
        tifffile.imwrite(masks / f"c{i}.tif", ((yy // 8 + xx // 8 + i) % 3).astype(np.uint8))
    for name, opts in (("seq", ["--records-per-shard", "11"]), ("img", ["--labels", masks, "--compress", "deflate",
                                                                       "--records-per-shard", "3"]),
                       ("raw", ["--labels", masks, "--records-per-shard", "4"])):
        src = d / "reads.fq" if name == "seq" else imgs
        for access in ("open", "res"):
            extra = ["--restricted", "--key-file", w["key"]] if access == "res" else []
            p = run_bf("pack", "-q", "-o", d / f"{name}-{access}", *opts, *extra, src)
            assert p.returncode == 0, describe(p)
    return w


def config(w, name, access, extra=""):
    text = (SEQ_YAML if name == "seq" else IMG_YAML).format(path=w["dir"] / f"{name}-{access}", extra=extra)
    p = w["dir"] / f"{name}-{access}-{abs(hash(extra)) % 10**8}.yaml"
    p.write_text(text)
    return p


def sec(w, key="key", audit=None):
    items = [f"key_file: {w[key]}"] + ([f"audit_log: {audit}"] if audit else [])
    return "security: {" + ", ".join(items) + "}"


def shards(d):
    m = json.loads((Path(d) / "manifest.json").read_text())
    return m, [Path(d) / s["path"] for s in m["shards"]]


def dumps(d):
    return {f.name: np.load(f) for f in sorted(Path(d).glob("*.npy"))}


def run(*args, env=None):
    return run_bf("run", *args, "-q", env=env, timeout=300)


def test_keygen_writes_a_private_key_and_never_overwrites(work):
    st = os.stat(work["key"])
    assert stat.S_IMODE(st.st_mode) == 0o600
    text = work["key"].read_text()
    assert re.fullmatch(r"[0-9a-f]{64}\n", text)
    assert work["key_id"] != work["key2_id"]
    p = run_bf("keygen", work["key"])
    assert p.returncode == 2 and "never overwritten" in p.stderr, describe(p)
    assert work["key"].read_text() == text


def test_a_key_others_may_read_is_refused(work, tmp_path):
    loose = tmp_path / "loose.key"
    loose.write_bytes(os.urandom(32))
    loose.chmod(0o644)
    out = tmp_path / "never"
    p = run_bf("pack", "-q", "-o", out, "--restricted", "--key-file", loose, work["dir"] / "reads.fq")
    assert p.returncode == 2, describe(p)
    assert str(loose) in p.stderr and "chmod 600" in p.stderr
    assert not (out / "manifest.json").exists()
    p = run_bf("pack", "-q", "-o", out, "--restricted", work["dir"] / "reads.fq")
    assert p.returncode == 2 and "--key-file" in p.stderr, describe(p)
    p = run_bf("pack", "-q", "-o", out, "--key-file", work["key"], work["dir"] / "reads.fq")
    assert p.returncode == 2 and "--restricted" in p.stderr, describe(p)


def test_restricted_shards_carry_the_key_id_and_no_plaintext(work):
    m, files = shards(work["dir"] / "seq-res")
    assert m["access"] == "restricted" and m["key_id"] == work["key_id"]
    assert json.loads((work["dir"] / "seq-open" / "manifest.json").read_text())["access"] == "open"
    sids = set()
    for f in files:
        with h5py.File(f, "r") as h:
            assert h.attrs["access"] == "restricted"
            assert h.attrs["key_id"] == work["key_id"]
            assert h.attrs["encryption"] == "xchacha20poly1305-ietf"
            assert re.fullmatch(r"[0-9a-f]{32}", h.attrs["shard_id"])
            sids.add(h.attrs["shard_id"])
            assert "names" not in h["seq"]
            data, off, crc = h["seq/data"][:], h["seq/offsets"][:], h["seq/crc"][:]
            n = int(h.attrs["n_records"])
            assert "quality" in h["seq"] and h["seq/quality"].shape == data.shape
            # CRCs of the stored (sealed) bytes: nonce + ciphertext + tag
            for i in range(n):
                assert crc32c(data[off[i]:off[i + 1]].tobytes()) == crc[i]
        raw = f.read_bytes()
        for name, s, q in work["recs"]:
            assert s[:24].encode() not in raw and q[:24].encode() not in raw
        assert b"patient-" not in raw
    assert len(sids) == len(files)
    for f in shards(work["dir"] / "img-res")[1]:
        raw = f.read_bytes()
        with h5py.File(f, "r") as h:
            assert h.attrs["access"] == "restricted" and h.attrs["key_id"] == work["key_id"]
            with pytest.raises(Exception):
                h["img/data"][0]  # sealed chunks do not inflate
        assert tifffile.imread(work["dir"] / "img" / "c0.tif")[5, :16].tobytes() not in raw


@pytest.mark.parametrize("name", ["seq", "img", "raw"])
def test_restricted_batches_equal_the_open_ones(work, name, tmp_path):
    a, b = tmp_path / "open", tmp_path / "res"
    p = run(config(work, name, "open"), "--dump", "4", a)
    assert p.returncode == 0, describe(p)
    p = run(config(work, name, "res", sec(work)), "--dump", "4", b, "--allow-restricted-output")
    assert p.returncode == 0, describe(p)
    da, db = dumps(a), dumps(b)
    assert da and da.keys() == db.keys()
    for k in da:
        assert np.array_equal(da[k], db[k], equal_nan=True), k


def test_dump_and_preview_refuse_restricted_data_without_the_override(work, tmp_path):
    cfg = config(work, "img", "res", sec(work))
    first = shards(work["dir"] / "img-res")[1][0]
    for args in (["--dump", "1", tmp_path / "d"], ["--preview", tmp_path / "p.png"]):
        p = run(cfg, "--steps", "1", *args)
        assert p.returncode == 2, describe(p)
        assert "--allow-restricted-output" in p.stderr and str(first) in p.stderr
        assert args[0] in p.stderr
    assert not list((tmp_path / "d").glob("*")) and not (tmp_path / "p.png").exists()
    p = run(cfg, "--steps", "1", "--preview", tmp_path / "p.png", "--allow-restricted-output")
    assert p.returncode == 0, describe(p)
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # open data needs no override
    p = run(config(work, "img", "open"), "--steps", "1", "--dump", "1", tmp_path / "o")
    assert p.returncode == 0 and list((tmp_path / "o").glob("*.npy")), describe(p)


def test_no_key_names_the_key_id_and_a_wrong_key_names_the_record(work):
    p = run(config(work, "seq", "res"), env={"BIOFEED_KEY_FILE": ""})
    assert p.returncode == 2, describe(p)
    assert work["key_id"] in p.stderr and "BIOFEED_KEY_FILE" in p.stderr
    p = run(config(work, "seq", "res"), env={"BIOFEED_KEY_FILE": str(work["key2"])})
    assert p.returncode == 2, describe(p)
    assert re.search(r"seq-0000\d\.h5: record \d+ .*authentication failed", p.stderr), p.stderr
    assert work["key_id"] in p.stderr and work["key2_id"] in p.stderr
    p = run(config(work, "seq", "res"), env={"BIOFEED_KEY_FILE": str(work["key"])})
    assert p.returncode == 0, describe(p)


def test_audit_log_has_a_line_per_shard_open_and_close(work, tmp_path):
    log = tmp_path / "audit.jsonl"
    env = {"BIOFEED_AUDIT_LOG": str(log), "BIOFEED_JOB_ID": "train-17", "BIOFEED_KEY_FILE": str(work["key"])}
    p = run(config(work, "seq", "res"), "--epochs", "1", env=env)
    assert p.returncode == 0, describe(p)
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    _, files = shards(work["dir"] / "seq-res")
    opens = [x for x in lines if x["event"] == "open"]
    closes = [x for x in lines if x["event"] == "close"]
    assert len(opens) == len(files) and len(closes) == len(files) and len(lines) == 2 * len(files)
    assert sorted(Path(x["shard"]).resolve() for x in opens) == sorted(f.resolve() for f in files)
    for x in lines:
        assert x["rank"] == 0 and x["access"] == "restricted" and x["key_id"] == work["key_id"]
        assert x["job"] == "train-17" and x["host"] == socket.gethostname() and x["uid"] == os.getuid()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", x["time"])
        assert str(work["key"]) not in json.dumps(x)
    assert all("records_read" not in x for x in opens)
    # every sample consumed was read (and perhaps a few read ahead before close)
    samples = int(re.search(r"(\d+) batches, (\d+) samples", p.stdout).group(2))
    assert samples > 0 and sum(x["records_read"] for x in closes) >= samples
    # appending: a second run adds lines, never rewrites
    p = run(config(work, "seq", "res"), "--steps", "1", env=env)
    assert p.returncode == 0, describe(p)
    again = log.read_text().splitlines()
    assert len(again) == 4 * len(files) and [json.loads(x) for x in again[:len(lines)]] == lines


def test_verify_without_key_passes_and_authenticates_with_it(work):
    for name in ("seq", "img", "raw"):
        d = work["dir"] / f"{name}-res"
        p = run_bf("verify", d)
        assert p.returncode == 0 and p.stdout.startswith("OK "), describe(p)
        p = run_bf("verify", "--key-file", work["key"], d)
        assert p.returncode == 0 and "authenticated" in p.stdout, describe(p)
        p = run_bf("verify", "--key-file", work["key2"], d)
        assert p.returncode == 1, describe(p)
        bad = [x for x in p.stdout.splitlines() if x.startswith("BAD ")]
        assert bad and all(re.search(r" record \d+ offset \d+: .*fails authentication", x) for x in bad), p.stdout
        assert work["key2_id"] in bad[0]


def test_inspect_shows_access_and_key_id(work):
    p = run_bf("inspect", work["dir"] / "seq-res")
    assert p.returncode == 0, describe(p)
    assert f"access: restricted (key id {work['key_id']})" in p.stdout
    total = sum(len(s) for _, s, _ in work["recs"])
    assert f"total {total}" in p.stdout  # record lengths, not sealed sizes
    p = run_bf("inspect", shards(work["dir"] / "img-res")[1][0])
    assert p.returncode == 0 and f"access: restricted (key id {work['key_id']})" in p.stdout, describe(p)


def test_a_flipped_byte_is_named_by_verify_and_by_the_loader(work, tmp_path):
    d = tmp_path / "flip"
    d.mkdir()
    for f in (work["dir"] / "img-res").iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    victim = d / "img-g0-00001.h5"
    with h5py.File(victim, "r") as h:
        info = h["img/data"].id.get_chunk_info(1)
    raw = bytearray(victim.read_bytes())
    raw[info.byte_offset + info.size // 2] ^= 0x40
    victim.write_bytes(bytes(raw))
    p = run_bf("verify", d)
    assert p.returncode == 1 and re.search(r"BAD .*img-g0-00001\.h5 record 1 .*CRC32C mismatch", p.stdout), describe(p)
    cfg = tmp_path / "flip.yaml"
    cfg.write_text(IMG_YAML.format(path=d, extra=sec(work)))
    p = run(cfg)
    assert p.returncode == 1, describe(p)
    assert re.search(r"img-g0-00001\.h5: record 1 .*authentication failed with the right key", p.stderr), p.stderr


def test_python_module_reads_restricted_data_through_the_config(work):
    try:
        bf = ls.biofeed_module()
    except ls.ModuleUnavailable as e:
        pytest.skip(str(e))
    got = {}
    for access, extra in (("open", ""), ("res", sec(work))):
        with bf.Loader(str(config(work, "seq", access, extra))) as loader:
            got[access] = [ls.snapshot(b) for b in loader]
    ls.assert_same_batches(got["open"], got["res"])
