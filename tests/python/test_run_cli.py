"""`biofeed run`: every config in configs/ runs (on the test stand-ins of
the demo datasets, CPU backend); --dump writes .npy files equal to what the
Python module yields for the same config; --preview writes a PNG grid of the
expected size with label outlines; --epochs/--steps count batches; a bad
config fails naming the file and line.

Runs the binary $BIOFEED (default build/tests/biofeed, ASan build).
"""
import math
import re
import struct
from pathlib import Path

import numpy as np
import pytest

import loader_support as ls

CONFIGS = sorted((ls.REPO / "configs").glob("*.yaml"))

SEQ_YAML = """\
seed: 5
datasets:
  - path: {path}
batch_size: 8
sampling: {{order: global, drop_last: true}}
sequence: {{tokenizer: dna, max_len: 48, mlm: {{p: 0.2}}}}
device: cpu
"""

IMG_YAML = """\
seed: 3
datasets:
  - path: {path}
batch_size: {bs}
sampling: {{order: shards, drop_last: false}}
image:
  ops:
    - crop: {{size: {size}, mode: random}}
    - flip: {{axes: {axes}}}
    - normalize: {{mode: percentile}}
  output: {{dtype: float32, layout: {layout}, label_dtype: int32}}
device: cpu
"""


def own_config(tmp_path, kind, layout="channels_first"):
    if kind == "seq":
        text = SEQ_YAML.format(path=ls.dataset("dna"))
    elif kind == "img":
        text = IMG_YAML.format(path=ls.dataset("microscopy"), bs=5, size="[40, 56]", axes="[y, x]", layout=layout)
    else:
        text = IMG_YAML.format(path=ls.dataset("volumes"), bs=3, size="[16, 32, 24]", axes="[z, y, x]", layout=layout)
    p = tmp_path / f"{kind}-{layout}.yaml"
    p.write_text(text)
    return p


def repo_config(cfg, tmp_path):
    out, why = ls.config_for_tests(cfg, tmp_path)
    if out is None:
        pytest.skip(why)
    return out


def run(*args, ok=True):
    p = ls.run_biofeed("run", *args, check=False)
    if ok:
        assert p.returncode == 0, f"biofeed run {' '.join(map(str, args))}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    for m in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert m not in p.stderr, p.stderr
    return p


def summary_numbers(stdout):
    m = re.search(r"^run .*: (\d+) batches, (\d+) samples, (\d+) epoch\(s\) started", stdout, re.M)
    assert m, stdout
    assert re.search(r"^time to first batch: [0-9.]+ s$", stdout, re.M), stdout
    assert re.search(r"^throughput: \S+ samples/s(?: \(padded\))?, [0-9.]+ MB/s, \S+ tokens/s", stdout, re.M), stdout
    assert re.search(r"^bottleneck: \S+ \(\d+% of its time", stdout, re.M), stdout
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def dumped(d, k):
    """{name: array} of batch k in a --dump folder, checking each NPY header."""
    out = {}
    for f in sorted(Path(d).glob(f"batch-{k:05d}-*.npy")):
        raw = f.read_bytes()
        assert raw[:8] == b"\x93NUMPY\x01\x00", f
        (hlen,) = struct.unpack("<H", raw[8:10])
        assert (10 + hlen) % 64 == 0 and raw[10 + hlen - 1:10 + hlen] == b"\n", f
        out[f.name[len(f"batch-{k:05d}-"):-4]] = np.load(f)
    return out


@pytest.mark.parametrize("cfg", CONFIGS or [None], ids=[c.name for c in CONFIGS] or ["no-configs"])
def test_every_config_runs(cfg, tmp_path):
    if cfg is None:
        pytest.skip("configs/ holds no *.yaml yet")
    p = run(repo_config(cfg, tmp_path), "--steps", "3", "-q")
    batches, samples, _ = summary_numbers(p.stdout)
    assert batches == 3 and samples > 0


def compare_with_module(cfg, dump_dir, k):
    bf = ls.biofeed_module()
    loader = bf.Loader(cfg)

    def batches():  # across epochs, as `run --steps` goes
        while True:
            yield from loader

    it = batches()
    for i in range(k):
        batch = next(it)
        files = dumped(dump_dir, i)
        assert set(files) == set(batch), (set(files), set(batch))
        for name, t in batch.items():
            if t.dtype == "bfloat16":
                torch = pytest.importorskip("torch", reason="bfloat16 outputs are compared through torch")
                expect = torch.from_dlpack(t).float().numpy()
            else:
                expect = np.from_dlpack(t)
            assert files[name].dtype == expect.dtype and files[name].shape == expect.shape, name
            assert np.array_equal(files[name], expect, equal_nan=True), f"batch {i}: {name} differs from the module's"


@pytest.mark.parametrize("cfg", CONFIGS or [None], ids=[c.name for c in CONFIGS] or ["no-configs"])
def test_dump_of_each_config_equals_the_python_module(cfg, tmp_path):
    if cfg is None:
        pytest.skip("configs/ holds no *.yaml yet")
    c = repo_config(cfg, tmp_path)
    run(c, "--steps", "2", "--dump", "2", tmp_path / "dump", "-q")
    compare_with_module(c, tmp_path / "dump", 2)


