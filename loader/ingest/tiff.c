/* TIFF reader (libtiff): decodes every page of a file with
 * TIFFReadEncodedStrip/Tile, so 16-bit, signed and float samples come out
 * exactly as stored, and rearranges chunky or planar strips and tiles into
 * one [C, (Z,) Y, X] array. Pages must all share one geometry and sample
 * type; anything outside the supported set is refused with the file, page
 * and tag value named. libtiff's messages are captured per open file, never
 * printed, and end up in the biofeed error. */
#include "ingest/image.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#include "core/error.h"


typedef struct tiff_ctx {
  const char *path;
  uint64_t file_size;
  uint32_t npages;
  char msg[512]; /* libtiff's latest error, for the biofeed message */
} tiff_ctx;

typedef struct page_fmt {
  uint32_t w, h;
  uint16_t spp, bps, sfmt, photometric, planar, compression;
} page_fmt;

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
  (void)tif;
  (void)module;
  tiff_ctx *c = user;
  vsnprintf(c->msg, sizeof c->msg, fmt, ap);
  return 1; /* handled: keeps libtiff's global handlers from printing */
}

/* Warnings (unknown tags and the like) do not stop a read and are dropped. */
static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
  (void)tif;
  (void)user;
  (void)module;
  (void)fmt;
  (void)ap;
  return 1;
}

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

/* Backstop for any libtiff path that still reports through the global
 * handlers instead of the per-file ones: those would print to stderr. */
static void quiet_libtiff(void) {
  TIFFSetErrorHandler(NULL);
  TIFFSetWarningHandler(NULL);
}

static const char *detail(tiff_ctx *c) { return c->msg[0] ? c->msg : "no detail from libtiff"; }

static const char *compression_name(uint16_t c) {
  switch (c) {
    case COMPRESSION_NONE: return "none";
    case COMPRESSION_CCITTRLE: return "CCITT RLE";
    case COMPRESSION_CCITTFAX3: return "CCITT Group 3 fax";
    case COMPRESSION_CCITTFAX4: return "CCITT Group 4 fax";
    case COMPRESSION_LZW: return "LZW";
    case COMPRESSION_OJPEG: return "old-style JPEG";
    case COMPRESSION_JPEG: return "JPEG";
    case COMPRESSION_PACKBITS: return "PackBits";
    case COMPRESSION_ADOBE_DEFLATE:
    case COMPRESSION_DEFLATE: return "deflate";
    case COMPRESSION_JBIG: return "JBIG";
    case COMPRESSION_JP2000: return "JPEG 2000";
    case COMPRESSION_LERC: return "LERC";
    case COMPRESSION_LZMA: return "LZMA";
    case COMPRESSION_ZSTD: return "Zstandard";
    case COMPRESSION_WEBP: return "WebP";
    case COMPRESSION_JXL: return "JPEG XL";
  }
  return "unknown";
}

static const char *photometric_name(uint16_t p) {
  switch (p) {
    case PHOTOMETRIC_MINISWHITE: return "min-is-white";
    case PHOTOMETRIC_MINISBLACK: return "min-is-black";
    case PHOTOMETRIC_RGB: return "RGB";
    case PHOTOMETRIC_PALETTE: return "palette";
    case PHOTOMETRIC_MASK: return "transparency mask";
    case PHOTOMETRIC_SEPARATED: return "separated (CMYK)";
    case PHOTOMETRIC_YCBCR: return "YCbCr";
    case PHOTOMETRIC_CIELAB: return "CIE L*a*b*";
    case PHOTOMETRIC_ICCLAB: return "ICC L*a*b*";
    case PHOTOMETRIC_ITULAB: return "ITU L*a*b*";
    case PHOTOMETRIC_CFA: return "color filter array";
    case PHOTOMETRIC_LOGL: return "LogL";
    case PHOTOMETRIC_LOGLUV: return "LogLuv";
  }
  return "unknown";
}

