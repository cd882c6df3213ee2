"""The biofeed Python module (python/): Loader iteration, len(), DLPack
export to numpy (always), torch and JAX (when importable) without copies, the
batch memory rule, state_dict round trips, stats, and errors carrying the
library's message.

The module is built and installed into the running venv first when needed
(loader_support.biofeed_module). Datasets are small and packed per run.
"""
import threading

import numpy as np
import pytest

import loader_support as ls

if tuple(int(x) for x in np.__version__.split(".")[:2]) < (1, 23):
    pytest.skip(f"numpy {np.__version__} has no from_dlpack with capsules (needs >= 1.23)", allow_module_level=True)


@pytest.fixture(scope="module")
def bf():
    try:
        return ls.biofeed_module()
    except ls.ModuleUnavailable as e:
        pytest.fail(str(e))


SEQ_YAML = """\
seed: 7
datasets:
  - path: {path}
batch_size: 8
sampling: {{order: global, drop_last: true}}
sequence:
  tokenizer: dna
  max_len: 64
  truncation: random
  mlm: {{p: 0.15}}
device: cpu
prefetch: 2
"""

IMG_YAML = """\
seed: 11
datasets:
  - path: {path}
batch_size: 4
sampling: {{order: global, drop_last: false}}
image:
  ops:
    - crop: {{size: [48, 64], mode: random}}
    - flip: {{axes: [y, x], prob: 0.5}}
    - normalize: {{mode: zscore}}
    - noise: {{prob: 0.5, sigma: [0, 0.1]}}
  output: {{dtype: float32, layout: channels_first, label_dtype: int64}}
device: cpu
prefetch: 2
"""


@pytest.fixture(scope="module")
def seq_cfg(tmp_path_factory):
    d = tmp_path_factory.mktemp("seqcfg")
    p = d / "seq.yaml"
    p.write_text(SEQ_YAML.format(path=ls.dataset("dna")))
    return p


