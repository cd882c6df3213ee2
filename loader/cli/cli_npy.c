/* NPY v1 files for `biofeed run --dump`: the header (magic, version, a dict
 * with descr, fortran_order and shape, padded with spaces to a multiple of
 * 64 bytes and ended by a newline), then the elements in C order. NPY has
 * no bfloat16, so bfloat16 outputs are written as float32 (exact). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* The numpy type string of t's elements, or NULL when NPY cannot hold it. */
static const char *descr(DLDataType d, char *buf, size_t cap) {
  if (d.lanes != 1) return NULL;
  char kind;
  switch (d.code) {
    case kDLInt: kind = 'i'; break;
    case kDLUInt: kind = 'u'; break;
    case kDLFloat: kind = 'f'; break;
    case kDLBfloat: return d.bits == 16 ? "<f4" : NULL;
    default: return NULL;
  }
  if (d.bits % 8 || d.bits == 0 || d.bits > 64 || (kind == 'f' && d.bits == 8)) return NULL;
  snprintf(buf, cap, "%c%c%u", d.bits == 8 ? '|' : '<', kind, (unsigned)d.bits / 8);
  return buf;
}

int bfd_cli_write_npy(const char *path, const DLTensor *t) {
  char dbuf[16];
  const char *dt = descr(t->dtype, dbuf, sizeof dbuf);
  if (!dt) {
    fprintf(stderr, "biofeed run: error: %s: NPY cannot hold DLPack dtype code %u, %u bits x %u lanes\n", path,
            (unsigned)t->dtype.code, (unsigned)t->dtype.bits, (unsigned)t->dtype.lanes);
    return 2;
  }
  char hdr[512];
  int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", dt);
  for (int i = 0; i < t->ndim && n < (int)sizeof hdr; i++)
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%lld%s", (long long)t->shape[i],
                  t->ndim == 1 ? "," : (i + 1 < t->ndim ? ", " : ""));
  if (n < (int)sizeof hdr) n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
  /* magic (6) + version (2) + header length (2) + dict + padding + '\n' */
  size_t total = ((size_t)10 + (size_t)n + 1 + 63) / 64 * 64;
  if (n >= (int)sizeof hdr - 64 || total > 65535 + 10) {
    fprintf(stderr, "biofeed run: error: %s: the NPY header for a %d-axis tensor is too long\n", path, t->ndim);
    return 2;
  }
  size_t dict_len = total - 10;
  memset(hdr + n, ' ', dict_len - (size_t)n - 1);
  hdr[dict_len - 1] = '\n';
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(dict_len & 0xff),
                           (unsigned char)(dict_len >> 8)};

  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "biofeed run: error: cannot create %s: %s\n", path, strerror(errno));
    return 2;
  }
  int ok = fwrite(pre, 1, sizeof pre, f) == sizeof pre && fwrite(hdr, 1, dict_len, f) == dict_len;
  uint64_t count = bfd_cli_tensor_numel(t);
  size_t es = bfd_cli_tensor_elsize(t);
  if (ok && t->dtype.code == kDLBfloat) {
    for (uint64_t i = 0; ok && i < count; i++) {
      float v = (float)bfd_cli_tensor_f64_linear(t, i);
      ok = fwrite(&v, sizeof v, 1, f) == 1;
    }
  } else if (ok && bfd_cli_tensor_contiguous(t)) {
    const char *p = (const char *)t->data + t->byte_offset;
    ok = fwrite(p, es, (size_t)count, f) == (size_t)count;
  } else {
    for (uint64_t i = 0; ok && i < count; i++) ok = fwrite(bfd_cli_tensor_ptr_linear(t, i), es, 1, f) == 1;
  }
  int err = errno;
  if (fclose(f) != 0 && ok) {
    ok = 0;
    err = errno;
  }
  if (!ok) {
    fprintf(stderr, "biofeed run: error: writing %s: %s\n", path, strerror(err));
    return 2;
  }
  return 0;
}