static const char *sample_format_name(uint16_t s) {
  switch (s) {
    case SAMPLEFORMAT_UINT: return "unsigned integer";
    case SAMPLEFORMAT_INT: return "signed integer";
    case SAMPLEFORMAT_IEEEFP: return "IEEE float";
    case SAMPLEFORMAT_VOID: return "untyped";
    case SAMPLEFORMAT_COMPLEXINT: return "complex integer";
    case SAMPLEFORMAT_COMPLEXIEEEFP: return "complex float";
  }
  return "unknown";
}

static bfd_status read_fmt(TIFF *tif, tiff_ctx *c, uint32_t page, page_fmt *f) {
  memset(f, 0, sizeof *f);
  if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &f->w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &f->h) ||
      f->w == 0 || f->h == 0)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: missing or zero ImageWidth/ImageLength; the file is "
                     "corrupt, re-export it", c->path, page + 1, c->npages);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &f->spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &f->bps);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &f->sfmt);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &f->planar);
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &f->compression);
  if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &f->photometric))
    return bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: no PhotometricInterpretation tag; re-save the image with "
                     "an image editor that writes it", c->path, page + 1, c->npages);

  uint16_t cm = f->compression;
  if (cm != COMPRESSION_NONE && cm != COMPRESSION_LZW && cm != COMPRESSION_ADOBE_DEFLATE &&
      cm != COMPRESSION_DEFLATE && cm != COMPRESSION_PACKBITS)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: page %u of %u: compression %s (%u) is not supported; re-save as "
                     "uncompressed, LZW, deflate or PackBits", c->path, page + 1, c->npages,
                     compression_name(cm), cm);
  if (!TIFFIsCODECConfigured(cm))
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: page %u of %u: this libtiff was built without the %s codec; "
                     "re-save the file uncompressed", c->path, page + 1, c->npages, compression_name(cm));
  if (f->bps != 8 && f->bps != 16 && f->bps != 32)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: page %u of %u: bit depth %u (BitsPerSample) is not supported; "
                     "convert to 8, 16 or 32 bits per sample", c->path, page + 1, c->npages, f->bps);
  int fmt_ok = (f->bps == 8 && f->sfmt == SAMPLEFORMAT_UINT) ||
               (f->bps == 16 && (f->sfmt == SAMPLEFORMAT_UINT || f->sfmt == SAMPLEFORMAT_INT)) ||
               (f->bps == 32 && f->sfmt == SAMPLEFORMAT_IEEEFP);
  if (!fmt_ok)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: page %u of %u: %u-bit %s samples (SampleFormat %u) are not "
                     "supported; convert to unsigned 8/16-bit, signed 16-bit or 32-bit float", c->path, page + 1,
                     c->npages, f->bps, sample_format_name(f->sfmt), f->sfmt);
  if (f->photometric != PHOTOMETRIC_MINISBLACK && f->photometric != PHOTOMETRIC_MINISWHITE &&
      f->photometric != PHOTOMETRIC_RGB)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: page %u of %u: photometric interpretation %s (%u) is not "
                     "supported; convert to grayscale or RGB", c->path, page + 1, c->npages,
                     photometric_name(f->photometric), f->photometric);
  if (f->planar != PLANARCONFIG_CONTIG && f->planar != PLANARCONFIG_SEPARATE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: PlanarConfiguration %u is invalid; the file is corrupt, "
                     "re-export it", c->path, page + 1, c->npages, f->planar);
  if (f->spp == 0)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: SamplesPerPixel is 0; the file is corrupt, re-export it",
                     c->path, page + 1, c->npages);
  return BFD_OK;
}

/* Copies a block of cols x rows pixels, spp interleaved samples each, into
 * spp separate planes cstride bytes apart. */
