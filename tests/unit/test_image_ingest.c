/* Unit tests for the image readers (loader/ingest/image.h): every input is
 * written into a fresh temporary directory with libtiff, libpng, niftiio and
 * HDF5 themselves, read back and compared byte for byte; the error cases
 * check the status and that the message names the file and the reason. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <nifti1_io.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#include "ingest/image.h"
#include "support/testutil.h"

static char tmpdir[64];

static int group_setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/bfd_img_XXXXXX");
  if (!mkdtemp(tmpdir)) return -1;
  /* The test's own writers must not clutter the output either. */
  TIFFSetWarningHandler(NULL);
  nifti_set_debug_level(0);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  tu_rmtree(tmpdir);
  return 0;
}

static const char *tpath(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", tmpdir, name);
  return buf;
}

/* Deterministic bytes; any pattern is a valid uint8/uint16/int16 value. */
static void fill_bytes(void *p, size_t n, uint32_t seed) {
  uint8_t *b = p;
  uint32_t x = seed * 2654435761u + 12345u;
  for (size_t i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    b[i] = (uint8_t)(x >> 24);
  }
}

/* Floats are built from values, not bytes, so no NaN patterns appear. */
static void fill_f32(float *p, size_t n, float base) {
  for (size_t i = 0; i < n; i++) p[i] = base + (float)i * 0.37f - (float)(i % 7) * 11.25f;
}

static void expect_error(bfd_status got, bfd_status want, const char *name, const char *reason) {
  const char *msg = bfd_last_error();
  if (got != want || !strstr(msg, name) || (reason && !strstr(msg, reason))) {
    print_error("status %s (want %s), message \"%s\" (want \"%s\" and \"%s\")\n", bfd_status_name(got),
                bfd_status_name(want), msg, name, reason ? reason : "");
    fail();
  }
}

static void expect_empty(const bfdi_image *im) {
  assert_null(im->data);
  assert_int_equal(im->nbytes, 0);
  assert_int_equal(im->ndim, 0);
}

static void expect_shape(const bfdi_image *im, bfd_dtype dt, int ndim, uint64_t a, uint64_t b, uint64_t c,
                         uint64_t d) {
  assert_int_equal(im->dtype, dt);
  assert_int_equal(im->ndim, ndim);
  const uint64_t want[4] = {a, b, c, d};
  uint64_t n = bfd_dtype_size(dt);
  for (int i = 0; i < ndim; i++) {
    assert_int_equal(im->shape[i], want[i]);
    n *= want[i];
  }
  assert_int_equal(im->nbytes, n);
  assert_non_null(im->data);
}

/* ---- format_of and free ---- */

static void t_format_of(void **state) {
  (void)state;
  assert_int_equal(bfdi_image_format_of("a.tif"), BFDI_IMG_TIFF);
  assert_int_equal(bfdi_image_format_of("dir/B.TIFF"), BFDI_IMG_TIFF);
  assert_int_equal(bfdi_image_format_of("c.ome.tif"), BFDI_IMG_TIFF);
  assert_int_equal(bfdi_image_format_of("d.Png"), BFDI_IMG_PNG);
  assert_int_equal(bfdi_image_format_of("e.nii"), BFDI_IMG_NIFTI);
  assert_int_equal(bfdi_image_format_of("f.NII.GZ"), BFDI_IMG_NIFTI);
  assert_int_equal(bfdi_image_format_of("g.h5"), BFDI_IMG_HDF5);
  assert_int_equal(bfdi_image_format_of("h.HDF5"), BFDI_IMG_HDF5);
  assert_int_equal(bfdi_image_format_of("i.he5"), BFDI_IMG_HDF5);
  assert_int_equal(bfdi_image_format_of("j.gz"), BFDI_IMG_NONE);
  assert_int_equal(bfdi_image_format_of("k.txt"), BFDI_IMG_NONE);
  assert_int_equal(bfdi_image_format_of("l.nii.gz.bak"), BFDI_IMG_NONE);
  assert_int_equal(bfdi_image_format_of("tif"), BFDI_IMG_NONE);
  assert_int_equal(bfdi_image_format_of(".tif"), BFDI_IMG_NONE);
  assert_int_equal(bfdi_image_format_of("dir/.png"), BFDI_IMG_NONE);
  assert_int_equal(bfdi_image_format_of(""), BFDI_IMG_NONE);
  assert_int_equal(bfdi_image_format_of(NULL), BFDI_IMG_NONE);
}

static void t_image_free(void **state) {
  (void)state;
  bfdi_image im = {.dtype = BFD_DTYPE_UINT8, .ndim = 3, .shape = {1, 2, 2}, .nbytes = 4};
  im.data = malloc(4);
  assert_non_null(im.data);
  bfdi_image_free(&im);
  assert_null(im.data);
  assert_int_equal(im.nbytes, 0);
  assert_int_equal(im.ndim, 0);
  bfdi_image_free(&im);
  bfdi_image_free(NULL);
}

/* ---- TIFF ---- */

typedef struct tspec {
  uint32_t w, h;
  uint16_t spp, bps, sfmt, photometric, planar, compression;
  uint32_t rps;    /* 0: one strip */
  uint32_t tw, th; /* tiled when non-zero */
} tspec;

/* Writes one page from planar [spp][h][w] data, chunky or separate, in
 * strips or tiles, as spec says. */
