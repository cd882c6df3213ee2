/* Whole-file reads of configuration inputs. */
#include "config/readfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

bfd_status bfdi_read_text(const char *path, const char *what, char **text, size_t *n) {
  *text = NULL;
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return bfdi_fail_errno(errno, "cannot open %s %s", what, path);
  bfd_status st = BFD_OK;
  size_t cap = 0;
  for (;;) {
    if (*n + 4096 >= cap) {
      cap = cap ? cap * 2 : 65536;
      char *t = realloc(*text, cap);
      if (!t) {
        st = bfdi_fail(BFD_ERR_NOMEM, "out of memory reading %s %s", what, path);
        break;
      }
      *text = t;
    }
    size_t got = fread(*text + *n, 1, cap - *n - 1, f);
    *n += got;
    if (got == 0) {
      if (ferror(f)) st = bfdi_fail_errno(errno, "cannot read %s %s", what, path);
      break;
    }
  }
  fclose(f);
  if (st != BFD_OK) {
    free(*text);
    *text = NULL;
    *n = 0;
    return st;
  }
  (*text)[*n] = '\0';
  return BFD_OK;
}