static void deinterleave(uint8_t *dst, size_t dst_row, size_t cstride, const uint8_t *src, size_t src_row,
                         uint32_t cols, uint32_t rows, uint16_t spp, size_t esz) {
  size_t step = (size_t)spp * esz;
  for (uint32_t y = 0; y < rows; y++) {
    const uint8_t *s = src + y * src_row;
    if (spp == 1) {
      memcpy(dst + y * dst_row, s, cols * esz);
      continue;
    }
    for (uint16_t ch = 0; ch < spp; ch++) {
      uint8_t *d = dst + ch * cstride + y * dst_row;
      const uint8_t *sc = s + ch * esz;
      /* Constant-size memcpy per case so each compiles to a plain load/store. */
      switch (esz) {
        case 1:
          for (uint32_t x = 0; x < cols; x++) d[x] = sc[x * step];
          break;
        case 2:
          for (uint32_t x = 0; x < cols; x++) memcpy(d + 2 * (size_t)x, sc + x * step, 2);
          break;
        default:
          for (uint32_t x = 0; x < cols; x++) memcpy(d + 4 * (size_t)x, sc + x * step, 4);
          break;
      }
    }
  }
}

static bfd_status decode_strips(TIFF *tif, tiff_ctx *c, uint32_t page, const page_fmt *f, uint8_t *base,
                                size_t cstride) {
  size_t esz = f->bps / 8;
  int separate = f->planar == PLANARCONFIG_SEPARATE;
  uint16_t nplanes = separate ? f->spp : 1;
  uint16_t per_strip_spp = separate ? 1 : f->spp;
  uint32_t rps = 0;
  TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
  if (rps == 0 || rps > f->h) rps = f->h;
  uint32_t strips_per_plane = f->h / rps + (f->h % rps != 0);
  if ((uint64_t)TIFFNumberOfStrips(tif) < (uint64_t)strips_per_plane * nplanes)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: has %u strips where its size needs %llu; the file is "
                     "corrupt, re-export it", c->path, page + 1, c->npages, TIFFNumberOfStrips(tif),
                     (unsigned long long)strips_per_plane * nplanes);
  size_t src_row = (size_t)f->w * per_strip_spp * esz;
  uint8_t *buf = malloc(src_row * rps);
  if (!buf)
    return bfdi_fail(BFD_ERR_NOMEM, "%s: page %u of %u: out of memory for a strip of %zu bytes", c->path,
                     page + 1, c->npages, src_row * rps);
  size_t dst_row = (size_t)f->w * esz;
  for (uint16_t p = 0; p < nplanes; p++) {
    for (uint32_t k = 0; k < strips_per_plane; k++) {
      uint32_t row0 = k * rps;
      uint32_t rows = f->h - row0 < rps ? f->h - row0 : rps;
      tmsize_t want = (tmsize_t)(src_row * rows);
      uint32_t strip = TIFFComputeStrip(tif, row0, p);
      c->msg[0] = '\0';
      tmsize_t got = TIFFReadEncodedStrip(tif, strip, buf, want);
      if (got != want) {
        free(buf);
        if (got < 0)
          return bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: strip %u cannot be decoded (libtiff: %s); the file "
                           "is truncated or corrupt, re-export it", c->path, page + 1, c->npages, strip,
                           detail(c));
        return bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: strip %u holds %lld bytes where %lld are needed; "
                         "the file is truncated or corrupt, re-export it", c->path, page + 1, c->npages, strip,
                         (long long)got, (long long)want);
      }
      deinterleave(base + p * cstride + (size_t)row0 * dst_row, dst_row, cstride, buf, src_row, f->w, rows,
                   per_strip_spp, esz);
    }
  }
  free(buf);
  return BFD_OK;
}