static void tiff_page(TIFF *t, const tspec *s, const uint8_t *planes) {
  size_t esz = s->bps / 8;
  assert_true(TIFFSetField(t, TIFFTAG_IMAGEWIDTH, s->w));
  assert_true(TIFFSetField(t, TIFFTAG_IMAGELENGTH, s->h));
  assert_true(TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, s->spp));
  assert_true(TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, s->bps));
  assert_true(TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, s->sfmt));
  assert_true(TIFFSetField(t, TIFFTAG_PHOTOMETRIC, s->photometric));
  assert_true(TIFFSetField(t, TIFFTAG_PLANARCONFIG, s->planar));
  assert_true(TIFFSetField(t, TIFFTAG_COMPRESSION, s->compression));
  int sep = s->planar == PLANARCONFIG_SEPARATE;
  uint32_t nplanes = sep ? s->spp : 1, per = sep ? 1 : s->spp;
  size_t plane = (size_t)s->w * s->h * esz;
  if (s->tw) {
    assert_true(TIFFSetField(t, TIFFTAG_TILEWIDTH, s->tw));
    assert_true(TIFFSetField(t, TIFFTAG_TILELENGTH, s->th));
    uint32_t across = (s->w + s->tw - 1) / s->tw, down = (s->h + s->th - 1) / s->th;
    size_t tsz = (size_t)s->tw * s->th * per * esz;
    uint8_t *buf = malloc(tsz);
    assert_non_null(buf);
    for (uint32_t p = 0; p < nplanes; p++)
      for (uint32_t ty = 0; ty < down; ty++)
        for (uint32_t tx = 0; tx < across; tx++) {
          /* Outside the image, edge tiles get a fill value the reader must drop. */
          memset(buf, 0xA5, tsz);
          for (uint32_t y = 0; y < s->th && ty * s->th + y < s->h; y++)
            for (uint32_t x = 0; x < s->tw && tx * s->tw + x < s->w; x++)
              for (uint32_t c = 0; c < per; c++)
                memcpy(buf + (((size_t)y * s->tw + x) * per + c) * esz,
                       planes + (p + c) * plane + (((size_t)ty * s->th + y) * s->w + tx * s->tw + x) * esz, esz);
          uint32_t tile = (p * down + ty) * across + tx;
          assert_int_equal(TIFFWriteEncodedTile(t, tile, buf, (tmsize_t)tsz), (tmsize_t)tsz);
        }
    free(buf);
  } else {
    uint32_t rps = s->rps ? s->rps : s->h;
    assert_true(TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rps));
    uint32_t per_plane = (s->h + rps - 1) / rps;
    uint8_t *buf = malloc((size_t)rps * s->w * per * esz);
    assert_non_null(buf);
    for (uint32_t p = 0; p < nplanes; p++)
      for (uint32_t k = 0; k < per_plane; k++) {
        uint32_t row0 = k * rps, rows = s->h - row0 < rps ? s->h - row0 : rps;
        for (uint32_t y = 0; y < rows; y++)
          for (uint32_t x = 0; x < s->w; x++)
            for (uint32_t c = 0; c < per; c++)
              memcpy(buf + (((size_t)y * s->w + x) * per + c) * esz,
                     planes + (p + c) * plane + (((size_t)row0 + y) * s->w + x) * esz, esz);
        tmsize_t n = (tmsize_t)((size_t)rows * s->w * per * esz);
        assert_int_equal(TIFFWriteEncodedStrip(t, p * per_plane + k, buf, n), n);
      }
    free(buf);
  }
  assert_true(TIFFWriteDirectory(t));
}

static void write_tiff(const char *path, const tspec *s, int npages, uint8_t *const *pages) {
  TIFF *t = TIFFOpen(path, "w");
  assert_non_null(t);
  for (int i = 0; i < npages; i++) tiff_page(t, &s[i], pages[i]);
  TIFFClose(t);
}

static size_t tspec_bytes(const tspec *s) { return (size_t)s->w * s->h * s->spp * (s->bps / 8); }

/* Writes a one-page file from spec with generated data and checks that the
 * reader gives exactly that data back as [spp, h, w]. */
static void tiff_roundtrip(const char *name, const tspec *s, bfd_dtype dt, uint32_t seed) {
  char p[512];
  tpath(p, sizeof p, name);
  size_t n = tspec_bytes(s);
  uint8_t *data = malloc(n);
  assert_non_null(data);
  if (dt == BFD_DTYPE_FLOAT32)
    fill_f32((float *)data, n / 4, (float)seed);
  else
    fill_bytes(data, n, seed);
  write_tiff(p, s, 1, &data);
  bfdi_image im;
  assert_int_equal(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_OK);
  expect_shape(&im, dt, 3, s->spp, s->h, s->w, 0);
  assert_memory_equal(im.data, data, n);
  bfdi_image_free(&im);
  free(data);
}

#define GRAY(w_, h_, bps_, fmt_) \
  {.w = (w_), .h = (h_), .spp = 1, .bps = (bps_), .sfmt = (fmt_), .photometric = PHOTOMETRIC_MINISBLACK, \
   .planar = PLANARCONFIG_CONTIG, .compression = COMPRESSION_NONE}

static void t_tiff_u8_gray(void **state) {
  (void)state;
  tspec s = GRAY(37, 23, 8, SAMPLEFORMAT_UINT);
  s.rps = 5;
  tiff_roundtrip("u8.tif", &s, BFD_DTYPE_UINT8, 1);
}

static void t_tiff_u16_strips(void **state) {
  (void)state;
  tspec s = GRAY(50, 31, 16, SAMPLEFORMAT_UINT);
  s.rps = 4;
  tiff_roundtrip("u16.tif", &s, BFD_DTYPE_UINT16, 2);
}

static void t_tiff_miniswhite(void **state) {
  (void)state;
  tspec s = GRAY(9, 4, 16, SAMPLEFORMAT_UINT);
  s.photometric = PHOTOMETRIC_MINISWHITE;
  tiff_roundtrip("white.tif", &s, BFD_DTYPE_UINT16, 3);
}

static void t_tiff_i16(void **state) {
  (void)state;
  tspec s = GRAY(20, 11, 16, SAMPLEFORMAT_INT);
  s.rps = 3;
  tiff_roundtrip("i16.tif", &s, BFD_DTYPE_INT16, 4);
}

static void t_tiff_f32(void **state) {
  (void)state;
  tspec s = GRAY(17, 13, 32, SAMPLEFORMAT_IEEEFP);
  s.rps = 6;
  tiff_roundtrip("f32.tif", &s, BFD_DTYPE_FLOAT32, 5);
}

static void t_tiff_rgb_chunky(void **state) {
  (void)state;
  tspec s = GRAY(19, 15, 8, SAMPLEFORMAT_UINT);
  s.spp = 3;
  s.photometric = PHOTOMETRIC_RGB;
  s.rps = 4;
  tiff_roundtrip("rgb.tif", &s, BFD_DTYPE_UINT8, 6);
}

static void t_tiff_planar_separate(void **state) {
  (void)state;
  tspec s = GRAY(21, 10, 16, SAMPLEFORMAT_UINT);
  s.spp = 3;
  s.photometric = PHOTOMETRIC_RGB;
  s.planar = PLANARCONFIG_SEPARATE;
  s.rps = 3;
  tiff_roundtrip("sep.tif", &s, BFD_DTYPE_UINT16, 7);
}

static void t_tiff_tiled(void **state) {
  (void)state;
  /* 70x45 in 32x16 tiles: the last column and row of tiles are partial. */
  tspec s = GRAY(70, 45, 16, SAMPLEFORMAT_UINT);
  s.tw = 32;
  s.th = 16;
  tiff_roundtrip("tiled16.tif", &s, BFD_DTYPE_UINT16, 8);
  s.spp = 3;
  s.photometric = PHOTOMETRIC_RGB;
  tiff_roundtrip("tiled_rgb.tif", &s, BFD_DTYPE_UINT16, 9);
  s.planar = PLANARCONFIG_SEPARATE;
  s.bps = 8;
  tiff_roundtrip("tiled_sep.tif", &s, BFD_DTYPE_UINT8, 10);
}

