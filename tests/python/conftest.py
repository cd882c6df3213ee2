"""Shared helpers for the end-to-end tests of the `biofeed` command.

The tests drive the binary named by $BIOFEED (default: build/tests/biofeed,
the ASan build) the way a user would, and read every result back with h5py
and json only: nothing here uses biofeed's own reader. Test inputs come from
independent writers (tifffile, Pillow, nibabel, h5py, gzip).

Tests import the helpers below with `from conftest import ...`.
"""
import gzip
import json
import os
import re
import struct
import subprocess
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
BIOFEED = os.environ.get("BIOFEED") or str(REPO / "build" / "tests" / "biofeed")

# Same sanitizer settings as scripts/run-tests.sh, for runs of pytest alone.
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:strict_string_checks=1")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
if (REPO / "tests" / "lsan.supp").exists():
    os.environ.setdefault("LSAN_OPTIONS", f"suppressions={REPO / 'tests' / 'lsan.supp'}:print_suppressions=0")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "AddressSanitizer:DEADLYSIGNAL")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: generates or packs tens of megabytes (a few seconds)")


def pytest_report_header(config):
    return f"biofeed binary: {BIOFEED}"


@pytest.fixture(scope="session", autouse=True)
def _binary_exists():
    if not os.access(BIOFEED, os.X_OK):
        pytest.fail(f"biofeed binary {BIOFEED} not found or not executable; run `make build/tests/biofeed` "
                    f"or set BIOFEED")


# --------------------------------------------------------------------------
# running the command

def run_bf(*args, cwd=None, timeout=120, env=None):
    """Runs `biofeed ARGS...` (env: extra environment variables); fails the
    test on any sanitizer report."""
    full_env = dict(os.environ, **(env or {}))
    p = subprocess.run([BIOFEED, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       errors="replace", env=full_env)
    for m in SANITIZER_MARKERS:
        assert m not in p.stderr, f"sanitizer report from biofeed {' '.join(map(str, args))}:\n{p.stderr}"
    return p


def describe(p):
    return f"exit {p.returncode}\n--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}"


def pack(out, *inputs, opts=(), cwd=None, env=None):
    """`biofeed pack -o OUT OPTS... INPUTS...`, which must succeed."""
    p = run_bf("pack", "-o", out, *opts, *inputs, cwd=cwd, env=env)
    assert p.returncode == 0, describe(p)
    return p


def verify(path, cwd=None):
    return run_bf("verify", path, cwd=cwd)


def assert_verifies(path, cwd=None):
    p = verify(path, cwd=cwd)
    assert p.returncode == 0, describe(p)
    assert p.stdout.startswith("OK "), describe(p)
    return p


def visible_files(d):
    return sorted(n for n in os.listdir(d) if not n.startswith("."))


def assert_no_complete_pack(out):
    """What a failed pack into a fresh directory may leave: no manifest.json,
    no shard-looking file, and no temporaries of its own either."""
    out = Path(out)
    if not out.exists():
        return
    names = sorted(os.listdir(out))
    assert "manifest.json" not in names, names
    assert not [n for n in names if n.endswith(".h5")], names
    assert names == [], f"a failed pack left files behind in {out}: {names}"


def snapshot(d):
    """Every file of a directory with its bytes."""
    d = Path(d)
    return {n: (d / n).read_bytes() for n in sorted(os.listdir(d)) if (d / n).is_file()}


# --------------------------------------------------------------------------
# checksums, computed independently of biofeed

def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC32C_TABLE = _crc32c_table()


def crc32c(data) -> int:
    """CRC-32C (Castagnoli), reflected, init and xorout 0xFFFFFFFF."""
    t = _CRC32C_TABLE
    c = 0xFFFFFFFF
    for b in bytes(data):
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def xxh3_128_hex(data: bytes) -> str:
    import xxhash
    return xxhash.xxh3_128_hexdigest(data)


# --------------------------------------------------------------------------
# input writers

def write_fasta(path, records, width=60, lf="\n"):
    """records: [(header, seq_str)]; sequences wrapped at width."""
    with open(path, "wb") as f:
        for h, s in records:
            f.write(f">{h}{lf}".encode())
            for i in range(0, len(s), width):
                f.write(f"{s[i:i + width]}{lf}".encode())
    return path


def write_fastq(path, records):
    """records: [(header, seq, qual)]."""
    with open(path, "wb") as f:
        for h, s, q in records:
            f.write(f"@{h}\n{s}\n+\n{q}\n".encode())
    return path


def random_seq(rng, n, alphabet="ACGT"):
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), n))


def bgzf_compress(data: bytes, block=0xFF00) -> bytes:
    """BGZF (SAM spec 4.1): gzip members of at most 64 KiB, each with a 'BC'
    extra field giving the member size - 1, then the empty EOF member."""
    out = bytearray()

    def member(chunk):
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        comp = c.compress(chunk) + c.flush()
        bsize = 12 + 6 + len(comp) + 8  # header + extra + data + trailer
        hdr = struct.pack("<BBBBIBBH", 31, 139, 8, 4, 0, 0, 255, 6)
        extra = struct.pack("<BBHH", 66, 67, 2, bsize - 1)
        trailer = struct.pack("<II", zlib.crc32(chunk) & 0xFFFFFFFF, len(chunk))
        return hdr + extra + comp + trailer

    for i in range(0, len(data), block):
        out += member(data[i:i + block])
    out += member(b"")
    return bytes(out)


BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


# --------------------------------------------------------------------------
# reading results back with h5py and json