static bfd_status decode_tiles(TIFF *tif, tiff_ctx *c, uint32_t page, const page_fmt *f, uint8_t *base,
                               size_t cstride) {
  size_t esz = f->bps / 8;
  int separate = f->planar == PLANARCONFIG_SEPARATE;
  uint16_t nplanes = separate ? f->spp : 1;
  uint16_t per_tile_spp = separate ? 1 : f->spp;
  uint32_t tw = 0, th = 0;
  if (!TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw) || !TIFFGetField(tif, TIFFTAG_TILELENGTH, &th) || tw == 0 ||
      th == 0)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: tiled but TileWidth/TileLength is missing or zero; the "
                     "file is corrupt, re-export it", c->path, page + 1, c->npages);
  uint64_t tile_bytes = (uint64_t)tw * th;
  if (tile_bytes > BFDI_MAX_SAMPLE_BYTES / ((uint64_t)per_tile_spp * esz))
    return bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: tiles of %ux%u are absurdly large; the file is corrupt, "
                     "re-export it", c->path, page + 1, c->npages, tw, th);
  size_t src_row = (size_t)tw * per_tile_spp * esz;
  tmsize_t want = (tmsize_t)(src_row * th);
  BFD_TRY(bfdi_image_check_claim(c->path, "TIFF", c->file_size, (uint64_t)want));
  if (TIFFTileSize64(tif) != (uint64_t)want)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: libtiff's tile size %llu does not match %ux%u tiles of "
                     "%u %u-bit samples; the file is corrupt, re-export it", c->path, page + 1, c->npages,
                     (unsigned long long)TIFFTileSize64(tif), tw, th, per_tile_spp, f->bps);
  uint8_t *buf = malloc((size_t)want);
  if (!buf)
    return bfdi_fail(BFD_ERR_NOMEM, "%s: page %u of %u: out of memory for a tile of %lld bytes", c->path,
                     page + 1, c->npages, (long long)want);
  size_t dst_row = (size_t)f->w * esz;
  for (uint16_t p = 0; p < nplanes; p++) {
    for (uint64_t y0 = 0; y0 < f->h; y0 += th) {
      for (uint64_t x0 = 0; x0 < f->w; x0 += tw) {
        uint32_t tile = TIFFComputeTile(tif, (uint32_t)x0, (uint32_t)y0, 0, p);
        c->msg[0] = '\0';
        tmsize_t got = TIFFReadEncodedTile(tif, tile, buf, want);
        if (got != want) {
          free(buf);
          if (got < 0)
            return bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: tile %u cannot be decoded (libtiff: %s); the "
                             "file is truncated or corrupt, re-export it", c->path, page + 1, c->npages, tile,
                             detail(c));
          return bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: tile %u holds %lld bytes where %lld are needed; "
                           "the file is truncated or corrupt, re-export it", c->path, page + 1, c->npages, tile,
                           (long long)got, (long long)want);
        }
        /* Edge tiles are stored full size; only the part inside the image is kept. */
        uint32_t cols = (uint32_t)(f->w - x0 < tw ? f->w - x0 : tw);
        uint32_t rows = (uint32_t)(f->h - y0 < th ? f->h - y0 : th);
        deinterleave(base + p * cstride + ((size_t)y0 * f->w + (size_t)x0) * esz, dst_row, cstride, buf, src_row,
                     cols, rows, per_tile_spp, esz);
      }
    }
  }
  free(buf);
  return BFD_OK;
}

static bfd_dtype dtype_of(const page_fmt *f) {
  if (f->bps == 8) return BFD_DTYPE_UINT8;
  if (f->bps == 16) return f->sfmt == SAMPLEFORMAT_INT ? BFD_DTYPE_INT16 : BFD_DTYPE_UINT16;
  return BFD_DTYPE_FLOAT32;
}