static void t_tiff_compressed(void **state) {
  (void)state;
  tspec s = GRAY(40, 33, 16, SAMPLEFORMAT_UINT);
  s.rps = 8;
  s.compression = COMPRESSION_LZW;
  tiff_roundtrip("lzw.tif", &s, BFD_DTYPE_UINT16, 11);
  s.compression = COMPRESSION_ADOBE_DEFLATE;
  tiff_roundtrip("deflate.tif", &s, BFD_DTYPE_UINT16, 12);
  s.compression = COMPRESSION_DEFLATE;
  tiff_roundtrip("deflate_old.tif", &s, BFD_DTYPE_UINT16, 13);
  s.compression = COMPRESSION_PACKBITS;
  s.bps = 8;
  tiff_roundtrip("packbits.tif", &s, BFD_DTYPE_UINT8, 14);
  s.compression = COMPRESSION_LZW;
  s.bps = 32;
  s.sfmt = SAMPLEFORMAT_IEEEFP;
  s.tw = 16;
  s.th = 16;
  tiff_roundtrip("lzw_tiled_f32.tif", &s, BFD_DTYPE_FLOAT32, 15);
}

static void t_tiff_multipage(void **state) {
  (void)state;
  enum { W = 13, H = 7, C = 3, Z = 4 };
  tspec s[Z];
  uint8_t *pages[Z];
  size_t plane = (size_t)W * H * 2;
  for (int z = 0; z < Z; z++) {
    s[z] = (tspec)GRAY(W, H, 16, SAMPLEFORMAT_UINT);
    s[z].spp = C;
    s[z].photometric = PHOTOMETRIC_RGB;
    s[z].rps = 3;
    /* Page layout may differ between pages: only geometry and type must match. */
    if (z == 1) s[z].planar = PLANARCONFIG_SEPARATE;
    if (z == 2) s[z].compression = COMPRESSION_LZW;
    pages[z] = malloc(plane * C);
    assert_non_null(pages[z]);
    fill_bytes(pages[z], plane * C, 100u + (uint32_t)z);
  }
  char p[512];
  tpath(p, sizeof p, "multi.tif");
  write_tiff(p, s, Z, pages);

  bfdi_image im;
  assert_int_equal(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_OK);
  expect_shape(&im, BFD_DTYPE_UINT16, 4, C, Z, H, W);
  for (int c = 0; c < C; c++)
    for (int z = 0; z < Z; z++)
      assert_memory_equal((uint8_t *)im.data + ((size_t)c * Z + z) * plane, pages[z] + (size_t)c * plane, plane);
  bfdi_image_free(&im);

  assert_int_equal(bfdi_tiff_read(p, BFD_PAGES_AS_C, &im), BFD_OK);
  expect_shape(&im, BFD_DTYPE_UINT16, 3, (uint64_t)C * Z, H, W, 0);
  for (int z = 0; z < Z; z++)
    assert_memory_equal((uint8_t *)im.data + (size_t)z * C * plane, pages[z], plane * C);
  bfdi_image_free(&im);
  for (int z = 0; z < Z; z++) free(pages[z]);
}

/* A one-strip page with a bit depth or codec the writer may not fill from
 * 8-bit data: the strip holds zeros of libtiff's own strip size. */
static void write_tiff_raw(const char *path, uint32_t w, uint32_t h, uint16_t bps, uint16_t compression,
                           uint16_t photometric) {
  TIFF *t = TIFFOpen(path, "w");
  assert_non_null(t);
  assert_true(TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w));
  assert_true(TIFFSetField(t, TIFFTAG_IMAGELENGTH, h));
  assert_true(TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1));
  assert_true(TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, bps));
  assert_true(TIFFSetField(t, TIFFTAG_PHOTOMETRIC, photometric));
  assert_true(TIFFSetField(t, TIFFTAG_COMPRESSION, compression));
  assert_true(TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, h));
  if (photometric == PHOTOMETRIC_PALETTE) {
    uint16_t map[3][256];
    for (int i = 0; i < 256; i++) map[0][i] = map[1][i] = map[2][i] = (uint16_t)(i * 257);
    assert_true(TIFFSetField(t, TIFFTAG_COLORMAP, map[0], map[1], map[2]));
  }
  tmsize_t n = TIFFStripSize(t);
  uint8_t *buf = calloc(1, (size_t)n);
  assert_non_null(buf);
  assert_true(TIFFWriteEncodedStrip(t, 0, buf, n) >= 0);
  free(buf);
  assert_true(TIFFWriteDirectory(t));
  TIFFClose(t);
}

static void t_tiff_err_jpeg(void **state) {
  (void)state;
  char p[512];
  bfdi_image im;
  if (TIFFIsCODECConfigured(COMPRESSION_JPEG)) {
    write_tiff_raw(tpath(p, sizeof p, "jpeg.tif"), 16, 16, 8, COMPRESSION_JPEG, PHOTOMETRIC_MINISBLACK);
    expect_error(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_ERR_UNSUPPORTED, "jpeg.tif", "compression JPEG (7)");
    expect_empty(&im);
  } else {
    print_message("note: libtiff lacks JPEG; the JPEG case is skipped, CCITT G4 still covers compression\n");
  }
  write_tiff_raw(tpath(p, sizeof p, "g4.tif"), 16, 16, 1, COMPRESSION_CCITTFAX4, PHOTOMETRIC_MINISWHITE);
  expect_error(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_ERR_UNSUPPORTED, "g4.tif", "CCITT Group 4 fax (4)");
  expect_empty(&im);
}

static void t_tiff_err_bitdepth(void **state) {
  (void)state;
  char p[512];
  bfdi_image im;
  write_tiff_raw(tpath(p, sizeof p, "b12.tif"), 10, 4, 12, COMPRESSION_NONE, PHOTOMETRIC_MINISBLACK);
  expect_error(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_ERR_UNSUPPORTED, "b12.tif", "bit depth 12");
  expect_empty(&im);
  write_tiff_raw(tpath(p, sizeof p, "b1.tif"), 10, 4, 1, COMPRESSION_NONE, PHOTOMETRIC_MINISBLACK);
  expect_error(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_ERR_UNSUPPORTED, "b1.tif", "bit depth 1 ");
  expect_empty(&im);
}

static void t_tiff_err_palette_and_sample_format(void **state) {
  (void)state;
  char p[512];
  bfdi_image im;
  write_tiff_raw(tpath(p, sizeof p, "pal.tif"), 8, 8, 8, COMPRESSION_NONE, PHOTOMETRIC_PALETTE);
  expect_error(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_ERR_UNSUPPORTED, "pal.tif", "palette (3)");
  expect_empty(&im);

  tspec s = GRAY(8, 8, 8, SAMPLEFORMAT_INT);
  uint8_t *data = calloc(1, tspec_bytes(&s));
  assert_non_null(data);
  write_tiff(tpath(p, sizeof p, "i8.tif"), &s, 1, &data);
  expect_error(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_ERR_UNSUPPORTED, "i8.tif", "8-bit signed integer");
  expect_empty(&im);
  free(data);
}

