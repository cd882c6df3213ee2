"""TIFF, PNG, NIfTI and HDF5 image packs read back with h5py and compared
with what tifffile, Pillow, nibabel and h5py wrote."""
import os

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import check_manifest_files, load_manifest, pack, read_images, run_bf, describe

RNG = np.random.default_rng(2024)


def rand(shape, dtype):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return (RNG.standard_normal(shape) * 1000).astype(dt)
    info = np.iinfo(dt)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)


def pack_one(tmp_path, path, opts=()):
    out = tmp_path / "out"
    pack(out, path, opts=opts)
    m = check_manifest_files(out)
    assert m["kind"] == "image"
    groups = read_images(out)
    assert list(groups) == [0]
    return groups[0], m


def assert_same(got, want):
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- TIFF

@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32"])
def test_tiff_2d_dtypes(tmp_path, dtype):
    a = rand((37, 53), dtype)
    tifffile.imwrite(tmp_path / "a.tif", a)
    g, m = pack_one(tmp_path, tmp_path / "a.tif")
    assert_same(g["data"], a[None, None])
    grp = m["schema"]["groups"][0]
    assert grp["dtype"] == dtype and grp["shape"] == [1, 37, 53] and grp["layout"] == "CYX"


def test_tiff_big_endian(tmp_path):
    a = rand((20, 30), "uint16")
    tifffile.imwrite(tmp_path / "a.tif", a, byteorder=">")
    g, _ = pack_one(tmp_path, tmp_path / "a.tif")
    assert_same(g["data"], a[None, None])


def test_tiff_rgb_chunky_and_planar(tmp_path):
    a = rand((25, 31, 3), "uint8")
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="rgb")
    b = rand((3, 25, 31), "uint8")
    tifffile.imwrite(tmp_path / "b.tif", b, photometric="rgb", planarconfig="separate")
    out = tmp_path / "out"
    pack(out, tmp_path / "a.tif", tmp_path / "b.tif")
    g = read_images(out)[0]
    assert_same(g["data"], np.stack([a.transpose(2, 0, 1), b]))


def test_tiff_multipage_as_z(tmp_path):
    a = rand((5, 17, 19), "uint16")
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="minisblack")
    assert len(tifffile.TiffFile(tmp_path / "a.tif").pages) == 5
    g, m = pack_one(tmp_path, tmp_path / "a.tif", ["--pages", "z"])
    assert_same(g["data"], a[None, None])  # [n, C=1, Z, Y, X]
    assert m["schema"]["groups"][0]["layout"] == "CZYX"
    assert m["schema"]["groups"][0]["shape"] == [1, 5, 17, 19]


def test_tiff_multipage_as_c(tmp_path):
    a = rand((4, 17, 19), "uint16")
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="minisblack")
    assert len(tifffile.TiffFile(tmp_path / "a.tif").pages) == 4
    g, m = pack_one(tmp_path, tmp_path / "a.tif", ["--pages", "c"])
    assert_same(g["data"], a[None])
    assert m["schema"]["groups"][0]["shape"] == [4, 17, 19]


def test_tiff_multipage_rgb_as_z_and_c(tmp_path):
    a = rand((3, 10, 12, 3), "uint8")  # pages, Y, X, samples
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="rgb")
    out = tmp_path / "z"
    pack(out, tmp_path / "a.tif", opts=["--pages", "z"])
    assert_same(read_images(out)[0]["data"], a.transpose(3, 0, 1, 2)[None])  # [C, Z, Y, X]
    out = tmp_path / "c"
    pack(out, tmp_path / "a.tif", opts=["--pages", "c"])
    # a page's channels are adjacent: channel index = page * 3 + sample
    assert_same(read_images(out)[0]["data"], a.transpose(0, 3, 1, 2).reshape(9, 10, 12)[None])


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_tiff_tiled_with_edge_tiles(tmp_path, dtype):
    a = rand((50, 37), dtype)
    tifffile.imwrite(tmp_path / "a.tif", a, tile=(16, 16))
    assert tifffile.TiffFile(tmp_path / "a.tif").pages[0].is_tiled
    g, _ = pack_one(tmp_path, tmp_path / "a.tif")
    assert_same(g["data"], a[None, None])