@pytest.mark.parametrize("kind,layout", [("seq", "channels_first"), ("img", "channels_first"),
                                         ("img", "channels_last"), ("vol", "channels_first")])
def test_dump_equals_the_python_module(kind, layout, tmp_path):
    c = own_config(tmp_path, kind, layout)
    run(c, "--steps", "3", "--dump", "3", tmp_path / "d" / "nested", "-q")
    assert len(list((tmp_path / "d" / "nested").glob("batch-00002-*.npy"))) > 0
    assert not list((tmp_path / "d" / "nested").glob("batch-00003-*.npy"))
    compare_with_module(c, tmp_path / "d" / "nested", 3)


@pytest.mark.parametrize("kind,layout,tile", [("img", "channels_first", (40, 56)), ("img", "channels_last", (40, 56)),
                                              ("vol", "channels_first", (32, 24))])
def test_preview_is_a_grid_of_the_first_batch_with_outlines(kind, layout, tile, tmp_path):
    from PIL import Image

    c = own_config(tmp_path, kind, layout)
    png = tmp_path / "preview.png"
    run(c, "--steps", "1", "--dump", "1", tmp_path / "d", "--preview", png, "-q")
    b = dumped(tmp_path / "d", 0)
    n = int(b["valid"].sum())
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    h, w = tile
    with Image.open(png) as im:
        im.load()
        assert im.format == "PNG" and im.mode == "RGB"
        assert im.size == (cols * w + (cols + 1) * 2, rows * h + (rows + 1) * 2)
        px = np.asarray(im)
    assert np.all(px[:2] == 48) and np.all(px[:, :2] == 48), "the gap around the tiles is not dark grey"
    tile0 = px[2:2 + h, 2:2 + w]
    gray = (tile0[..., 0] == tile0[..., 1]) & (tile0[..., 1] == tile0[..., 2])
    lab = b["label"][np.flatnonzero(b["valid"])[0]]
    if kind == "vol":
        lab = lab[lab.shape[0] // 2]
    # min-max scaled: the gray pixels span (nearly) 0..255; outlines may cover the extremes
    assert tile0[gray].max() >= 200 and tile0[gray].min() <= 55, "the tile is not min-max scaled"
    assert (~gray).any() == bool((lab != 0).any()), "label outlines missing, or drawn where there is no label"


def test_preview_of_a_sequence_config_fails(tmp_path):
    p = run(own_config(tmp_path, "seq"), "--steps", "1", "--preview", tmp_path / "p.png", ok=False)
    assert p.returncode == 2 and "image" in p.stderr, p.stderr
    assert not (tmp_path / "p.png").exists()


def test_epochs_and_steps(tmp_path):
    c = own_config(tmp_path, "seq")
    per_epoch = 200 // 8
    assert summary_numbers(run(c, "-q").stdout)[:3:2] == (per_epoch, 1)
    assert summary_numbers(run(c, "--epochs", "2", "-q").stdout)[:3:2] == (2 * per_epoch, 2)
    assert summary_numbers(run(c, "--steps", str(per_epoch + 5), "-q").stdout)[:3:2] == (per_epoch + 5, 2)
    assert summary_numbers(run(c, "--steps", "500", "--epochs", "1", "-q").stdout)[:3:2] == (per_epoch, 1)
    out = run(c, "--steps", "4", "-q").stdout
    assert summary_numbers(out)[1] == 4 * 8
    assert re.search(r"^throughput: .* tokens/s$", out, re.M) and "- tokens/s" not in out


def test_bad_config_names_file_and_line(tmp_path):
    c = own_config(tmp_path, "seq")
    lines = c.read_text().splitlines()
    lines.insert(3, "batch_szie: 4")
    c.write_text("\n".join(lines) + "\n")
    p = run(c, "-q", ok=False)
    assert p.returncode != 0
    assert f"{c}:4" in p.stderr and "batch_szie" in p.stderr, p.stderr


@pytest.mark.parametrize("args,needle", [((), "no CONFIG"), (("a.yaml", "b.yaml"), "more than one"),
                                         (("x.yaml", "--steps", "0"), "--steps"),
                                         (("x.yaml", "--dump", "2"), "DIR is missing"),
                                         (("/nonexistent/x.yaml",), "/nonexistent/x.yaml")])
def test_usage_errors(args, needle):
    p = run(*args, ok=False)
    assert p.returncode == 2 and needle in p.stderr, p.stderr


def test_progress_line_on_a_terminal(tmp_path):
    import os
    import pty
    import subprocess

    c = own_config(tmp_path, "seq")
    master, slave = pty.openpty()
    p = subprocess.Popen([ls.BIOFEED, "run", str(c), "--epochs", "2"], stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        err += chunk
    out, _ = p.communicate(timeout=120)
    os.close(master)
    assert p.returncode == 0, err.decode(errors="replace")
    text = err.decode(errors="replace")
    assert "Sanitizer" not in text and "runtime error:" not in text, text
    assert "\r\x1b[K" in text and re.search(r"\d+/50 batches +epoch \d +\S+ samples/s +[0-9.]+ MB/s +\S+ tokens/s +"
                                            r"bottleneck: \S+", text), text
    assert text.endswith("\r\x1b[K"), "the progress line is not cleared before the summary"
    summary_numbers(out.decode())