static void t_tiff_err_mismatched_pages(void **state) {
  (void)state;
  tspec s[2] = {GRAY(16, 16, 8, SAMPLEFORMAT_UINT), GRAY(16, 8, 8, SAMPLEFORMAT_UINT)};
  uint8_t *pages[2] = {calloc(1, 256), calloc(1, 128)};
  assert_non_null(pages[0]);
  assert_non_null(pages[1]);
  char p[512];
  write_tiff(tpath(p, sizeof p, "mismatch.tif"), s, 2, pages);
  bfdi_image im;
  expect_error(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_ERR_FORMAT, "mismatch.tif", "page 2 of 2 is 16x8");
  expect_empty(&im);

  /* Same geometry, different sample type. */
  s[1] = (tspec)GRAY(16, 16, 16, SAMPLEFORMAT_UINT);
  free(pages[1]);
  pages[1] = calloc(1, 512);
  assert_non_null(pages[1]);
  write_tiff(tpath(p, sizeof p, "mismatch_bps.tif"), s, 2, pages);
  expect_error(bfdi_tiff_read(p, BFD_PAGES_AS_C, &im), BFD_ERR_FORMAT, "mismatch_bps.tif", "page 2 of 2");
  expect_empty(&im);
  free(pages[0]);
  free(pages[1]);
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if (n) assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static void t_tiff_err_garbage_empty_missing(void **state) {
  (void)state;
  char p[512];
  bfdi_image im;
  static const char junk[] = "this is a text file, not a TIFF at all\n";
  write_file(tpath(p, sizeof p, "garbage.tif"), junk, sizeof junk - 1);
  expect_error(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_ERR_FORMAT, "garbage.tif", "not a readable TIFF");
  expect_empty(&im);

  write_file(tpath(p, sizeof p, "empty.tif"), NULL, 0);
  expect_error(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_ERR_FORMAT, "empty.tif", "empty");
  expect_empty(&im);

  tpath(p, sizeof p, "missing.tif");
  expect_error(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_ERR_IO, "missing.tif", "No such file");
  expect_empty(&im);

  expect_error(bfdi_tiff_read(tmpdir, BFD_PAGES_AS_Z, &im), BFD_ERR_INVALID_ARG, tmpdir, "directory");
  expect_error(bfdi_tiff_read(p, (bfd_pages_as)7, &im), BFD_ERR_INVALID_ARG, "missing.tif", "pages_as 7");
}

static void t_tiff_err_truncated(void **state) {
  (void)state;
  /* libtiff writes the directory after the strips, so cutting the file would
   * only lose the directory; a short last strip is what a cut mid-strip
   * looks like to the reader. */
  enum { W = 32, H = 32, RPS = 8 };
  uint8_t strip[W * RPS];
  fill_bytes(strip, sizeof strip, 77);
  char p[512];
  TIFF *t = TIFFOpen(tpath(p, sizeof p, "short.tif"), "w");
  assert_non_null(t);
  assert_true(TIFFSetField(t, TIFFTAG_IMAGEWIDTH, W));
  assert_true(TIFFSetField(t, TIFFTAG_IMAGELENGTH, H));
  assert_true(TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8));
  assert_true(TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK));
  assert_true(TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, RPS));
  for (uint32_t k = 0; k < H / RPS - 1; k++)
    assert_int_equal(TIFFWriteEncodedStrip(t, k, strip, sizeof strip), sizeof strip);
  assert_int_equal(TIFFWriteRawStrip(t, H / RPS - 1, strip, 100), 100);
  assert_true(TIFFWriteDirectory(t));
  TIFFClose(t);
  bfdi_image im;
  expect_error(bfdi_tiff_read(p, BFD_PAGES_AS_Z, &im), BFD_ERR_FORMAT, "short.tif", "strip 3");
  expect_empty(&im);
}

/* ---- PNG ---- */

/* extra, when given, adds chunks to the header before it is written. */
static void write_png(const char *path, uint32_t w, uint32_t h, int color, int depth, const uint8_t *rows_data,
                      const png_color *palette, int npal, void (*extra)(png_structp, png_infop)) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  assert_non_null(png);
  png_infop info = png_create_info_struct(png);
  assert_non_null(info);
  if (setjmp(png_jmpbuf(png))) fail_msg("libpng failed writing %s", path);
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, depth, color, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (palette) png_set_PLTE(png, info, palette, npal);
  if (extra) extra(png, info);
  png_write_info(png, info);
  const uint16_t one = 1;
  /* The test data is in host order; PNG stores 16-bit big-endian. */
  if (depth == 16 && *(const uint8_t *)&one == 1) png_set_swap(png);
  int ch = color == PNG_COLOR_TYPE_RGB ? 3 : color == PNG_COLOR_TYPE_RGBA ? 4 : color == PNG_COLOR_TYPE_GA ? 2 : 1;
  size_t rowbytes = ((size_t)w * ch * depth + 7) / 8;
  for (uint32_t y = 0; y < h; y++) png_write_row(png, rows_data + y * rowbytes);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  assert_int_equal(fclose(f), 0);
}

/* Planar [ch][h][w] to interleaved [h][w][ch]. */
static uint8_t *interleave(const uint8_t *planes, uint32_t w, uint32_t h, int ch, size_t esz) {
  size_t plane = (size_t)w * h;
  uint8_t *out = malloc(plane * ch * esz);
  assert_non_null(out);
  for (size_t i = 0; i < plane; i++)
    for (int c = 0; c < ch; c++) memcpy(out + (i * ch + c) * esz, planes + (c * plane + i) * esz, esz);
  return out;
}

static void png_roundtrip(const char *name, uint32_t w, uint32_t h, int color, int ch, int depth, uint32_t seed) {
  size_t esz = (size_t)depth / 8, n = (size_t)w * h * ch * esz;
  uint8_t *planes = malloc(n);
  assert_non_null(planes);
  fill_bytes(planes, n, seed);
  if (depth == 16) {
    /* Make sure some value has a high byte and a distinct low byte. */
    uint16_t v = 0x1234;
    memcpy(planes, &v, 2);
  }
  uint8_t *rows = interleave(planes, w, h, ch, esz);
  char p[512];
  write_png(tpath(p, sizeof p, name), w, h, color, depth, rows, NULL, 0, NULL);
  bfdi_image im;
  assert_int_equal(bfdi_png_read(p, &im), BFD_OK);
  expect_shape(&im, depth == 16 ? BFD_DTYPE_UINT16 : BFD_DTYPE_UINT8, 3, (uint64_t)ch, h, w, 0);
  assert_memory_equal(im.data, planes, n);
  if (depth == 16) assert_int_equal(((const uint16_t *)im.data)[0], 0x1234);
  bfdi_image_free(&im);
  free(rows);
  free(planes);
}

static void t_png_gray8(void **state) {
  (void)state;
  png_roundtrip("gray8.png", 33, 17, PNG_COLOR_TYPE_GRAY, 1, 8, 20);
}