def test_tiff_tiled_rgb(tmp_path):
    a = rand((40, 33, 3), "uint8")
    tifffile.imwrite(tmp_path / "a.tif", a, tile=(16, 16), photometric="rgb")
    g, _ = pack_one(tmp_path, tmp_path / "a.tif")
    assert_same(g["data"], a.transpose(2, 0, 1)[None])


def test_tiff_strips(tmp_path):
    a = rand((45, 20), "int16")
    tifffile.imwrite(tmp_path / "a.tif", a, rowsperstrip=4)
    g, _ = pack_one(tmp_path, tmp_path / "a.tif")
    assert_same(g["data"], a[None, None])


@pytest.mark.parametrize("compression", ["zlib", "packbits", "lzw"])
@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_tiff_compressed(tmp_path, compression, dtype):
    if compression == "lzw":
        pytest.importorskip("imagecodecs", reason="tifffile needs imagecodecs to write LZW")
    a = (np.arange(64 * 48).reshape(64, 48) % 97).astype(dtype) * 3
    a[10:20, 5:9] = rand((10, 4), dtype)
    tifffile.imwrite(tmp_path / "a.tif", a, compression=compression, rowsperstrip=16)
    g, _ = pack_one(tmp_path, tmp_path / "a.tif")
    assert_same(g["data"], a[None, None])


def test_tiff_deflate_with_predictor(tmp_path):
    pytest.importorskip("imagecodecs", reason="tifffile needs imagecodecs for the predictor")
    a = rand((32, 40), "uint16")
    tifffile.imwrite(tmp_path / "a.tif", a, compression="zlib", predictor=True)
    g, _ = pack_one(tmp_path, tmp_path / "a.tif")
    assert_same(g["data"], a[None, None])


# ---------------------------------------------------------------- PNG

@pytest.mark.parametrize("kind", ["gray8", "gray16", "rgb", "rgba", "la", "palette"])
def test_png(tmp_path, kind):
    if kind == "gray8":
        a = rand((21, 34), "uint8")
        Image.fromarray(a, "L").save(tmp_path / "a.png")
        want = a[None]
    elif kind == "gray16":
        a = rand((21, 34), "uint16")
        im = Image.fromarray(a)
        assert im.mode == "I;16"
        im.save(tmp_path / "a.png")
        want = a[None]
    elif kind in ("rgb", "rgba", "la"):
        c = {"rgb": 3, "rgba": 4, "la": 2}[kind]
        a = rand((21, 34, c), "uint8")
        Image.fromarray(a, kind.upper()).save(tmp_path / "a.png")
        want = a.transpose(2, 0, 1)
    else:
        idx = rand((21, 34), "uint8") % 16
        im = Image.fromarray(idx, "P")
        pal = rand((16 * 3,), "uint8")
        im.putpalette(pal.tolist())
        im.save(tmp_path / "a.png")
        want = np.asarray(Image.open(tmp_path / "a.png").convert("RGB")).transpose(2, 0, 1)
    # what Pillow reads back is what was meant
    if kind != "palette":
        back = np.asarray(Image.open(tmp_path / "a.png"))
        assert back.tobytes() == (want[0] if want.shape[0] == 1 else want.transpose(1, 2, 0)).tobytes()
    g, m = pack_one(tmp_path, tmp_path / "a.png")
    assert_same(g["data"], want[None])


# ---------------------------------------------------------------- NIfTI

def _nifti(path, arr):
    import nibabel as nib
    img = nib.Nifti1Image(arr, np.eye(4))
    img.set_data_dtype(arr.dtype)
    nib.save(img, str(path))
    return nib.load(str(path)).get_fdata(caching="unchanged").dtype  # just to be sure it reloads


@pytest.mark.parametrize("name", ["v.nii", "v.nii.gz"])
def test_nifti_3d_uint16(tmp_path, name):
    vol = rand((13, 11, 7), "uint16")  # nibabel order: x, y, z
    _nifti(tmp_path / name, vol)
    g, m = pack_one(tmp_path, tmp_path / name)
    assert_same(g["data"], vol.transpose(2, 1, 0)[None, None])  # [n, C=1, Z, Y, X]
    assert m["schema"]["groups"][0]["shape"] == [1, 7, 11, 13]