static bfd_status read_pages(TIFF *tif, tiff_ctx *c, bfd_pages_as pages_as, bfdi_image *out) {
  c->npages = TIFFNumberOfDirectories(tif);
  if (c->npages == 0)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: the TIFF has no pages (libtiff: %s); re-export it", c->path, detail(c));
  page_fmt first;
  BFD_TRY(read_fmt(tif, c, 0, &first));

  size_t esz = first.bps / 8;
  uint64_t plane = (uint64_t)first.w * first.h;
  if (plane > BFDI_MAX_SAMPLE_BYTES / esz / first.spp / c->npages)
    return bfdi_fail(BFD_ERR_NOMEM, "%s: %u page(s) of %ux%u pixels x %u samples x %zu bytes exceed the 16 GiB "
                     "limit per sample; split the file", c->path, c->npages, first.w, first.h, first.spp, esz);
  size_t plane_bytes = (size_t)(plane * esz);
  size_t total = plane_bytes * first.spp * c->npages;
  BFD_TRY(bfdi_image_check_claim(c->path, "TIFF", c->file_size, total));
  uint8_t *data = malloc(total);
  if (!data)
    return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for %zu bytes of pixels; free memory or split the file",
                     c->path, total);

  /* As Z, a channel's pages are adjacent; as C, a page's channels are. */
  size_t cstride = pages_as == BFD_PAGES_AS_Z ? plane_bytes * c->npages : plane_bytes;
  size_t pstride = pages_as == BFD_PAGES_AS_Z ? plane_bytes : plane_bytes * first.spp;
  bfd_status st = BFD_OK;
  for (uint32_t page = 0; page < c->npages && st == BFD_OK; page++) {
    page_fmt f = first;
    if (page > 0) {
      c->msg[0] = '\0';
      if (!TIFFReadDirectory(tif)) {
        st = bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u: its directory cannot be read (libtiff: %s); the file is "
                       "truncated or corrupt, re-export it", c->path, page + 1, c->npages, detail(c));
        break;
      }
      st = read_fmt(tif, c, page, &f);
      if (st != BFD_OK) break;
      if (f.w != first.w || f.h != first.h || f.spp != first.spp || f.bps != first.bps || f.sfmt != first.sfmt) {
        st = bfdi_fail(BFD_ERR_FORMAT, "%s: page %u of %u is %ux%u with %u %u-bit %s samples per pixel but page 1 "
                       "is %ux%u with %u %u-bit %s; all pages must match, so split the file into one per shape",
                       c->path, page + 1, c->npages, f.w, f.h, f.spp, f.bps, sample_format_name(f.sfmt), first.w,
                       first.h, first.spp, first.bps, sample_format_name(first.sfmt));
        break;
      }
    }
    uint8_t *base = data + page * pstride;
    st = TIFFIsTiled(tif) ? decode_tiles(tif, c, page, &f, base, cstride)
                          : decode_strips(tif, c, page, &f, base, cstride);
  }
  if (st != BFD_OK) {
    free(data);
    return st;
  }

  out->dtype = dtype_of(&first);
  if (pages_as == BFD_PAGES_AS_Z && c->npages > 1) {
    out->ndim = 4;
    out->shape[0] = first.spp;
    out->shape[1] = c->npages;
    out->shape[2] = first.h;
    out->shape[3] = first.w;
  } else {
    out->ndim = 3;
    out->shape[0] = (uint64_t)first.spp * c->npages;
    out->shape[1] = first.h;
    out->shape[2] = first.w;
  }
  out->data = data;
  out->nbytes = total;
  return BFD_OK;
}

bfd_status bfdi_tiff_read(const char *path, bfd_pages_as pages_as, bfdi_image *out) {
  if (!out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_tiff_read: out is NULL");
  memset(out, 0, sizeof *out);
  if (!path) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_tiff_read: path is NULL");
  if (pages_as != BFD_PAGES_AS_Z && pages_as != BFD_PAGES_AS_C)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: pages_as %d is not BFD_PAGES_AS_Z (0) or BFD_PAGES_AS_C (1)", path,
                     (int)pages_as);
  uint64_t file_size = 0;
  BFD_TRY(bfdi_image_check_file(path, "TIFF", &file_size));
  pthread_once(&quiet_once, quiet_libtiff);

  tiff_ctx ctx = {.path = path, .file_size = file_size};
  TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
  if (!opts) return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory opening the TIFF", path);
  TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, &ctx);
  TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, &ctx);
  TIFF *tif = TIFFOpenExt(path, "r", opts);
  TIFFOpenOptionsFree(opts);
  if (!tif)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: not a readable TIFF file (libtiff: %s); check that it is a TIFF and not "
                     "truncated", path, detail(&ctx));
  bfd_status st = read_pages(tif, &ctx, pages_as, out);
  TIFFClose(tif);
  return st;
}