static void t_png_gray16(void **state) {
  (void)state;
  png_roundtrip("gray16.png", 31, 9, PNG_COLOR_TYPE_GRAY, 1, 16, 21);
}

static void t_png_rgb8(void **state) {
  (void)state;
  png_roundtrip("rgb8.png", 12, 10, PNG_COLOR_TYPE_RGB, 3, 8, 22);
}

static void t_png_rgba(void **state) {
  (void)state;
  png_roundtrip("rgba8.png", 11, 7, PNG_COLOR_TYPE_RGBA, 4, 8, 23);
  png_roundtrip("rgba16.png", 5, 6, PNG_COLOR_TYPE_RGBA, 4, 16, 24);
  png_roundtrip("ga8.png", 9, 4, PNG_COLOR_TYPE_GA, 2, 8, 25);
}

/* A w x h 8-bit palette PNG at name whose pixel i takes colour i % npal
 * reads back as RGB planes of those colours, and an alpha plane from alpha
 * (NULL: none) when extra adds transparency. */
static void check_palette_png(const char *name, int w, int h, const png_color *pal, int npal, const uint8_t *alpha,
                              void (*extra)(png_structp, png_infop)) {
  const int n = w * h;
  uint8_t *idx = malloc((size_t)n);
  assert_non_null(idx);
  for (int i = 0; i < n; i++) idx[i] = (uint8_t)(i % npal);
  char p[512];
  write_png(tpath(p, sizeof p, name), (uint32_t)w, (uint32_t)h, PNG_COLOR_TYPE_PALETTE, 8, idx, pal, npal, extra);
  free(idx);
  bfdi_image im;
  assert_int_equal(bfdi_png_read(p, &im), BFD_OK);
  expect_shape(&im, BFD_DTYPE_UINT8, 3, alpha ? 4 : 3, (uint64_t)h, (uint64_t)w, 0);
  const uint8_t *d = im.data;
  for (int i = 0; i < n; i++) {
    assert_int_equal(d[i], pal[i % npal].red);
    assert_int_equal(d[n + i], pal[i % npal].green);
    assert_int_equal(d[2 * n + i], pal[i % npal].blue);
    if (alpha) assert_int_equal(d[3 * n + i], alpha[i % npal]);
  }
  bfdi_image_free(&im);
}

/* Ancillary chunks the pixels do not need are skipped unread; tRNS is
 * kept (a palette with transparency expands to RGBA). A damaged sPLT that
 * declares 1.2 GB is an error naming the file; that nothing of its length is
 * allocated, the fuzz harness checks under its malloc limit when it replays
 * the same bytes (tests/fuzz/regress/png/oom-1gib-splt-chunk). */
static const png_byte TRNS_ALPHA[3] = {0, 128, 255};

static void trns_and_ancillary(png_structp png, png_infop info) {
  png_set_tRNS(png, info, TRNS_ALPHA, 3, NULL);
  png_text text = {.compression = PNG_TEXT_COMPRESSION_NONE, .key = "Comment", .text = "kept out of the pixels"};
  png_set_text(png, info, &text, 1);
  png_set_gAMA(png, info, 0.5);
}

static void t_png_ancillary_chunks(void **state) {
  (void)state;
  const png_color pal[3] = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}};
  check_palette_png("trns.png", 5, 4, pal, 3, TRNS_ALPHA, trns_and_ancillary);

  char p[512];
  bfdi_image im;
  static const uint8_t splt[] = {0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
                                 0x44, 0x52, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x03, 0x02, 0x03, 0x00, 0x00,
                                 0x00, 0xf4, 0xf4, 0x00, 0x1e, 0x4b, 0x00, 0x00, 0x0c, 0x73, 0x50, 0x4c, 0x54, 0x45,
                                 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x0a, 0x07, 0x08, 0x4e, 0x00};
  write_file(tpath(p, sizeof p, "splt.png"), splt, sizeof splt);
  expect_error(bfdi_png_read(p, &im), BFD_ERR_FORMAT, "splt.png", "cannot decode the PNG");
  expect_empty(&im);
}

static void t_png_palette_and_low_bit_gray(void **state) {
  (void)state;
  enum { W = 6, H = 3 };
  const png_color pal[4] = {{10, 20, 30}, {40, 50, 60}, {70, 80, 90}, {200, 210, 220}};
  check_palette_png("pal.png", W, H, pal, 4, NULL, NULL);

  /* 4-bit gray: two pixels a byte, high nibble first; libpng scales to the
   * 8-bit range (v * 17), so 15 becomes 255. */
  uint8_t packed[H][W / 2];
  char p[512];
  bfdi_image im;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W / 2; x++) packed[y][x] = (uint8_t)(((y * W + 2 * x) % 16) << 4 | ((y * W + 2 * x + 1) % 16));
  write_png(tpath(p, sizeof p, "gray4.png"), W, H, PNG_COLOR_TYPE_GRAY, 4, &packed[0][0], NULL, 0, NULL);
  assert_int_equal(bfdi_png_read(p, &im), BFD_OK);
  expect_shape(&im, BFD_DTYPE_UINT8, 3, 1, H, W, 0);
  const uint8_t *d = im.data;
  for (int i = 0; i < W * H; i++) assert_int_equal(d[i], (i % 16) * 17);
  bfdi_image_free(&im);
}

static void t_png_errors(void **state) {
  (void)state;
  enum { W = 64, H = 64 };
  uint8_t *rows = malloc(W * H * 3);
  assert_non_null(rows);
  fill_bytes(rows, W * H * 3, 30);
  char p[512];
  write_png(tpath(p, sizeof p, "trunc.png"), W, H, PNG_COLOR_TYPE_RGB, 8, rows, NULL, 0, NULL);
  free(rows);
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(truncate(p, st.st_size / 2), 0);
  bfdi_image im;
  expect_error(bfdi_png_read(p, &im), BFD_ERR_FORMAT, "trunc.png", "truncated or corrupt");
  expect_empty(&im);

  static const char junk[] = "GIF89a not really a png";
  write_file(tpath(p, sizeof p, "junk.png"), junk, sizeof junk - 1);
  expect_error(bfdi_png_read(p, &im), BFD_ERR_FORMAT, "junk.png", "not a PNG");
  expect_empty(&im);

  write_file(tpath(p, sizeof p, "empty.png"), NULL, 0);
  expect_error(bfdi_png_read(p, &im), BFD_ERR_FORMAT, "empty.png", "empty");
  expect_empty(&im);

  expect_error(bfdi_png_read(tpath(p, sizeof p, "missing.png"), &im), BFD_ERR_IO, "missing.png", "No such file");
  expect_empty(&im);
}

/* ---- NIfTI ---- */