def test_nifti_4d_float32(tmp_path):
    vol = rand((9, 8, 5, 3), "float32")  # x, y, z, t
    _nifti(tmp_path / "v.nii.gz", vol)
    g, m = pack_one(tmp_path, tmp_path / "v.nii.gz")
    assert_same(g["data"], vol.transpose(3, 2, 1, 0)[None])  # [n, C=t, Z, Y, X]


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32"])
def test_nifti_other_dtypes(tmp_path, dtype):
    vol = rand((6, 5, 4), dtype)
    _nifti(tmp_path / "v.nii", vol)
    g, _ = pack_one(tmp_path, tmp_path / "v.nii")
    assert_same(g["data"], vol.transpose(2, 1, 0)[None, None])


# ---------------------------------------------------------------- HDF5 inputs

def test_h5_sample_axis_0(tmp_path):
    a = rand((6, 3, 10, 12), "uint16")
    with h5py.File(tmp_path / "in.h5", "w") as f:
        f.create_dataset("grp/images", data=a, chunks=(1, 3, 5, 12), compression="gzip", shuffle=True)
    out = tmp_path / "out"
    pack(out, tmp_path / "in.h5", opts=["--h5-dataset", "/grp/images", "--sample-axis", "0"])
    m = check_manifest_files(out)
    assert m["totals"]["records"] == 6
    assert_same(read_images(out)[0]["data"], a)


def test_h5_sample_axis_1(tmp_path):
    a = rand((2, 5, 8, 9), "float32")  # C, N, Y, X
    with h5py.File(tmp_path / "in.hdf5", "w") as f:
        f["x"] = a
    out = tmp_path / "out"
    pack(out, tmp_path / "in.hdf5", opts=["--h5-dataset", "x", "--sample-axis", "1"])
    assert_same(read_images(out)[0]["data"], a.transpose(1, 0, 2, 3))


def test_h5_rank3_and_rank5(tmp_path):
    a = rand((4, 7, 6), "int16")  # N, Y, X -> [1, Y, X]
    b = rand((3, 2, 4, 5, 6), "uint8")  # N, C, Z, Y, X
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["d"] = a
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["d"] = b
    out = tmp_path / "out"
    pack(out, tmp_path / "a.h5", tmp_path / "b.h5", opts=["--h5-dataset", "/d"])
    g = read_images(out)
    assert_same(g[0]["data"], a[:, None])
    assert_same(g[1]["data"], b)
    groups = load_manifest(out)["schema"]["groups"]
    assert groups[0]["shape"] == [1, 7, 6] and groups[1]["shape"] == [2, 4, 5, 6]


# ---------------------------------------------------------------- compression

def _img_set(d, n=5):
    d.mkdir()
    arrs = []
    for i in range(n):
        a = (np.add.outer(np.arange(60), np.arange(70)) * (i + 1) % 4000).astype(np.uint16)
        a[::7] = rand((9, 70), "uint16")
        tifffile.imwrite(d / f"im{i}.tif", a)
        arrs.append(a)
    return np.stack(arrs)[:, None]


@pytest.mark.parametrize("level", ["1", "6", "12"])
def test_deflate_roundtrip_identical_to_uncompressed(tmp_path, level):
    want = _img_set(tmp_path / "in")
    pack(tmp_path / "raw", tmp_path / "in")
    pack(tmp_path / "def", tmp_path / "in", opts=["--compress", "deflate", "--level", level])
    raw, dfl = read_images(tmp_path / "raw")[0], read_images(tmp_path / "def")[0]
    assert_same(raw["data"], want)
    assert_same(dfl["data"], want)
    for s in raw["shards"]:
        assert s["compression"] is None and not s["shuffle"]
    for s in dfl["shards"]:
        assert s["compression"] == "gzip" and s["shuffle"] is True
        if level == "6":
            assert s["compression_opts"] == 6
    m = check_manifest_files(tmp_path / "def")
    assert m["options"]["compression"] == "deflate+shuffle"
    with h5py.File(tmp_path / "def" / m["shards"][0]["path"]) as f:
        assert f.attrs["compression"] == "deflate+shuffle"
    assert os.path.getsize(tmp_path / "def" / m["shards"][0]["path"]) < \
        os.path.getsize(tmp_path / "raw" / load_manifest(tmp_path / "raw")["shards"][0]["path"])


