"""End-to-end loader benchmark: biofeed.Loader against the loader users would
write instead (torch.utils.data.DataLoader with num_workers = cores over h5py
and numpy, or a multiprocessing pool doing the same when torch is missing),
on the same packed shards with the same ops, and for img-2d against a DALI
CPU pipeline too when DALI is installed; and the DLIO-style accelerator
utilization (AU) test. See bench/README.md.

  bench.py run DATA_DIR RESULTS_DIR      the whole benchmark (driver)
  bench.py one SIDE WORKLOAD STEPS       one measured run (a child of the driver)
  bench.py au SIDE ACCELERATORS STEPS    one AU trial (a child of the driver)

Every measured run is its own process, reaped with os.wait4, so CPU seconds
and peak RSS cover the process and its workers.
"""
import gc
import glob
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "img"))
sys.path.insert(0, os.path.join(HERE, "..", "seq"))

CORES = os.cpu_count() or 1
DATA = os.environ.get("BENCH_DATA", "")

from workloads import WORKLOADS, job_yaml  # noqa: E402  (bench/e2e, this file's folder)

# Workloads a DALI CPU pipeline can express: DALI has no tokenizers or other
# sequence ops, and no elastic deformation (vol-3d).
DALI_WORKLOADS = ("img-2d",)

# DLIO unet3d on H100: 0.323 s of compute per batch of 7 samples. Scaled by the
# CPU cores an accelerator gets on a DGX H100 host (112 cores / 8 GPUs = 14)
# over the cores here: this host feeds one accelerator's share of CPU with
# CORES / 14 of it, so compute time is stretched by 14 / CORES.
AU_BATCH = 7
AU_STEP_S = float(os.environ.get("AU_STEP_S", 0.323 * 14 / CORES))


def yaml_for(w, batch=None, prefetch=4, drop_last=True, memory="4G", repeat=1):
    return job_yaml(w, [os.path.join(DATA, w["data"])] * repeat, batch, "cpu", prefetch, drop_last, memory, CORES)


# ---------------------------------------------------------------- baseline

def shards(name, pattern):
    return sorted(glob.glob(os.path.join(DATA, name, pattern)))


class SeqDataset:
    """Records of the packed sequence shards, read with h5py."""

    def __init__(self, name):
        import h5py
        self.files = shards(name, "seq-*.h5")
        self.index = []  # (file, start, end)
        for fi, path in enumerate(self.files):
            with h5py.File(path, "r") as f:
                off = f["seq/offsets"][:]
            self.index += [(fi, int(a), int(b)) for a, b in zip(off[:-1], off[1:])]
        self.h5 = None

    def read(self, rec, a=0, b=None):
        import h5py
        if self.h5 is None:  # opened in each worker, after the fork
            self.h5 = [h5py.File(p, "r")["seq/data"] for p in self.files]
        fi, s, e = self.index[rec]
        return self.h5[fi][s + a:s + (e - s if b is None else b)]


DNA_LUT = np.full(256, 1, np.int64)  # the dna preset: pad 0, unk 1, cls 2, sep 3, mask 4, then the alphabet
for i, c in enumerate("ACGTNRYSWKMBDHV-"):
    DNA_LUT[ord(c)] = DNA_LUT[ord(c.lower())] = 5 + i
COMP = np.arange(256, dtype=np.uint8)
for a, b in zip(b"ACGTNacgtn", b"TGCANtgcan"):
    COMP[a] = b


def mlm(ids, maskable, rng, vocab_lo, vocab_hi, mask_id):
    pick = (rng.random(ids.shape) < 0.15) & maskable
    labels = np.where(pick, ids, -100)
    r = rng.random(ids.shape)
    ids = np.where(pick & (r < 0.8), mask_id, ids)
    ids = np.where(pick & (r >= 0.8) & (r < 0.9), rng.integers(vocab_lo, vocab_hi, ids.shape), ids)
    return ids, labels