static void write_nifti(const char *path, int nx, int ny, int nz, int nt, int datatype, const void *data,
                        size_t n) {
  int dims[8] = {nt > 1 ? 4 : 3, nx, ny, nz, nt, 1, 1, 1};
  nifti_image *nim = nifti_make_new_nim(dims, datatype, 1);
  assert_non_null(nim);
  assert_int_equal(nim->nvox * (size_t)nim->nbyper, n);
  memcpy(nim->data, data, n);
  assert_int_equal(nifti_set_filenames(nim, path, 0, 1), 0);
  nifti_image_write(nim);
  nifti_image_free(nim);
}

static void nifti_roundtrip(const char *name, int nx, int ny, int nz, int nt, int datatype, bfd_dtype dt) {
  size_t esz = bfd_dtype_size(dt), n = (size_t)nx * ny * nz * nt * esz;
  uint8_t *data = malloc(n);
  assert_non_null(data);
  if (dt == BFD_DTYPE_FLOAT32)
    fill_f32((float *)data, n / 4, -3.5f);
  else
    fill_bytes(data, n, (uint32_t)nx * 31u + (uint32_t)nt);
  char p[512];
  write_nifti(tpath(p, sizeof p, name), nx, ny, nz, nt, datatype, data, n);
  bfdi_image im;
  assert_int_equal(bfdi_nifti_read(p, &im), BFD_OK);
  if (nz > 1)
    expect_shape(&im, dt, 4, (uint64_t)nt, (uint64_t)nz, (uint64_t)ny, (uint64_t)nx);
  else
    expect_shape(&im, dt, 3, (uint64_t)nt, (uint64_t)ny, (uint64_t)nx, 0);
  assert_memory_equal(im.data, data, n);
  bfdi_image_free(&im);
  free(data);
}

static void t_nifti_3d_u16(void **state) {
  (void)state;
  /* Same stem, different sizes: niftiio's own loader would take the .gz
   * file's voxels from vol16.nii. */
  nifti_roundtrip("vol16.nii", 7, 5, 3, 1, DT_UINT16, BFD_DTYPE_UINT16);
  nifti_roundtrip("vol16.nii.gz", 9, 4, 6, 1, DT_UINT16, BFD_DTYPE_UINT16);
}

static void t_nifti_4d_f32(void **state) {
  (void)state;
  nifti_roundtrip("vol4d.nii", 6, 5, 4, 2, DT_FLOAT32, BFD_DTYPE_FLOAT32);
  nifti_roundtrip("vol4d.nii.gz", 5, 3, 2, 2, DT_FLOAT32, BFD_DTYPE_FLOAT32);
}

static void t_nifti_2d_and_types(void **state) {
  (void)state;
  nifti_roundtrip("flat.nii", 8, 6, 1, 3, DT_INT16, BFD_DTYPE_INT16);
  nifti_roundtrip("u8.nii", 4, 4, 2, 1, DT_UINT8, BFD_DTYPE_UINT8);
  nifti_roundtrip("i32.nii.gz", 3, 4, 5, 1, DT_INT32, BFD_DTYPE_INT32);
}

/* The header is converted from the bytes read once, not by
 * nifti_image_read: a byte-swapped (big-endian) file still reads in host
 * order, and an extension between header and voxels is skipped unread. */
static void t_nifti_swapped_and_extension(void **state) {
  (void)state;
  enum { NX = 5, NY = 4, NZ = 3, NV = NX * NY * NZ };
  uint16_t v[NV];
  fill_bytes(v, sizeof v, 77);
  char p[512];
  write_nifti(tpath(p, sizeof p, "le.nii"), NX, NY, NZ, 1, DT_UINT16, v, sizeof v);
  size_t n;
  uint8_t *le = tu_read(p, &n);
  assert_non_null(le);
  assert_int_equal(n, 352 + sizeof v);

  uint8_t *be = malloc(n);
  assert_non_null(be);
  memcpy(be, le, n);
  swap_nifti_header((nifti_1_header *)be, 1);
  nifti_swap_2bytes(NV, be + 352);
  write_file(tpath(p, sizeof p, "be.nii"), be, n);
  bfdi_image im;
  assert_int_equal(bfdi_nifti_read(p, &im), BFD_OK);
  expect_shape(&im, BFD_DTYPE_UINT16, 4, 1, NZ, NY, NX);
  assert_memory_equal(im.data, v, sizeof v);
  bfdi_image_free(&im);

  /* one 16-byte comment extension, the voxels 16 bytes later */
  uint8_t *ext = malloc(n + 16);
  assert_non_null(ext);
  memcpy(ext, le, 348);
  nifti_1_header h;
  memcpy(&h, ext, sizeof h);
  h.vox_offset = 368.0f;
  memcpy(ext, &h, sizeof h);
  static const uint8_t extension[20] = {1, 0, 0, 0, 16, 0, 0, 0, 6, 0, 0, 0, 'n', 'o', 't', 'e', 0, 0, 0, 0};
  memcpy(ext + 348, extension, sizeof extension);
  memcpy(ext + 368, le + 352, sizeof v);
  write_file(tpath(p, sizeof p, "ext.nii"), ext, n + 16);
  assert_int_equal(bfdi_nifti_read(p, &im), BFD_OK);
  expect_shape(&im, BFD_DTYPE_UINT16, 4, 1, NZ, NY, NX);
  assert_memory_equal(im.data, v, sizeof v);
  bfdi_image_free(&im);
  free(ext);
  free(be);
  free(le);
}

static void t_nifti_errors(void **state) {
  (void)state;
  char p[512];
  bfdi_image im;
  double d[8] = {0};
  write_nifti(tpath(p, sizeof p, "f64.nii"), 2, 2, 2, 1, DT_FLOAT64, d, sizeof d);
  expect_error(bfdi_nifti_read(p, &im), BFD_ERR_UNSUPPORTED, "f64.nii", "FLOAT64");
  expect_empty(&im);

  uint16_t v[16 * 16 * 4];
  fill_bytes(v, sizeof v, 40);
  write_nifti(tpath(p, sizeof p, "trunc.nii"), 16, 16, 4, 1, DT_UINT16, v, sizeof v);
  assert_int_equal(truncate(p, 352 + 700), 0);
  expect_error(bfdi_nifti_read(p, &im), BFD_ERR_FORMAT, "trunc.nii", "truncated");
  expect_empty(&im);

  static const char junk[] = "not a nifti header, far too short";
  write_file(tpath(p, sizeof p, "junk.nii"), junk, sizeof junk - 1);
  expect_error(bfdi_nifti_read(p, &im), BFD_ERR_FORMAT, "junk.nii", "not a readable NIfTI");
  expect_empty(&im);

  write_file(tpath(p, sizeof p, "empty.nii.gz"), NULL, 0);
  expect_error(bfdi_nifti_read(p, &im), BFD_ERR_FORMAT, "empty.nii.gz", "empty");
  expect_empty(&im);

  expect_error(bfdi_nifti_read(tpath(p, sizeof p, "missing.nii"), &im), BFD_ERR_IO, "missing.nii", "No such file");
  expect_empty(&im);
}

