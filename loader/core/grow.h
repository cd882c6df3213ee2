/* Growing arrays by doubling, with the size arithmetic checked: a hostile
 * record count must fail as an allocation error, not wrap around. */
#ifndef BFD_CORE_GROW_H
#define BFD_CORE_GROW_H

#include <stdint.h>
#include <stdlib.h>

/* Makes *buf hold at least need elements of esize bytes. 1 on success, 0
 * when out of memory (then *buf and *cap are unchanged). */
static inline int bfdi_grow(void **buf, size_t *cap, size_t need, size_t esize) {
  if (need <= *cap) return 1;
  size_t c = *cap ? *cap : 8;
  while (c < need) {
    if (c > SIZE_MAX / 2 / esize) return 0;
    c *= 2;
  }
  void *nb = realloc(*buf, c * esize);
  if (!nb) return 0;
  *buf = nb;
  *cap = c;
  return 1;
}

#endif