@pytest.fixture(scope="module")
def img_cfg(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgcfg")
    p = d / "img.yaml"
    p.write_text(IMG_YAML.format(path=ls.dataset("microscopy")))
    return p


def epoch(loader):
    return [ls.snapshot(b) for b in loader]


def test_sequence_epoch_has_len_batches_of_the_documented_outputs(bf, seq_cfg):
    with bf.Loader(seq_cfg) as loader:
        n = len(loader)
        assert n == 200 // 8  # 200 records, drop_last
        batches = epoch(loader)
    assert len(batches) == n
    for b in batches:
        assert {"ids", "attention_mask", "lengths", "labels", "sample"} <= b.keys()
        assert b["ids"].dtype == np.int64 and b["ids"].shape == (8, 64)
        assert b["attention_mask"].shape == (8, 64) and b["lengths"].shape == (8,)
        assert b["sample"].dtype == np.int64 and b["sample"].shape == (8,)
        assert np.array_equal(b["attention_mask"].sum(axis=1), b["lengths"])
    samples = np.concatenate([b["sample"] for b in batches])
    assert len(set(samples.tolist())) == samples.size, "a sample repeats within the epoch"
    assert samples.min() >= 0 and samples.max() < 200


def test_image_batches_have_the_configured_shape_and_dtype(bf, img_cfg):
    loader = bf.Loader(img_cfg)
    assert len(loader) == (24 + 3) // 4  # drop_last: false pads the last batch
    batches = epoch(loader)
    assert len(batches) == len(loader)
    for b in batches:
        assert b["image"].dtype == np.float32 and b["image"].shape == (4, 1, 48, 64)
        assert b["label"].dtype == np.int64 and b["label"].shape == (4, 48, 64)
        assert b["valid"].shape == (4,)
    assert sum(int(b["valid"].sum()) for b in batches) == 24


def test_tensor_attributes_and_dlpack_device(bf, seq_cfg):
    loader = bf.Loader(seq_cfg)
    batch = next(iter(loader))
    t = batch["ids"]
    assert isinstance(t, bf.Tensor)
    assert t.name == "ids" and t.shape == (8, 64) and t.dtype == "int64" and t.ndim == 2
    assert t.nbytes == 8 * 64 * 8
    assert t.device == "cpu" or t.device == "cuda_host"
    assert t.__dlpack_device__() in ((1, 0), (3, 0))
    assert "ids" in repr(t)


def test_numpy_views_without_copy_and_the_memory_outlives_the_batch(bf, seq_cfg):
    loader = bf.Loader(seq_cfg)
    it = iter(loader)
    batch = next(it)
    a1 = np.from_dlpack(batch["ids"])
    a2 = np.from_dlpack(batch["ids"])
    assert a1.__array_interface__["data"][0] == a2.__array_interface__["data"][0], "from_dlpack copied"
    keep = np.from_dlpack(batch["labels"])
    expect = keep.copy()
    del batch, a1, a2
    # prefetch is 2: the rest of the epoch reuses every slot of the ring
    # many times over, which must not touch memory a live array views.
    rest = [ls.snapshot(b) for b in it]
    assert len(rest) == len(loader) - 1
    assert np.array_equal(keep, expect)
    del loader
    assert np.array_equal(keep, expect), "closing the loader freed memory an array still views"


def test_capsule_protocol(bf, seq_cfg):
    loader = bf.Loader(seq_cfg)
    batch = next(iter(loader))
    t = batch["lengths"]
    cap = t.__dlpack__()
    assert 'capsule object "dltensor"' in repr(cap)
    del cap  # never consumed: the destructor calls the deleter

    class Once:
        def __init__(self, cap, dev):
            self.cap, self.dev = cap, dev

        def __dlpack__(self, **kw):
            return self.cap

        def __dlpack_device__(self):
            return self.dev

    cap = t.__dlpack__(stream=None)
    arr = np.from_dlpack(Once(cap, t.__dlpack_device__()))
    assert 'capsule object "used_dltensor"' in repr(cap), "numpy did not take the capsule"
    assert np.array_equal(arr, np.from_dlpack(t))
    with pytest.raises(BufferError):
        t.__dlpack__(copy=True)
    with pytest.raises(BufferError):
        t.__dlpack__(dl_device=(2, 0))
    with pytest.raises(ValueError):
        t.__dlpack__(stream=0)
    cap = t.__dlpack__(max_version=(1, 0), dl_device=t.__dlpack_device__(), copy=False)
    assert 'capsule object "dltensor"' in repr(cap)  # DLPack 0.6 here: the unversioned capsule


def test_each_for_loop_is_one_epoch(bf, seq_cfg):
    loader = bf.Loader(seq_cfg)
    e0 = epoch(loader)
    e1 = epoch(loader)
    assert len(e0) == len(e1) == len(loader)
    assert loader.position[0] >= 1
    s0 = np.concatenate([b["sample"] for b in e0])
    s1 = np.concatenate([b["sample"] for b in e1])
    assert sorted(s0.tolist()) == sorted(s1.tolist())
    assert not np.array_equal(s0, s1), "the second epoch has the first one's order (global order is reshuffled)"


def test_a_loop_left_early_continues_where_it_stopped(bf, seq_cfg):
    whole = epoch(bf.Loader(seq_cfg))
    loader = bf.Loader(seq_cfg)
    first = []
    for b in loader:
        first.append(ls.snapshot(b))
        if len(first) == 5:
            break
    assert loader.position == (0, 5)
    ls.assert_same_batches(first + epoch(loader), whole)


def test_yaml_text_and_file_give_the_same_batches(bf, seq_cfg, tmp_path):
    from_file = epoch(bf.Loader(seq_cfg))
    text = seq_cfg.read_text()
    from_text = epoch(bf.Loader(text))
    ls.assert_same_batches(from_text, from_file)
    rel = SEQ_YAML.format(path="data")
    (tmp_path / "data").symlink_to(ls.dataset("dna"))
    ls.assert_same_batches(epoch(bf.Loader(rel, base_dir=tmp_path)), from_file)


@pytest.mark.parametrize("stop", [3, 25 + 7])  # mid first epoch; mid second epoch
def test_state_dict_round_trip_continues_identically(bf, seq_cfg, stop):
    a = bf.Loader(seq_cfg)
    it = iter(a)
    taken = 0
    while taken < stop:
        try:
            next(it)
            taken += 1
        except StopIteration:
            it = iter(a)
    state = a.state_dict()
    assert set(state) == {"biofeed_state"} and isinstance(state["biofeed_state"], bytes)
    assert 0 < len(state["biofeed_state"]) <= 256
    after_a = [ls.snapshot(b) for b in it] + epoch(a)

    b = bf.Loader(seq_cfg)
    b.load_state_dict(state)
    after_b = epoch(b) + epoch(b)
    ls.assert_same_batches(after_b, after_a)


def test_image_state_round_trip(bf, img_cfg):
    a = bf.Loader(img_cfg)
    it = iter(a)
    next(it), next(it)
    state = a.state_dict()
    rest_a = [ls.snapshot(b) for b in it]
    b = bf.Loader(img_cfg)
    b.load_state_dict(state)
    ls.assert_same_batches(epoch(b), rest_a)


def test_stats_name_the_stages_and_count_work(bf, seq_cfg):
    loader = bf.Loader(seq_cfg)
    seen = []

    def poll():
        seen.append(loader.stats())

    for i, _ in enumerate(loader):
        if i == 3:
            t = threading.Thread(target=poll)  # stats() is safe from another thread
            t.start()
            t.join()
    st = loader.stats()
    assert seen and isinstance(seen[0], dict)
    assert st, "no stages"
    for name, s in st.items():
        assert isinstance(name, str)
        assert set(s) == {"busy_s", "wait_in_s", "wait_out_s", "bytes", "records"}
        assert s["busy_s"] >= 0 and s["wait_in_s"] >= 0 and s["wait_out_s"] >= 0
    assert max(s["records"] for s in st.values()) >= 200 // 8 * 8 - 8


def test_bad_key_raises_error_naming_file_and_line(bf, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(SEQ_YAML.format(path=ls.dataset("dna")).replace("batch_size: 8", "batch_sise: 8"))
    with pytest.raises(bf.Error) as ei:
        bf.Loader(cfg)
    e = ei.value
    assert isinstance(e, RuntimeError)
    assert f"{cfg}:4" in str(e) and "batch_sise" in str(e), str(e)
    assert e.status == "BFD_ERR_FORMAT"


def test_missing_file_and_bad_text_raise_error(bf, tmp_path):
    with pytest.raises(bf.Error, match="nope.yaml"):
        bf.Loader(str(tmp_path / "nope.yaml"))
    with pytest.raises(bf.Error, match="datasets"):
        bf.Loader("seed: 0\nbatch_size: 4\n")
    with pytest.raises(TypeError):
        bf.Loader(42)


def test_bad_state_raises(bf, seq_cfg):
    loader = bf.Loader(seq_cfg)
    with pytest.raises(ValueError, match="biofeed_state"):
        loader.load_state_dict({})
    with pytest.raises(bf.Error) as ei:
        loader.load_state_dict({"biofeed_state": b"not a state"})
    assert str(ei.value), "the error carries no message"


def test_closed_loader_raises_but_arrays_stay_valid(bf, seq_cfg):
    loader = bf.Loader(seq_cfg)
    batch = next(iter(loader))
    arr = np.from_dlpack(batch["ids"])
    expect = arr.copy()
    loader.close()
    with pytest.raises(bf.Error, match="closed"):
        next(iter(loader))
    with pytest.raises(bf.Error, match="closed"):
        loader.state_dict()
    del batch
    assert np.array_equal(arr, expect)


def test_torch_from_dlpack_views_the_same_memory(bf, seq_cfg, img_cfg):
    torch = pytest.importorskip("torch", reason="torch is not installed in this venv; the torch DLPack test skips")
    loader = bf.Loader(seq_cfg)
    batch = next(iter(loader))
    t = torch.from_dlpack(batch["ids"])
    a = np.from_dlpack(batch["ids"])
    assert t.dtype == torch.int64 and tuple(t.shape) == a.shape
    assert t.data_ptr() == a.__array_interface__["data"][0], "torch copied"
    assert np.array_equal(t.numpy(), a)
    img = next(iter(bf.Loader(img_cfg)))
    ti = torch.from_dlpack(img["image"])
    assert ti.dtype == torch.float32 and tuple(ti.shape) == (4, 1, 48, 64)
    assert torch.equal(ti, torch.from_numpy(np.from_dlpack(img["image"]).copy()))


def test_jax_from_dlpack_views_the_same_memory(bf, img_cfg):
    jax = pytest.importorskip("jax", reason="jax is not installed in this venv; the JAX DLPack test skips")
    batch = next(iter(bf.Loader(img_cfg)))
    j = jax.dlpack.from_dlpack(batch["image"])
    a = np.from_dlpack(batch["image"])
    assert j.dtype == np.float32 and j.shape == a.shape
    assert j.unsafe_buffer_pointer() == a.__array_interface__["data"][0], "jax copied"
    del batch
    assert np.array_equal(np.asarray(j), a)


class _FakeTorchGroup:
    """Duck-types torch.distributed.ProcessGroup: rank() and size()."""

    def __init__(self, rank, size):
        self._r, self._s = rank, size

    def rank(self):
        return self._r

    def size(self):
        return self._s


class _FakeTorchDist:
    """Duck-types the torch.distributed module: get_rank(), get_world_size()."""

    def get_rank(self):
        return 1

    def get_world_size(self):
        return 2


class _FakeMpiComm:
    """Duck-types an mpi4py communicator: Get_rank(), Get_size()."""

    def Get_rank(self):
        return 1

    def Get_size(self):
        return 2


def _samples(loader):
    return [b["sample"].tolist() for b in epoch(loader)]


@pytest.mark.parametrize("source", ["group", "module", "comm"])
def test_rank_and_size_from_a_process_group_or_communicator(bf, seq_cfg, source):
    obj = {"group": _FakeTorchGroup(1, 2), "module": _FakeTorchDist(), "comm": _FakeMpiComm()}[source]
    kw = {"comm": obj} if source == "comm" else {"group": obj}
    with bf.Loader(seq_cfg, **kw) as a, bf.Loader(seq_cfg, rank=1, world_size=2) as b:
        assert len(a) == len(b) == 200 // 8 // 2
        assert _samples(a) == _samples(b)
    with bf.Loader(seq_cfg, rank=0, world_size=2) as c:
        other = {s for batch in _samples(c) for s in batch}
    with bf.Loader(seq_cfg, **kw) as a:
        mine = {s for batch in _samples(a) for s in batch}
    assert mine and not mine & other, "rank 1 of 2 must get other samples than rank 0"


def test_group_and_comm_arguments_are_checked(bf, seq_cfg):
    with pytest.raises(TypeError, match="not both"):
        bf.Loader(seq_cfg, group=_FakeTorchGroup(0, 1), comm=_FakeMpiComm())
    with pytest.raises(TypeError, match="do not give them as well"):
        bf.Loader(seq_cfg, rank=0, group=_FakeTorchGroup(0, 1))
    with pytest.raises(TypeError, match="Get_rank"):
        bf.Loader(seq_cfg, comm=object())
    with pytest.raises(ValueError, match="rank 3 of 2"):
        bf.Loader(seq_cfg, group=_FakeTorchGroup(3, 2))


def test_rank_from_real_mpi4py_and_torch_when_importable(bf, seq_cfg):
    used = 0
    try:
        from mpi4py import MPI
    except ImportError:
        MPI = None
    if MPI is not None:
        with bf.Loader(seq_cfg, comm=MPI.COMM_SELF) as a:
            assert len(a) == 200 // 8
        used += 1
    try:
        import torch.distributed as dist
    except ImportError:
        dist = None
    if dist is not None and dist.is_available() and dist.is_initialized():
        with bf.Loader(seq_cfg, group=dist) as a:
            assert len(a) == 200 // 8 // dist.get_world_size()
        used += 1
    if not used:
        pytest.skip("neither mpi4py nor an initialized torch.distributed here; the fake objects above cover the API")