/* ---- HDF5 sources ---- */

static void write_h5(const char *path, const char *name, int rank, const hsize_t *dims, hid_t ftype,
                     hid_t mtype, const void *data, hid_t dcpl) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  assert_true(H5Pset_create_intermediate_group(lcpl, 1) >= 0);
  hid_t sp = H5Screate_simple(rank, dims, NULL);
  hid_t ds = H5Dcreate2(f, name, ftype, sp, lcpl, dcpl, H5P_DEFAULT);
  assert_true(ds >= 0);
  assert_true(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
  H5Dclose(ds);
  H5Sclose(sp);
  H5Pclose(lcpl);
  assert_true(H5Fclose(f) >= 0);
}

static hid_t chunked_deflate(int rank, const hsize_t *chunk) {
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  assert_true(H5Pset_chunk(dcpl, rank, chunk) >= 0);
  assert_true(H5Pset_shuffle(dcpl) >= 0);
  assert_true(H5Pset_deflate(dcpl, 4) >= 0);
  assert_true(H5Pset_fletcher32(dcpl) >= 0);
  return dcpl;
}

/* Checks every sample against the C-order data with the sample axis taken
 * out: dims before the axis are "outer", after it "inner". */
static void check_samples(bfdi_h5src *s, const uint8_t *data, int rank, const hsize_t *dims, int axis, size_t esz,
                          bfd_dtype dt, int ndim, const uint64_t *shape) {
  size_t outer = 1, inner = esz;
  for (int i = 0; i < axis; i++) outer *= dims[i];
  for (int i = axis + 1; i < rank; i++) inner *= dims[i];
  assert_int_equal(bfdi_h5src_count(s), dims[axis]);
  for (uint64_t k = 0; k < dims[axis]; k++) {
    bfdi_image im;
    assert_int_equal(bfdi_h5src_read(s, k, &im), BFD_OK);
    expect_shape(&im, dt, ndim, shape[0], shape[1], shape[2], shape[3]);
    for (size_t o = 0; o < outer; o++)
      assert_memory_equal((uint8_t *)im.data + o * inner, data + (o * dims[axis] + k) * inner, inner);
    bfdi_image_free(&im);
  }
}

static void t_h5_axis0_contiguous_u8(void **state) {
  (void)state;
  const hsize_t dims[3] = {4, 6, 5};
  uint8_t data[4 * 6 * 5];
  fill_bytes(data, sizeof data, 50);
  char p[512];
  write_h5(tpath(p, sizeof p, "u8.h5"), "/images", 3, dims, H5T_NATIVE_UINT8, H5T_NATIVE_UINT8, data, H5P_DEFAULT);
  bfdi_h5src *s = NULL;
  assert_int_equal(bfdi_h5src_open(p, "/images", 0, &s), BFD_OK);
  const uint64_t shape[4] = {1, 6, 5, 0};
  check_samples(s, data, 3, dims, 0, 1, BFD_DTYPE_UINT8, 3, shape);
  bfdi_image im;
  expect_error(bfdi_h5src_read(s, 4, &im), BFD_ERR_INVALID_ARG, "u8.h5", "sample 4 is out of range");
  expect_empty(&im);
  bfdi_h5src_close(s);
  bfdi_h5src_close(NULL);
}

static void t_h5_axis1_chunked_f32(void **state) {
  (void)state;
  const hsize_t dims[4] = {3, 5, 6, 7}, chunk[4] = {2, 2, 3, 7};
  enum { N = 3 * 5 * 6 * 7 };
  float data[N];
  fill_f32(data, N, 2.0f);
  hid_t dcpl = chunked_deflate(4, chunk);
  char p[512];
  write_h5(tpath(p, sizeof p, "f32.hdf5"), "/grp/vol", 4, dims, H5T_NATIVE_FLOAT, H5T_NATIVE_FLOAT, data, dcpl);
  H5Pclose(dcpl);
  bfdi_h5src *s = NULL;
  assert_int_equal(bfdi_h5src_open(p, "/grp/vol", 1, &s), BFD_OK);
  const uint64_t shape[4] = {3, 6, 7, 0};
  check_samples(s, (const uint8_t *)data, 4, dims, 1, 4, BFD_DTYPE_FLOAT32, 3, shape);
  bfdi_h5src_close(s);

  /* The same data with samples on axis 0 and on the last-but-two axis. */
  assert_int_equal(bfdi_h5src_open(p, "grp/vol", 0, &s), BFD_OK);
  const uint64_t shape0[4] = {5, 6, 7, 0};
  check_samples(s, (const uint8_t *)data, 4, dims, 0, 4, BFD_DTYPE_FLOAT32, 3, shape0);
  bfdi_h5src_close(s);
}

static void t_h5_rank5_u16(void **state) {
  (void)state;
  const hsize_t dims[5] = {2, 3, 4, 5, 6}, chunk[5] = {1, 3, 2, 5, 6};
  enum { N = 2 * 3 * 4 * 5 * 6 };
  uint16_t data[N];
  fill_bytes(data, sizeof data, 51);
  hid_t dcpl = chunked_deflate(5, chunk);
  char p[512];
  write_h5(tpath(p, sizeof p, "u16.he5"), "/x", 5, dims, H5T_STD_U16BE, H5T_NATIVE_UINT16, data, dcpl);
  H5Pclose(dcpl);
  /* Written as big-endian on disk from host-order data: HDF5 converts both ways. */
  bfdi_h5src *s = NULL;
  assert_int_equal(bfdi_h5src_open(p, "/x", 2, &s), BFD_OK);
  const uint64_t shape[4] = {2, 3, 5, 6};
  check_samples(s, (const uint8_t *)data, 5, dims, 2, 2, BFD_DTYPE_UINT16, 4, shape);
  bfdi_h5src_close(s);
}

/* A chunk index that claims more bytes than the file holds (damaged, or
 * fuzzed: tests/fuzz/regress/shard/oom-4gib-chunk-claim) is an error naming
 * the dataset at open, before HDF5 would allocate the claimed size to read
 * the chunk. The file's one chunk is listed in a version 1 B-tree, whose
 * key is its stored size (4 bytes), filter mask (4) and offset (8 per axis
 * and one more), followed by its address: the size is raised to 2^32 - 1. */