class DnaWindows(SeqDataset):
    """Random windows: record picked by length, uniform start, reverse
    complement with p 0.5, character ids, BERT masking."""

    def __init__(self, name, window):
        super().__init__(name)
        self.window = window
        lengths = np.array([e - s for _, s, e in self.index], np.int64)
        self.cum = np.cumsum(lengths)
        self.n = int(sum(-(-int(k) // window) for k in lengths))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        rng = np.random.default_rng((0, i))
        rec = int(np.searchsorted(self.cum, rng.integers(0, self.cum[-1]), side="right"))
        length = int(self.cum[rec] - (self.cum[rec - 1] if rec else 0))
        start = int(rng.integers(0, max(1, length - self.window + 1)))
        seq = self.read(rec, start, min(length, start + self.window))
        if rng.random() < 0.5:
            seq = COMP[seq][::-1]
        ids = DNA_LUT[seq]
        ids, labels = mlm(ids, np.ones(ids.shape, bool), rng, 5, 9, 4)
        row = np.zeros(self.window, np.int64)
        row[:len(ids)] = ids
        lab = np.full(self.window, -100, np.int64)
        lab[:len(ids)] = labels
        att = np.zeros(self.window, np.uint8)
        att[:len(ids)] = 1
        return {"ids": row, "attention_mask": att, "labels": lab, "lengths": np.int32(len(ids))}


class Proteins(SeqDataset):
    """ESM-2 masked LM: random crop to 1022 residues; tokenized per batch by
    HF tokenizers in the collate (<cls> ... <eos>, padded to the longest)."""

    def __len__(self):
        return len(self.index)

    def lengths(self):
        return [min(e - s, 1022) + 2 for _, s, e in self.index]

    def __getitem__(self, i):
        rng = np.random.default_rng((0, i))
        n = self.index[i][2] - self.index[i][1]
        a = int(rng.integers(0, n - 1022 + 1)) if n > 1022 else 0
        return self.read(i, a, a + min(n, 1022)).tobytes().decode()


ESM_TOK = None


def protein_collate(texts):
    global ESM_TOK
    if ESM_TOK is None:
        from seq_bench import ESM, hf_char_tokenizer
        ESM_TOK = hf_char_tokenizer(ESM, 4, 3, 1, "<pad>", (("<cls>", 0), ("<eos>", 2)))
        ESM_TOK.enable_padding(pad_id=1, pad_token="<pad>", pad_to_multiple_of=8)
    enc = ESM_TOK.encode_batch(texts)
    ids = np.array([e.ids for e in enc], np.int64)
    att = np.array([e.attention_mask for e in enc], np.uint8)
    rng = np.random.default_rng(len(texts) * 7919 + int(ids.sum() % 1000003))
    maskable = (ids >= 4) & (att == 1)
    ids, labels = mlm(ids, maskable, rng, 4, 24, 32)
    return {"ids": ids, "attention_mask": att, "labels": labels, "lengths": att.sum(1).astype(np.int32)}


class Images:
    """Samples of packed image shards read with h5py: whole 2D images, or for
    3D the bounding box of the patch's sampling coordinates."""

    def __init__(self, name, kind):
        import h5py
        self.kind = kind
        self.files = shards(name, "img-*.h5")
        self.index = []
        for fi, path in enumerate(self.files):
            with h5py.File(path, "r") as f:
                self.shape = f["img/data"].shape[1:]
                self.index += [(fi, j) for j in range(f["img/data"].shape[0])]
        self.h5 = None
        if kind == "3d":
            p = 128
            self.grid = np.stack(np.meshgrid(*[np.arange(p, dtype=np.float64)] * 3, indexing="ij"))

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        import h5py
        if self.h5 is None:
            self.h5 = [h5py.File(p, "r")["img/data"] for p in self.files]
        fi, j = self.index[i]
        rng = np.random.default_rng((0, i))
        return self.get_2d(fi, j, rng) if self.kind == "2d" else self.get_3d(fi, j, rng)

    def get_2d(self, fi, j, rng):
        x = self.h5[fi][j, 0]
        y0, x0 = rng.integers(0, 512 - 256 + 1, 2)
        p = x[y0:y0 + 256, x0:x0 + 256]
        if rng.random() < 0.5:
            p = p[::-1]
        if rng.random() < 0.5:
            p = p[:, ::-1]
        # biofeed's normalize takes its statistics over the whole image (per
        # channel), not the crop: the baseline computes the same op
        mi, ma = np.percentile(x, [1.0, 99.8])
        q = (p.astype(np.float32) - np.float32(mi)) / (np.float32(ma - mi) + np.float32(1e-20))
        q += rng.normal(0.0, rng.uniform(0.0, 0.1), q.shape).astype(np.float32)
        return {"image": q[None]}

    def get_3d(self, fi, j, rng):
        from img_baseline import rot
        from scipy import ndimage
        shape, P, SP = self.shape[1:], 128, 32
        nodes, c = (P - 1) // SP + 2, (P - 1) / 2.0
        origin = np.array([rng.integers(0, s - P + 1) for s in shape], dtype=np.float64)
        a = rot(rng.uniform(-15, 15), 1, 2) @ rot(rng.uniform(-15, 15), 2, 0) @ rot(rng.uniform(-15, 15), 0, 1)
        a = a @ np.diag([1.0 / rng.uniform(0.85, 1.25)] * 3)
        mag = rng.uniform(2.0, 5.0)
        disp = np.empty_like(self.grid)
        for k in range(3):
            g = rng.normal(0.0, 1.0, (nodes,) * 3)
            for ax in range(3):
                g = ndimage.convolve1d(g, [0.25, 0.5, 0.25], axis=ax, mode="nearest")
            disp[k] = ndimage.map_coordinates(g * (mag / 0.375 ** 1.5), self.grid / SP, order=1, prefilter=False)
        s = (a @ (self.grid + disp - c).reshape(3, -1)).reshape(3, P, P, P) + (origin + c)[:, None, None, None]
        lo = [max(0, int(math.floor(s[k].min()))) for k in range(3)]
        hi = [min(shape[k], int(math.ceil(s[k].max())) + 1) for k in range(3)]
        box = self.h5[fi][j, 0, lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        s -= np.array(lo, np.float64)[:, None, None, None]
        img = ndimage.map_coordinates(box, s, order=1, mode="grid-constant", cval=0.0, prefilter=False,
                                      output=np.float32)
        return {"image": img[None]}


def stack_collate(items):
    return {k: np.stack([it[k] for it in items]) for k in items[0]}


def batches_of(w, ds, n_batches, batch):
    """Index lists: shuffled (epoch-seeded) fixed batches, or for proteins
    length buckets (sort bucket_window batches by length, then shuffle)."""
    out, epoch = [], 0
    while len(out) < n_batches:
        perm = np.random.default_rng((1, epoch)).permutation(len(ds))
        if w["kind"] == "protein":
            lens = np.array(ds.lengths())
            win = batch * 16
            bs = []
            for k in range(0, len(perm) - win + 1, win):
                chunk = perm[k:k + win]
                chunk = chunk[np.argsort(lens[chunk], kind="stable")]
                bs += [chunk[m:m + batch] for m in range(0, win, batch)]
            np.random.default_rng((2, epoch)).shuffle(bs)
        else:  # as biofeed with drop_last: false, an epoch smaller than a batch is padded with its first samples
            perm = np.resize(perm, max(len(perm), batch))
            bs = [perm[k:k + batch] for k in range(0, len(perm) - batch + 1, batch)]
        out += [list(map(int, b)) for b in bs]
        epoch += 1
    return out[:n_batches]


def make_dataset(w):
    if w["kind"] == "dna":
        return DnaWindows(w["data"], w["window"]), stack_collate
    if w["kind"] == "protein":
        return Proteins(w["data"]), protein_collate
    return Images(w["data"], w["kind"]), stack_collate


def _pool_init():
    os.environ["RAYON_NUM_THREADS"] = "1"


_POOL_DS = None


def _pool_batch(args):
    idx, = args
    ds, collate = _POOL_DS
    return collate([ds[i] for i in idx])


def baseline_iter(w, n_batches, batch=None, prefetch=2):
    """Yields batches (dicts of numpy arrays): torch's DataLoader when torch
    imports, else a process pool built the same way (each worker makes whole
    batches, at most prefetch batches per worker in flight)."""
    batch = batch or w["batch"]
    ds, collate = make_dataset(w)
    order = batches_of(w, ds, n_batches, batch)
    try:
        import torch.utils.data as tud
    except ImportError:
        tud = None
    if tud is not None:
        dl = tud.DataLoader(ds, batch_sampler=order, num_workers=CORES, collate_fn=collate,
                            prefetch_factor=prefetch, worker_init_fn=lambda _: _pool_init())
        it = iter(dl)
        for b in it:
            yield b
        del it
        return
    import multiprocessing as mp
    global _POOL_DS
    _POOL_DS = (ds, collate)
    with mp.get_context("fork").Pool(CORES, initializer=_pool_init) as pool:
        pending = [pool.apply_async(_pool_batch, ((b,),)) for b in order[:CORES * prefetch]]
        nxt = len(pending)
        while pending:
            b = pending.pop(0).get()
            if nxt < len(order):
                pending.append(pool.apply_async(_pool_batch, ((order[nxt],),)))
                nxt += 1
            yield b
        pool.close()
        pool.join()


def biofeed_iter(w, n_batches, batch=None, prefetch=4, drop_last=True, memory="4G", repeat=1):
    import biofeed
    with biofeed.Loader(yaml_for(w, batch, prefetch, drop_last, memory, repeat), base_dir=DATA) as loader:
        got = 0
        while got < n_batches:
            for b in loader:
                yield b
                got += 1
                if got == n_batches:
                    break


class DaliImages:
    """DALI's per-sample source for img-2d (parallel external source): DALI
    has no HDF5 reader and no percentile op, so its workers read the whole
    image with h5py and take its percentiles with numpy, as the baseline
    does; the crop, flips, scaling and noise run in DALI's CPU operators."""

    def __init__(self, w, order):
        self.ds = Images(w["data"], "2d")
        self.order = order

    def __call__(self, info):
        import h5py
        if info.iteration >= len(self.order):
            raise StopIteration
        if self.ds.h5 is None:
            self.ds.h5 = [h5py.File(p, "r")["img/data"] for p in self.ds.files]
        fi, j = self.ds.index[self.order[info.iteration][info.idx_in_batch]]
        x = self.ds.h5[fi][j, 0]
        mi, ma = np.percentile(x, [1.0, 99.8])
        return x[..., None], np.array([mi, 1.0 / (ma - mi + 1e-20)], dtype=np.float32)


def dali_available():
    try:
        import nvidia.dali  # noqa: F401
        return True
    except ImportError:
        return False


def dali_iter(w, n_batches, batch=None, prefetch=2):
    """Yields img-2d batches ({"image": float32 N x 1 x 256 x 256}) from a DALI
    CPU pipeline (device_id None: no GPU needed) with CORES threads and CORES
    source workers, in the baseline's sample order."""
    from nvidia.dali import fn, pipeline_def, types
    batch = batch or w["batch"]
    order = batches_of(w, Images(w["data"], "2d"), n_batches, batch)

    @pipeline_def(batch_size=batch, num_threads=CORES, device_id=None, prefetch_queue_depth=prefetch,
                  py_num_workers=CORES, py_start_method="fork")
    def pipe():
        img, stat = fn.external_source(source=DaliImages(w, order), num_outputs=2, batch=False, parallel=True,
                                       layout=["HWC", None])
        x = fn.cast(img, dtype=types.FLOAT)
        x = fn.crop(x, crop=(256, 256), crop_pos_x=fn.random.uniform(range=(0.0, 1.0)),
                    crop_pos_y=fn.random.uniform(range=(0.0, 1.0)))
        x = fn.flip(x, horizontal=fn.random.coin_flip(), vertical=fn.random.coin_flip())
        x = (x - fn.slice(stat, 0, 1, axes=[0])) * fn.slice(stat, 1, 1, axes=[0])
        x = fn.noise.gaussian(x, stddev=fn.random.uniform(range=(0.0, 0.1)))
        return fn.transpose(x, perm=[2, 0, 1])

    p = pipe()
    p.build()
    for _ in range(n_batches):
        out, = p.run()
        yield {"image": np.asarray(out.as_tensor())}
    del p


def batch_stats(b):
    """(rows, bytes) of a batch from either side."""
    if isinstance(b, dict) and b and hasattr(next(iter(b.values())), "nbytes"):
        rows = None
        nbytes = 0
        for k, v in b.items():
            if k in ("sample", "valid"):
                continue
            nbytes += int(v.nbytes)
            rows = rows or int(v.shape[0])
        return rows, nbytes
    raise TypeError(type(b))


# ---------------------------------------------------------------- children

# Batches taken before the steady-state clock starts: more than either side
# holds prefetched (biofeed prefetch 4; the DataLoader 2 workers x 2), so the
# rate is what the loader sustains, not what it stored while starting.
SKIP = int(os.environ.get("SKIP_BATCHES", 5))


def tree_cpu():
    """CPU seconds (user + system) so far of this process and every live
    descendant (the DataLoader's or the pool's workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo, seen = 0.0, [os.getpid()], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def child_one(side, name, steps):
    w = WORKLOADS[name]
    t0 = time.perf_counter()
    it = {"biofeed": biofeed_iter, "baseline": baseline_iter, "dali": dali_iter}[side](w, steps + SKIP)
    first = t1 = None
    samples = nbytes = total = 0
    for k, b in enumerate(it):
        rows, nb = batch_stats(b)
        total += rows
        if k == 0:
            first = time.perf_counter() - t0
        if k == SKIP - 1:
            t1 = time.perf_counter()
            c1 = tree_cpu()
        elif k >= SKIP:
            samples += rows
            nbytes += nb
        del b
        if k == SKIP + steps - 1:
            t2, c2 = time.perf_counter(), tree_cpu()
    del it
    gc.collect()
    print(json.dumps(dict(first_s=first, steady_s=t2 - t1, steady_cpu=c2 - c1, samples=samples, bytes=nbytes,
                          total_samples=total)))


def child_au(side, n_acc, steps):
    """n_acc emulated accelerators in data parallel: each step takes one batch
    of AU_BATCH samples per accelerator, then computes for AU_STEP_S (all in
    parallel, so the step's compute is AU_STEP_S). The first step warms up."""
    w = WORKLOADS["vol-3d"]
    total = (steps + 1) * n_acc
    inflight = max(4, 2 * n_acc)
    # A few volumes make an epoch of one batch, and biofeed does not prefetch
    # across epochs: the dataset is listed several times so that one epoch
    # holds every batch of the trial, as a training epoch spans many steps
    # (the baseline's index stream crosses epochs).
    repeat = -(-total * AU_BATCH // len(Images(w["data"], "3d")))
    it = (biofeed_iter(w, total, AU_BATCH, inflight, drop_last=False, memory="8G", repeat=repeat) if side == "biofeed"
          else baseline_iter(w, total, AU_BATCH, max(2, -(-inflight // CORES))))
    t0 = None
    for k, b in enumerate(it):
        del b
        if (k + 1) % n_acc == 0:
            time.sleep(AU_STEP_S)
            # the clock starts after the warm-up step's compute: the wall
            # time then holds the `steps` measured steps the numerator counts
            if k + 1 == n_acc:
                t0 = time.perf_counter()
    wall = time.perf_counter() - t0
    del it
    gc.collect()
    print(json.dumps(dict(au=steps * AU_STEP_S / wall, wall=wall)))


# ---------------------------------------------------------------- driver

def spawn(args, env=None):
    """Runs bench.py ARGS as a child; returns (json, cpu seconds, peak RSS MiB)."""
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__)] + args, stdout=subprocess.PIPE,
                         env=dict(os.environ, **(env or {})))
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.stdout.close()
    if status != 0:
        raise RuntimeError(f"bench.py {' '.join(args)} failed with status {status}")
    return json.loads(out.decode().strip().splitlines()[-1]), ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def measure(side, name, runs):
    rows = []
    for _ in range(runs):
        r, cpu, rss = spawn(["one", side, name, str(WORKLOADS[name]["steps"])])
        rows.append(dict(sps=r["samples"] / r["steady_s"], mbs=r["bytes"] / r["steady_s"] / 1e6,
                         cpu=r["steady_cpu"] / r["samples"], cpu_all=cpu / r["total_samples"], rss=rss,
                         first=r["first_s"]))
        print(f"  {side:8s} {name:12s} {rows[-1]['sps']:10.1f} samples/s  first {r['first_s']:.2f} s", file=sys.stderr,
              flush=True)
    return {k: statistics.median(x[k] for x in rows) for k in rows[0]}


def au_sweep(side, steps):
    """Largest N with AU >= 90%, trying 1, 2, 3, 4, 6, 8, 12, 16, ... and
    stopping at the first N below 90%."""
    best, trials, n = 0, [], 1
    while n <= 64:
        r, _, _ = spawn(["au", side, str(n), str(steps)])
        trials.append((n, r["au"]))
        print(f"  AU {side:8s} N={n:3d} AU={100 * r['au']:.1f}%", file=sys.stderr, flush=True)
        if r["au"] < 0.9:
            break
        best = n
        n = n + 1 if n < 4 else n + n // 2
    return best, trials


def dali_name():
    try:
        import nvidia.dali
        return (f"DALI {nvidia.dali.__version__} CPU pipeline for img-2d (device_id None, {CORES} threads, {CORES} "
                "parallel external-source workers reading with h5py and taking the percentiles with numpy; DALI "
                "has no HDF5 reader, no percentile op, no sequence ops and no elastic deformation). ")
    except ImportError:
        return "DALI: not installed, no DALI rows. "


def baseline_name():
    try:
        import torch
        return f"torch.utils.data.DataLoader (torch {torch.__version__}, num_workers={CORES})"
    except ImportError:
        return (f"multiprocessing.Pool of {CORES} workers standing in for torch.utils.data.DataLoader "
                "(torch could not be installed)")


def driver(results):
    runs = int(os.environ.get("RUNS", 3))
    names = os.environ.get("WORKLOADS", " ".join(WORKLOADS)).split()
    table = {}
    for name in names:
        sides = ("biofeed", "baseline") + (("dali",) if name in DALI_WORKLOADS and dali_available() else ())
        table[name] = {side: measure(side, name, runs) for side in sides}
    au_steps = int(os.environ.get("AU_STEPS", 4))
    au = {side: au_sweep(side, au_steps) for side in ("biofeed", "baseline")}
    os.makedirs(results, exist_ok=True)
    write_markdown(results, table, au, runs, au_steps)
    write_chart(results, table)


def header():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 2**20
    return f"{time.strftime('%Y-%m-%d', time.gmtime())}, {cpu}, {CORES} CPUs, {mem:.0f} GiB, load average " \
           f"{os.getloadavg()[0]:.2f}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset (active)')}"


def write_markdown(results, table, au, runs, au_steps):
    target = {"dna": 10, "protein": 10, "2d": 5, "3d": 5}
    lines = ["# End-to-end loader benchmark (CPU)", "", header(), "",
             f"Baseline: {baseline_name()}, over h5py + numpy/scipy (+ HF tokenizers for proteins). "
             f"{dali_name()}"
             f"Median of {runs} runs, each its own process; samples/s and MB/s (outputs, 10^6 B) over the batches "
             f"after the first {SKIP} (more than either side prefetches); CPU ms/sample = user + system time of the "
             "process and its workers (from /proc) over the same batches; 'with start-up' = the same from os.wait4 "
             "over the whole run (imports, worker start-up, first batches) divided by all samples; page cache warm.",
             "",
             "| workload | loader | samples/s | MB/s | CPU ms/sample | with start-up | peak RSS MiB | first batch s "
             "| × samples/s | × CPU/sample | target (samples/s) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, sides in table.items():
        ratio = sides["biofeed"]["sps"] / sides["baseline"]["sps"]
        cpu_ratio = sides["baseline"]["cpu"] / sides["biofeed"]["cpu"]
        t = target[WORKLOADS[name]["kind"]]
        for side in sides:
            r = sides[side]
            extra = (f"{ratio:.1f}× | {cpu_ratio:.1f}× | ≥ {t}× {'met' if ratio >= t else 'NOT met'}" if side == "biofeed"
                     else f"biofeed {sides['biofeed']['sps'] / r['sps']:.1f}× | "
                          f"{r['cpu'] / sides['biofeed']['cpu']:.1f}× | (DALI: no target)" if side == "dali"
                     else " | | ")
            lines.append(f"| {name} | {side} | {r['sps']:.1f} | {r['mbs']:.1f} | {1e3 * r['cpu']:.3g} | "
                         f"{1e3 * r['cpu_all']:.3g} | {r['rss']:.0f} | {r['first']:.2f} | {extra} |")
    nb, nq = au["biofeed"][0], au["baseline"][0]
    lines += ["", "## Accelerator utilization (DLIO / MLPerf Storage style)", "",
              f"Workload vol-3d (128³ patches, affine + elastic, from 256×512×512 uint16 volumes ≈ DLIO's 140 MB "
              f"unet3d samples), {AU_BATCH} samples per batch per accelerator, emulated compute "
              f"{AU_STEP_S:.3f} s per step (DLIO's 0.323 s for H100 × 14 / {CORES}: the 14 CPU cores each H100 of a "
              f"DGX H100 has, over the {CORES} here); {au_steps} measured steps after one warm-up step; "
              "AU = compute time / wall time.", "",
              "| loader | accelerators at AU ≥ 90% | trials (N: AU) |", "|---|---:|---|"]
    for side, (n, trials) in au.items():
        lines.append(f"| {side} | {n} | {', '.join(f'{k}: {100 * a:.0f}%' for k, a in trials)} |")
    verdict = "met" if nb >= 3 * max(nq, 1) and nb > 0 else "NOT met"
    lines += ["", f"Target AU ≥ 90% at ≥ 3× the baseline's accelerators: {nb} vs {nq} — {verdict}."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(results, "e2e.md"), "w") as f:
        f.write(text)
    print(text)


def write_chart(results, table):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(table)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(names))
    for k, side in enumerate(("biofeed", "baseline", "dali")):
        axes[0].bar(x + (k - 1) * 0.27, [table[n][side]["sps"] if side in table[n] else 0 for n in names], 0.27,
                    label=side)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("samples/s (log)")
    axes[0].set_xticks(x, names, rotation=20)
    axes[0].legend()
    ratios = [table[n]["biofeed"]["sps"] / table[n]["baseline"]["sps"] for n in names]
    axes[1].bar(x, ratios, 0.6, color="tab:green")
    for i, n in enumerate(names):
        axes[1].hlines(10 if WORKLOADS[n]["kind"] in ("dna", "protein") else 5, i - 0.3, i + 0.3, colors="red")
    axes[1].set_ylabel("biofeed / baseline (red: target)")
    axes[1].set_xticks(x, names, rotation=20)
    fig.suptitle(f"biofeed vs {'torch DataLoader' if 'torch.utils' in baseline_name()[:20] else 'baseline'} — {CORES} CPUs")
    fig.tight_layout()
    fig.savefig(os.path.join(results, "e2e.png"), dpi=110)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "run":
        DATA = os.environ["BENCH_DATA"] = os.path.abspath(sys.argv[2])
        driver(sys.argv[3])
    elif cmd == "one":
        child_one(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "au":
        child_au(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
