/* `biofeed run --preview`: a PNG (libpng, 8-bit RGB) of a batch's augmented
 * images in a grid, with the outlines of their labels drawn in colour.
 *
 * Each tile is one sample's first channel (the middle Z slice of a volume),
 * min-max scaled to 0..255 on its own. At most BFD_CLI_PREVIEW_MAX samples
 * (padding rows left out), in ceil(sqrt(n)) columns, with BFD_CLI_PREVIEW_GAP
 * pixels of dark grey around and between tiles. A pixel is on an outline when
 * its label is not 0 and differs from a 4-neighbour's (or sits on the tile
 * edge); each label value has its own colour.
 *
 * Layout: channels last when "image" has one axis more than "label" and
 * image.shape[1:-1] equals label.shape[1:]; without labels, when the last
 * axis is shorter than axis 1. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define MAX_DIMS 5 /* [B, C, Z, Y, X] */

static const unsigned char palette[][3] = {{230, 25, 75},   {60, 180, 75},  {255, 225, 25}, {0, 130, 200},
                                           {245, 130, 48},  {145, 30, 180}, {70, 240, 240}, {240, 50, 230},
                                           {210, 245, 60},  {250, 190, 212}};

typedef struct view {
  const DLTensor *img, *lab;
  int channels_last, spatial; /* 2 or 3 spatial axes */
  int64_t z, ny, nx;          /* the slice shown, its size */
} view;

static double pixel(const view *v, int64_t b, int64_t y, int64_t x) {
  int64_t idx[MAX_DIMS] = {b};
  int k = 1;
  if (!v->channels_last) idx[k++] = 0;
  if (v->spatial == 3) idx[k++] = v->z;
  idx[k++] = y;
  idx[k++] = x;
  if (v->channels_last) idx[k] = 0;
  return bfd_cli_tensor_f64(v->img, idx);
}

static int64_t label(const view *v, int64_t b, int64_t y, int64_t x) {
  int64_t idx[MAX_DIMS] = {b};
  int k = 1;
  if (v->spatial == 3) idx[k++] = v->z;
  idx[k++] = y;
  idx[k] = x;
  return (int64_t)bfd_cli_tensor_f64(v->lab, idx);
}

static void draw_tile(const view *v, int64_t b, unsigned char *rgb, size_t stride) {
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t y = 0; y < v->ny; y++)
    for (int64_t x = 0; x < v->nx; x++) {
      double p = pixel(v, b, y, x);
      if (p < lo) lo = p;
      if (p > hi) hi = p;
    }
  double scale = hi > lo ? 255.0 / (hi - lo) : 0.0;
  for (int64_t y = 0; y < v->ny; y++) {
    unsigned char *row = rgb + (size_t)y * stride;
    for (int64_t x = 0; x < v->nx; x++) {
      double p = pixel(v, b, y, x);
      unsigned char g = (unsigned char)(isnan(p) ? 0 : lrint((p - lo) * scale));
      unsigned char *px = row + 3 * x;
      px[0] = px[1] = px[2] = g;
      if (!v->lab) continue;
      int64_t l = label(v, b, y, x);
      if (l == 0) continue;
      int edge = y == 0 || x == 0 || y == v->ny - 1 || x == v->nx - 1 || label(v, b, y - 1, x) != l ||
                 label(v, b, y + 1, x) != l || label(v, b, y, x - 1) != l || label(v, b, y, x + 1) != l;
      if (edge) memcpy(px, palette[(uint64_t)(l - 1) % (sizeof palette / sizeof palette[0])], 3);
    }
  }
}

/* Writes rows of 8-bit RGB; libpng reports errors by longjmp, so everything
 * it may touch is set up before setjmp. */