static void t_h5_chunk_claim(void **state) {
  (void)state;
  char p[512];
  const hsize_t dims[3] = {2, 8, 8};
  uint16_t v[128];
  for (int i = 0; i < 128; i++) v[i] = (uint16_t)(i * 7);
  hid_t dcpl = chunked_deflate(3, dims);
  write_h5(tpath(p, sizeof p, "claim.h5"), "/images", 3, dims, H5T_STD_U16LE, H5T_NATIVE_UINT16, v, dcpl);
  H5Pclose(dcpl);
  hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "/images", H5P_DEFAULT);
  const hsize_t origin[3] = {0, 0, 0};
  unsigned mask;
  haddr_t addr;
  hsize_t size;
  assert_true(H5Dget_chunk_info_by_coord(d, origin, &mask, &addr, &size) >= 0);
  H5Dclose(d);
  H5Fclose(f);
  uint8_t key[4 + 4 + 4 * 8 + 8] = {0};
  const uint32_t size32 = (uint32_t)size;
  const uint64_t addr64 = (uint64_t)addr;
  memcpy(key, &size32, 4);
  memcpy(key + 4, &mask, 4);
  memcpy(key + 40, &addr64, 8);
  size_t n;
  uint8_t *bytes = tu_read(p, &n);
  assert_non_null(bytes);
  uint8_t *found = memmem(bytes, n, key, sizeof key);
  assert_non_null(found);
  const uint32_t huge = UINT32_MAX;
  memcpy(found, &huge, 4);
  write_file(p, bytes, n);
  free(bytes);
  bfdi_h5src *s = NULL;
  expect_error(bfdi_h5src_open(p, "/images", 0, &s), BFD_ERR_FORMAT, "claim.h5",
               "/images claims 4294967295 bytes of storage");
  assert_null(s);
}

static void t_h5_errors(void **state) {
  (void)state;
  char p[512];
  /* Any non-NULL value: each failing open must reset it to NULL. */
  bfdi_h5src *s = (bfdi_h5src *)&s;
  const hsize_t dims[3] = {2, 3, 4};
  double d[24] = {0};
  write_h5(tpath(p, sizeof p, "f64.h5"), "/data", 3, dims, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, d, H5P_DEFAULT);
  expect_error(bfdi_h5src_open(p, "/data", 0, &s), BFD_ERR_UNSUPPORTED, "f64.h5", "/data has type float64");
  assert_null(s);

  uint8_t u[24] = {0};
  write_h5(tpath(p, sizeof p, "ok.h5"), "/data", 3, dims, H5T_NATIVE_UINT8, H5T_NATIVE_UINT8, u, H5P_DEFAULT);
  expect_error(bfdi_h5src_open(p, "/data", 3, &s), BFD_ERR_INVALID_ARG, "ok.h5", "sample axis 3 is out of range");
  assert_null(s);
  expect_error(bfdi_h5src_open(p, "/data", -1, &s), BFD_ERR_INVALID_ARG, "ok.h5", "sample axis -1");
  expect_error(bfdi_h5src_open(p, "/nope/images", 0, &s), BFD_ERR_INVALID_ARG, "ok.h5", "/nope/images not found");
  assert_null(s);
  expect_error(bfdi_h5src_open(p, "/data2", 0, &s), BFD_ERR_INVALID_ARG, "ok.h5", "/data2 not found");
  expect_error(bfdi_h5src_open(p, "/", 0, &s), BFD_ERR_INVALID_ARG, "ok.h5", "not a dataset");
  expect_error(bfdi_h5src_open(p, "", 0, &s), BFD_ERR_INVALID_ARG, "ok.h5", "no HDF5 dataset");

  const hsize_t dims2[2] = {4, 6};
  write_h5(tpath(p, sizeof p, "rank2.h5"), "/flat", 2, dims2, H5T_NATIVE_UINT8, H5T_NATIVE_UINT8, u, H5P_DEFAULT);
  expect_error(bfdi_h5src_open(p, "/flat", 0, &s), BFD_ERR_FORMAT, "rank2.h5", "rank 2 (4 x 6)");
  assert_null(s);

  /* scale-offset is built into HDF5 but not something biofeed decodes. */
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  const hsize_t chunk[3] = {1, 3, 4};
  assert_true(H5Pset_chunk(dcpl, 3, chunk) >= 0);
  assert_true(H5Pset_scaleoffset(dcpl, H5Z_SO_INT, H5Z_SO_INT_MINBITS_DEFAULT) >= 0);
  write_h5(tpath(p, sizeof p, "scaleoff.h5"), "/data", 3, dims, H5T_NATIVE_UINT8, H5T_NATIVE_UINT8, u, dcpl);
  H5Pclose(dcpl);
  expect_error(bfdi_h5src_open(p, "/data", 0, &s), BFD_ERR_UNSUPPORTED, "scaleoff.h5", "scaleoffset");
  assert_null(s);

  static const char junk[] = "definitely not HDF5";
  write_file(tpath(p, sizeof p, "junk.h5"), junk, sizeof junk - 1);
  expect_error(bfdi_h5src_open(p, "/data", 0, &s), BFD_ERR_FORMAT, "junk.h5", "not an HDF5 file");
  expect_error(bfdi_h5src_open(tpath(p, sizeof p, "missing.h5"), "/data", 0, &s), BFD_ERR_IO, "missing.h5",
               "No such file");
  assert_null(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_format_of),
      cmocka_unit_test(t_image_free),
      cmocka_unit_test(t_tiff_u8_gray),
      cmocka_unit_test(t_tiff_u16_strips),
      cmocka_unit_test(t_tiff_miniswhite),
      cmocka_unit_test(t_tiff_i16),
      cmocka_unit_test(t_tiff_f32),
      cmocka_unit_test(t_tiff_rgb_chunky),
      cmocka_unit_test(t_tiff_planar_separate),
      cmocka_unit_test(t_tiff_tiled),
      cmocka_unit_test(t_tiff_compressed),
      cmocka_unit_test(t_tiff_multipage),
      cmocka_unit_test(t_tiff_err_jpeg),
      cmocka_unit_test(t_tiff_err_bitdepth),
      cmocka_unit_test(t_tiff_err_palette_and_sample_format),
      cmocka_unit_test(t_tiff_err_mismatched_pages),
      cmocka_unit_test(t_tiff_err_garbage_empty_missing),
      cmocka_unit_test(t_tiff_err_truncated),
      cmocka_unit_test(t_png_gray8),
      cmocka_unit_test(t_png_gray16),
      cmocka_unit_test(t_png_rgb8),
      cmocka_unit_test(t_png_rgba),
      cmocka_unit_test(t_png_palette_and_low_bit_gray), cmocka_unit_test(t_png_ancillary_chunks),
      cmocka_unit_test(t_png_errors),
      cmocka_unit_test(t_nifti_3d_u16),
      cmocka_unit_test(t_nifti_4d_f32),
      cmocka_unit_test(t_nifti_2d_and_types),
      cmocka_unit_test(t_nifti_swapped_and_extension), cmocka_unit_test(t_nifti_errors),
      cmocka_unit_test(t_h5_axis0_contiguous_u8),
      cmocka_unit_test(t_h5_axis1_chunked_f32),
      cmocka_unit_test(t_h5_rank5_u16),
      cmocka_unit_test(t_h5_errors),
      cmocka_unit_test(t_h5_chunk_claim),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