def test_deflate_incompressible_and_multichunk(tmp_path):
    # random float32 noise does not compress (stored chunks); > 1 MiB samples span chunks with edges
    a = rand((3, 523, 611), "float32")
    b = rand((700, 1001), "uint16")
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="minisblack", planarconfig="separate")
    tifffile.imwrite(tmp_path / "b.tif", b)
    for opts in ([], ["--compress", "deflate"]):
        out = tmp_path / ("o" + "".join(opts))
        pack(out, tmp_path / "a.tif", tmp_path / "b.tif", opts=opts)
        g = read_images(out, check_crc=False)
        assert_same(g[0]["data"], a[None])
        assert_same(g[1]["data"], b[None, None])
        check_manifest_files(out)


# ---------------------------------------------------------------- labels and classes

def _images_and_masks(tmp_path, stems=("a", "b", "c"), mask_name="{}.png", mask_dir="masks"):
    imgs, masks = tmp_path / "imgs", tmp_path / mask_dir
    imgs.mkdir(exist_ok=True)
    masks.mkdir(exist_ok=True)
    data, labs = [], []
    for s in stems:
        a = rand((24, 30, 3), "uint8")
        Image.fromarray(a, "RGB").save(imgs / f"{s}.png")
        lab = (rand((24, 30), "uint8") % 5).astype(np.uint8)
        Image.fromarray(lab, "L").save(masks / mask_name.format(s))
        data.append(a.transpose(2, 0, 1))
        labs.append(lab)
    return imgs, masks, np.stack(data), np.stack(labs)


def test_labels_directory(tmp_path):
    imgs, masks, data, labs = _images_and_masks(tmp_path)
    out = tmp_path / "out"
    pack(out, imgs, opts=["--labels", masks])
    g = read_images(out)[0]
    assert_same(g["data"], data)
    assert_same(g["labels"], labs)
    assert g["classes"] is None
    m = load_manifest(out)
    assert m["schema"]["groups"][0]["label_dtype"] == "uint8"


def test_labels_glob(tmp_path):
    imgs, masks, data, labs = _images_and_masks(tmp_path, mask_name="{}_mask.png")
    out = tmp_path / "out"
    pack(out, "imgs", opts=["--labels", "masks/*_mask.png"], cwd=tmp_path)
    g = read_images(out)[0]
    assert_same(g["data"], data)
    assert_same(g["labels"], labs)
    assert load_manifest(out)["options"]["labels"] == "masks/*_mask.png"


def test_labels_3d_tiff_uint16(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "lab").mkdir()
    vol = rand((4, 12, 14), "uint16")
    lab = rand((4, 12, 14), "uint16") % 300
    tifffile.imwrite(tmp_path / "imgs" / "v.tif", vol, photometric="minisblack")
    tifffile.imwrite(tmp_path / "lab" / "v.tif", lab, photometric="minisblack")
    out = tmp_path / "out"
    pack(out, tmp_path / "imgs", opts=["--labels", tmp_path / "lab"])
    g = read_images(out)[0]
    assert_same(g["data"], vol[None, None])
    assert_same(g["labels"], lab[None])


def test_classes_csv(tmp_path):
    imgs, masks, data, labs = _images_and_masks(tmp_path)
    (tmp_path / "classes.csv").write_text("stem,class\na,3\nb,-1\n# comment\nc,7\n")
    out = tmp_path / "out"
    pack(out, imgs, opts=["--labels", masks, "--classes", tmp_path / "classes.csv"])
    g = read_images(out)[0]
    assert_same(g["labels"], labs)
    assert_same(g["classes"], np.array([3, -1, 7], dtype=np.int64))
    assert load_manifest(out)["schema"]["groups"][0]["classes"] is True


def test_classes_without_labels(tmp_path):
    imgs, _, data, _ = _images_and_masks(tmp_path)
    (tmp_path / "c.csv").write_text("c,2\nb,1\na,0\n")
    out = tmp_path / "out"
    pack(out, imgs, opts=["--classes", tmp_path / "c.csv"])
    g = read_images(out)[0]
    assert g["labels"] is None
    assert_same(g["classes"], np.array([0, 1, 2], dtype=np.int64))


