/* PNG reader (libpng 1.6): decodes gray, gray+alpha, RGB, RGBA and palette
 * images at 8 or 16 bits into [C, Y, X]. Palettes are expanded to RGB and
 * 1/2/4-bit gray to 8 bits; 16-bit samples come out in host byte order.
 * libpng reports through our own error and warning functions (errors
 * longjmp back here), so nothing is printed and its message reaches the
 * biofeed error. */
#include "ingest/image.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"


typedef struct png_ctx {
  char msg[512];
} png_ctx;

static void on_error(png_structp png, png_const_charp msg) {
  png_ctx *c = png_get_error_ptr(png);
  snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown libpng error");
  png_longjmp(png, 1);
}

/* Warnings (bad ancillary chunks and the like) do not stop a read. */
static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static int host_is_little_endian(void) {
  const uint16_t one = 1;
  uint8_t b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* Everything libpng touches between setjmp and a longjmp lives in this
 * struct, outside the function's registers, so it is valid after the jump. */
typedef struct png_job {
  const char *path;
  FILE *fp;
  png_structp png;
  png_infop info;
  uint8_t *raw;     /* interleaved rows as libpng gives them */
  png_bytep *rows;
  uint8_t *planes;  /* the [C, Y, X] result */
  uint32_t w, h;
  int channels;
  size_t esz;
  uint64_t file_size;
} png_job;

static void release(png_job *j) {
  if (j->png) png_destroy_read_struct(&j->png, j->info ? &j->info : NULL, NULL);
  if (j->fp) fclose(j->fp);
  free(j->rows);
  if (j->raw != j->planes) free(j->raw);
  free(j->planes);
}

static bfd_status decode(png_job *j, png_ctx *c) {
  if (setjmp(png_jmpbuf(j->png)))
    return bfdi_fail(BFD_ERR_FORMAT, "%s: cannot decode the PNG (libpng: %s); the file is truncated or corrupt, "
                     "re-export it", j->path, c->msg);
  png_init_io(j->png, j->fp);
  png_set_sig_bytes(j->png, 8);
  /* The ancillary chunks the pixels do not need are skipped unread: libpng
   * allocates such a chunk's declared length before reading it, and only
   * warns when the length is over its limit (a damaged sPLT asked for
   * 1.2 GB). tRNS stays: the palette expansion turns it into alpha. */
  static const png_byte skip[] = "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0pHYs\0"
                                 "sBIT\0sCAL\0sPLT\0sRGB\0tEXt\0tIME\0zTXt";
  png_set_keep_unknown_chunks(j->png, PNG_HANDLE_CHUNK_NEVER, skip, (int)(sizeof skip / 5));
  png_read_info(j->png, j->info);
  png_uint_32 w = 0, h = 0;
  int depth = 0, color = 0, interlace = 0;
  png_get_IHDR(j->png, j->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(j->png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(j->png);
  if (depth == 16 && host_is_little_endian()) png_set_swap(j->png);
  png_set_interlace_handling(j->png);
  png_read_update_info(j->png, j->info);

  j->w = w;
  j->h = h;
  j->channels = png_get_channels(j->png, j->info);
  int out_depth = png_get_bit_depth(j->png, j->info);
  if ((out_depth != 8 && out_depth != 16) || j->channels < 1 || j->channels > 4)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: PNG with %d-bit samples and %d channels after expansion is not "
                     "supported; re-save as 8- or 16-bit gray, RGB or RGBA", j->path, out_depth, j->channels);
  j->esz = (size_t)out_depth / 8;
  uint64_t row = (uint64_t)w * (uint64_t)j->channels * j->esz;
  if (w == 0 || h == 0 || row > BFDI_MAX_SAMPLE_BYTES / h)
    return bfdi_fail(BFD_ERR_NOMEM, "%s: a %ux%u PNG with %d channels of %zu bytes exceeds the 16 GiB limit per "
                     "sample; split the image", j->path, (unsigned)w, (unsigned)h, j->channels, j->esz);
  size_t rowbytes = png_get_rowbytes(j->png, j->info);
  if (rowbytes != row)
    return bfdi_fail(BFD_ERR_INTERNAL, "%s: libpng row of %zu bytes, expected %llu; please report this", j->path,
                     rowbytes, (unsigned long long)row);
  size_t total = rowbytes * h;
  BFD_TRY(bfdi_image_check_claim(j->path, "PNG", j->file_size, total));
  j->raw = malloc(total);
  j->rows = malloc(sizeof *j->rows * h);
  /* One channel is already [1, Y, X]: decode straight into the result. */
  j->planes = j->channels == 1 ? j->raw : malloc(total);
  if (!j->raw || !j->rows || !j->planes)
    return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for %zu bytes of pixels", j->path, total);
  for (uint32_t y = 0; y < h; y++) j->rows[y] = j->raw + (size_t)y * rowbytes;
  png_read_image(j->png, j->rows);
  png_read_end(j->png, NULL);
  return BFD_OK;
}

static void to_planes(const png_job *j) {
  size_t plane = (size_t)j->w * j->h;
  size_t n = (size_t)j->channels;
  for (size_t i = 0; i < plane; i++)
    for (size_t ch = 0; ch < n; ch++)
      memcpy(j->planes + (ch * plane + i) * j->esz, j->raw + (i * n + ch) * j->esz, j->esz);
}

bfd_status bfdi_png_read(const char *path, bfdi_image *out) {
  if (!out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_png_read: out is NULL");
  memset(out, 0, sizeof *out);
  if (!path) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_png_read: path is NULL");

  png_job j = {.path = path};
  j.fp = fopen(path, "rbe");
  if (!j.fp) return bfdi_fail_errno(errno, "%s: cannot open the PNG file; check the path and permissions", path);
  struct stat st;
  if (fstat(fileno(j.fp), &st) != 0) {
    int err = errno;
    release(&j);
    return bfdi_fail_errno(err, "%s: cannot stat the PNG file", path);
  }
  if (S_ISDIR(st.st_mode)) {
    release(&j);
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: is a directory, not a PNG file; pass the files inside it", path);
  }
  j.file_size = (uint64_t)st.st_size;
  png_byte sig[8];
  size_t got = fread(sig, 1, sizeof sig, j.fp);
  if (got == 0) {
    release(&j);
    return bfdi_fail(BFD_ERR_FORMAT, "%s: the file is empty (0 bytes); re-export or re-copy the image", path);
  }
  if (got < sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
    release(&j);
    return bfdi_fail(BFD_ERR_FORMAT, "%s: not a PNG file (bad signature); check the file type", path);
  }

  png_ctx ctx = {{0}};
  j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  if (j.png) j.info = png_create_info_struct(j.png);
  if (!j.png || !j.info) {
    release(&j);
    return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory creating the PNG reader", path);
  }
  bfd_status s = decode(&j, &ctx);
  if (s != BFD_OK) {
    release(&j);
    return s;
  }
  if (j.channels > 1) to_planes(&j);

  out->dtype = j.esz == 2 ? BFD_DTYPE_UINT16 : BFD_DTYPE_UINT8;
  out->ndim = 3;
  out->shape[0] = (uint64_t)j.channels;
  out->shape[1] = j.h;
  out->shape[2] = j.w;
  out->data = j.planes;
  out->nbytes = (size_t)j.w * j.h * (size_t)j.channels * j.esz;
  j.planes = NULL;
  if (j.channels == 1) j.raw = NULL;
  release(&j);
  return BFD_OK;
}