static int write_png(const char *path, unsigned char *rgb, uint32_t w, uint32_t h) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "biofeed run: error: cannot create %s: %s\n", path, strerror(errno));
    return 2;
  }
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  png_bytep *rows = malloc(sizeof *rows * h);
  if (!png || !info || !rows) {
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
    fprintf(stderr, "biofeed run: error: out of memory writing %s\n", path);
    return 2;
  }
  for (uint32_t y = 0; y < h; y++) rows[y] = rgb + (size_t)y * w * 3;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
    fprintf(stderr, "biofeed run: error: libpng failed writing %s (disk full?)\n", path);
    return 2;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  free(rows);
  if (fclose(f) != 0) {
    fprintf(stderr, "biofeed run: error: writing %s: %s\n", path, strerror(errno));
    return 2;
  }
  return 0;
}

static int same(const int64_t *a, const int64_t *b, int n) {
  for (int i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

int bfd_cli_preview(const char *path, const DLTensor *img, const DLTensor *lab, const DLTensor *valid) {
  if (img->ndim != 4 && img->ndim != 5) {
    fprintf(stderr, "biofeed run: error: --preview: \"image\" has %d axes; expected [B, C, (Z,) Y, X] or "
            "[B, (Z,) Y, X, C]\n", img->ndim);
    return 2;
  }
  view v = {.img = img, .lab = lab, .spatial = img->ndim - 2};
  if (lab && lab->ndim == img->ndim - 1) {
    v.channels_last = !same(img->shape + 2, lab->shape + 1, v.spatial) && same(img->shape + 1, lab->shape + 1, v.spatial);
    if (!v.channels_last && !same(img->shape + 2, lab->shape + 1, v.spatial)) {
      fprintf(stderr, "biofeed run: warning: --preview: \"label\" does not match the image's shape; drawing no "
              "outlines\n");
      v.lab = NULL;
    }
  } else {
    if (lab) fprintf(stderr, "biofeed run: warning: --preview: \"label\" has %d axes; drawing no outlines\n", lab->ndim);
    v.lab = NULL;
    v.channels_last = img->shape[img->ndim - 1] < img->shape[1];
  }
  const int64_t *sp = img->shape + (v.channels_last ? 1 : 2);
  v.ny = sp[v.spatial - 2];
  v.nx = sp[v.spatial - 1];
  v.z = v.spatial == 3 ? sp[0] / 2 : 0;

  int64_t pick[BFD_CLI_PREVIEW_MAX];
  int n = 0;
  for (int64_t b = 0; b < img->shape[0] && n < BFD_CLI_PREVIEW_MAX; b++) {
    int64_t i = b;
    if (valid && valid->ndim == 1 && valid->shape[0] == img->shape[0] && bfd_cli_tensor_f64(valid, &i) == 0) continue;
    pick[n++] = b;
  }
  if (n == 0 || v.ny <= 0 || v.nx <= 0) {
    fprintf(stderr, "biofeed run: error: --preview: the first batch has no image to show\n");
    return 2;
  }
  int cols = (int)ceil(sqrt((double)n));
  int rows = (n + cols - 1) / cols;
  const int gap = BFD_CLI_PREVIEW_GAP;
  uint64_t w = (uint64_t)cols * (uint64_t)v.nx + (uint64_t)(cols + 1) * gap;
  uint64_t h = (uint64_t)rows * (uint64_t)v.ny + (uint64_t)(rows + 1) * gap;
  if (w > 65536 || h > 65536) {
    fprintf(stderr, "biofeed run: error: --preview: a %llux%llu grid is too large for a preview\n",
            (unsigned long long)w, (unsigned long long)h);
    return 2;
  }
  unsigned char *rgb = malloc((size_t)(w * h * 3));
  if (!rgb) {
    fprintf(stderr, "biofeed run: error: out of memory for a %llux%llu preview\n", (unsigned long long)w,
            (unsigned long long)h);
    return 2;
  }
  memset(rgb, 48, (size_t)(w * h * 3));
  for (int k = 0; k < n; k++) {
    size_t x0 = (size_t)gap + (size_t)(k % cols) * (size_t)(v.nx + gap);
    size_t y0 = (size_t)gap + (size_t)(k / cols) * (size_t)(v.ny + gap);
    draw_tile(&v, pick[k], rgb + (y0 * w + x0) * 3, (size_t)w * 3);
  }
  int rc = write_png(path, rgb, (uint32_t)w, (uint32_t)h);
  free(rgb);
  return rc;
}