# ---------------------------------------------------------------- groups and sharding

def test_groups_by_dtype_and_shape(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    a = rand((32, 32), "uint8")
    b = rand((16, 20), "uint8")
    c = rand((32, 32), "uint8")
    e = rand((32, 32), "uint16")
    f = rand((32, 32, 3), "uint8")
    Image.fromarray(a).save(d / "a.png")
    Image.fromarray(b).save(d / "b.png")
    Image.fromarray(c).save(d / "c.png")
    tifffile.imwrite(d / "d.tif", e)
    Image.fromarray(f, "RGB").save(d / "e.png")
    out = tmp_path / "out"
    pack(out, d)
    m = check_manifest_files(out)
    assert sorted(s["path"] for s in m["shards"]) == [
        "img-g0-00000.h5", "img-g1-00000.h5", "img-g2-00000.h5", "img-g3-00000.h5"]
    groups = {g["group"]: g for g in m["schema"]["groups"]}
    assert [(groups[i]["dtype"], groups[i]["shape"], groups[i]["records"]) for i in range(4)] == [
        ("uint8", [1, 32, 32], 2), ("uint8", [1, 16, 20], 1), ("uint16", [1, 32, 32], 1),
        ("uint8", [3, 32, 32], 1)]
    for s in m["shards"]:
        assert s["path"].startswith(f"img-g{s['group']}-")
    g = read_images(out)
    assert_same(g[0]["data"], np.stack([a, c])[:, None])
    assert_same(g[1]["data"], b[None, None])
    assert_same(g[2]["data"], e[None, None])
    assert_same(g[3]["data"], f.transpose(2, 0, 1)[None])
    assert m["totals"]["records"] == 5


def test_image_records_per_shard_and_shard_size(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    arrs = [rand((16, 32), "uint16") for _ in range(7)]  # 1 KiB each
    for i, a in enumerate(arrs):
        tifffile.imwrite(d / f"i{i:02d}.tif", a)
    out = tmp_path / "rps"
    pack(out, d, opts=["--records-per-shard", "3"])
    m = check_manifest_files(out)
    assert [(s["path"], s["records"]) for s in m["shards"]] == [
        ("img-g0-00000.h5", 3), ("img-g0-00001.h5", 3), ("img-g0-00002.h5", 1)]
    assert_same(read_images(out)[0]["data"], np.stack(arrs)[:, None])
    out = tmp_path / "size"
    pack(out, d, opts=["--shard-size", "2K"])
    m = check_manifest_files(out)
    assert [s["records"] for s in m["shards"]] == [2, 2, 2, 1]
    assert_same(read_images(out)[0]["data"], np.stack(arrs)[:, None])


def test_inspect_image_dataset_and_shard(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    tifffile.imwrite(d / "a.tif", rand((5, 17, 19), "uint16"), photometric="minisblack")
    tifffile.imwrite(d / "b.tif", rand((5, 17, 19), "uint16"), photometric="minisblack")
    Image.fromarray(rand((8, 9), "uint8")).save(d / "c.png")
    out = tmp_path / "out"
    pack(out, d)
    p = run_bf("inspect", out)
    assert p.returncode == 0, describe(p)
    assert "kind: image" in p.stdout
    assert "records: 3" in p.stdout
    assert "uint16 [1, 5, 17, 19]" in p.stdout and "CZYX" in p.stdout
    assert "uint8 [1, 8, 9]" in p.stdout
    p = run_bf("inspect", out / "img-g0-00000.h5")
    assert p.returncode == 0, describe(p)
    assert "uint16 [1, 5, 17, 19]" in p.stdout
    assert "2 records" in p.stdout


def write_png_raw(path, arr, color_type):
    """A minimal independent PNG encoder: 8/16-bit, filter 0 rows, one IDAT.
    arr: [Y, X] or [Y, X, C]; color_type 0 gray, 2 RGB, 4 gray+alpha, 6 RGBA."""
    import struct
    import zlib
    a = np.asarray(arr)
    depth = a.dtype.itemsize * 8
    rows = a.reshape(a.shape[0], -1).astype(a.dtype.newbyteorder(">"))
    raw = b"".join(b"\x00" + r.tobytes() for r in rows)

    def chunk(t, data):
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", a.shape[1], a.shape[0], depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) +
                     chunk(b"IEND", b""))


@pytest.mark.parametrize("ctype,chans", [(0, 1), (2, 3), (4, 2), (6, 4)])
def test_png_16bit_all_color_types(tmp_path, ctype, chans):
    a = rand((13, 17, chans) if chans > 1 else (13, 17), "uint16")
    write_png_raw(tmp_path / "a.png", a, ctype)
    g, _ = pack_one(tmp_path, tmp_path / "a.png")
    want = a.transpose(2, 0, 1) if chans > 1 else a[None]
    assert_same(g["data"], want[None])


def test_nifti_single_slice_time_series(tmp_path):
    vol = rand((9, 8, 1, 3), "int16")  # z = 1: [C=t, Y, X]
    _nifti(tmp_path / "v.nii", vol)
    g, m = pack_one(tmp_path, tmp_path / "v.nii")
    assert_same(g["data"], vol[:, :, 0, :].transpose(2, 1, 0)[None])
    assert m["schema"]["groups"][0]["layout"] == "CYX"


def test_nifti_2d(tmp_path):
    im = rand((12, 7), "uint8")
    _nifti(tmp_path / "v.nii.gz", im)
    g, _ = pack_one(tmp_path, tmp_path / "v.nii.gz")
    assert_same(g["data"], im.T[None, None])


def test_nifti_scaling_not_applied(tmp_path):
    import nibabel as nib
    raw = rand((5, 4, 3), "int16")
    img = nib.Nifti1Image(raw, np.eye(4))
    img.header.set_data_dtype(np.int16)
    img.header.set_slope_inter(2.5, -10)
    nib.save(img, str(tmp_path / "s.nii"))
    stored = np.asarray(nib.load(str(tmp_path / "s.nii")).dataobj.get_unscaled())
    g, _ = pack_one(tmp_path, tmp_path / "s.nii")
    assert_same(g["data"], stored.transpose(2, 1, 0)[None, None])


def test_h5_big_endian_and_int_types(tmp_path):
    arrs = {"be": rand((3, 6, 5), "uint16").astype(">u2"), "i32": rand((2, 6, 5), "int32"), "u32": rand((2, 6, 5), "uint32"),
            "i64": rand((2, 6, 5), "int64")}
    out_groups = []
    for name, a in arrs.items():
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            f["d"] = a
        out = tmp_path / f"out_{name}"
        pack(out, tmp_path / f"{name}.h5", opts=["--h5-dataset", "d"])
        out_groups.append((a, read_images(out)[0]["data"]))
    for a, got in out_groups:
        assert_same(got, a.astype(a.dtype.newbyteorder("="))[:, None])


def test_groups_interleaved_shard_numbering(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    small, big = [], []
    for i in range(6):
        if i % 2:
            a = rand((8, 8), "uint8")
            small.append(a)
        else:
            a = rand((9, 8), "uint8")
            big.append(a)
        Image.fromarray(a).save(d / f"{i}.png")
    out = tmp_path / "out"
    pack(out, d, opts=["--records-per-shard", "2"])
    m = check_manifest_files(out)
    assert sorted((s["path"], s["group"], s["records"]) for s in m["shards"]) == [
        ("img-g0-00000.h5", 0, 2), ("img-g0-00001.h5", 0, 1), ("img-g1-00000.h5", 1, 2), ("img-g1-00001.h5", 1, 1)]
    g = read_images(out)
    assert_same(g[0]["data"], np.stack(big)[:, None])
    assert_same(g[1]["data"], np.stack(small)[:, None])


def test_labels_stem_is_up_to_first_dot(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "masks").mkdir()
    a = rand((10, 11), "uint16")
    lab = rand((10, 11), "uint8") % 3
    tifffile.imwrite(tmp_path / "imgs" / "cell_01.ome.tif", a)
    Image.fromarray(lab).save(tmp_path / "masks" / "cell_01.png")
    out = tmp_path / "out"
    pack(out, tmp_path / "imgs", opts=["--labels", tmp_path / "masks"])
    g = read_images(out)[0]
    assert_same(g["data"], a[None, None])
    assert_same(g["labels"], lab[None])