def load_manifest(out):
    return json.loads((Path(out) / "manifest.json").read_text())


def shard_files(out):
    return [Path(out) / s["path"] for s in load_manifest(out)["shards"]]


def check_root_attrs(f, kind, n):
    a = f.attrs
    assert int(a["biofeed_format"]) == 1
    assert a["kind"] == kind
    assert int(a["n_records"]) == n
    assert a["access"] == "open"
    assert a["checksum"] == "crc32c"
    assert str(a["tool_version"]).startswith("biofeed ")
    prov = json.loads(a["provenance"])
    assert isinstance(prov, dict) and isinstance(prov.get("sources"), list)
    return prov


def read_seq_shard(path, check_crc=True):
    """[(name, seq bytes, qual bytes or None)] of one sequence shard."""
    with h5py.File(path, "r") as f:
        g = f["seq"]
        data = g["data"][()]
        off = g["offsets"][()]
        crc = g["crc"][()]
        names = list(g["names"].asstr()[()])
        qual = g["quality"][()] if "quality" in g else None
        assert g["data"].dtype == np.uint8 and data.ndim == 1
        assert g["offsets"].dtype == np.uint64
        assert g["crc"].dtype == np.uint32
        n = len(names)
        check_root_attrs(f, "sequence", n)
        assert off.shape == (n + 1,) and crc.shape == (n,)
        assert off[0] == 0 and off[-1] == data.size and np.all(np.diff(off.astype(np.int64)) >= 0)
        if qual is not None:
            assert g["quality"].dtype == np.uint8 and qual.shape == data.shape
        recs = []
        for i in range(n):
            s = data[off[i]:off[i + 1]].tobytes()
            if check_crc:
                assert int(crc[i]) == crc32c(s), f"{path}: record {i}: stored CRC does not match the data"
            q = qual[off[i]:off[i + 1]].tobytes() if qual is not None else None
            recs.append((names[i], s, q))
        return recs


def read_seqs(out, check_crc=True):
    recs = []
    for p in shard_files(out):
        recs += read_seq_shard(p, check_crc)
    return recs


def read_img_shard(path, check_crc=True):
    """dict(data=[n, C, (Z,) Y, X], labels=None|[n, (Z,) Y, X], classes=None|[n], dset attrs)."""
    with h5py.File(path, "r") as f:
        d = f["img/data"]
        data = d[()]
        crc = f["img/crc"][()]
        n = data.shape[0]
        check_root_attrs(f, "image", n)
        assert f["img/crc"].dtype == np.uint32 and crc.shape == (n,)
        assert data.ndim in (4, 5)
        res = {"data": data, "labels": None, "classes": None, "compression": d.compression,
               "compression_opts": d.compression_opts, "shuffle": d.shuffle, "chunks": d.chunks}
        if check_crc:
            for i in range(n):
                assert int(crc[i]) == crc32c(data[i].astype(data.dtype.newbyteorder("<")).tobytes()), \
                    f"{path}: sample {i}: stored CRC does not match"
        if "label" in f:
            lg = f["label"]
            if "data" in lg:
                lab = lg["data"][()]
                lcrc = lg["crc"][()]
                assert lab.shape[0] == n and lab.ndim == data.ndim - 1
                if check_crc:
                    for i in range(n):
                        assert int(lcrc[i]) == crc32c(lab[i].astype(lab.dtype.newbyteorder("<")).tobytes())
                res["labels"] = lab
            if "class" in lg:
                assert lg["class"].dtype == np.int64
                res["classes"] = lg["class"][()]
        return res


def read_images(out, check_crc=True):
    """{group: dict(data, labels, classes)} with each group's shards joined in name order."""
    m = load_manifest(out)
    groups = {}
    for s in sorted(m["shards"], key=lambda s: s["path"]):
        r = read_img_shard(Path(out) / s["path"], check_crc)
        g = groups.setdefault(s["group"], {"data": [], "labels": [], "classes": [], "shards": []})
        g["data"].append(r["data"])
        g["shards"].append(r)
        if r["labels"] is not None:
            g["labels"].append(r["labels"])
        if r["classes"] is not None:
            g["classes"].append(r["classes"])
    for g in groups.values():
        g["data"] = np.concatenate(g["data"])
        g["labels"] = np.concatenate(g["labels"]) if g["labels"] else None
        g["classes"] = np.concatenate(g["classes"]) if g["classes"] else None
    return groups


def check_manifest_files(out):
    """Manifest shard list against the directory: sizes, records, hashes."""
    out = Path(out)
    m = load_manifest(out)
    total = 0
    for s in m["shards"]:
        p = out / s["path"]
        assert p.is_file(), s
        assert s["size"] == os.path.getsize(p), s
        assert s["hash"] == "xxh3-128:" + xxh3_128_hex(p.read_bytes()), s
        with h5py.File(p, "r") as f:
            assert int(f.attrs["n_records"]) == s["records"], s
        total += s["records"]
    assert m["totals"]["records"] == total
    assert m["totals"]["shards"] == len(m["shards"])
    shard_names = {s["path"] for s in m["shards"]}
    assert set(visible_files(out)) == shard_names | {"manifest.json"}
    return m


def find_tmp_leftovers(d, pid=None):
    pat = re.compile(r"^\..*\.tmp\.(\d+)$")
    res = []
    for n in os.listdir(d):
        mm = pat.match(n)
        if mm and (pid is None or int(mm.group(1)) == pid):
            res.append(n)
    return sorted(res)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)
