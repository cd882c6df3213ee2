/* CRC32C through ISA-L's crc32_iscsi (hardware CRC where the CPU has it) and
 * XXH3-128 file hashes through libxxhash, streamed in large blocks. */
#include "core/checksum.h"

#include <errno.h>
#include <fcntl.h>
#include <isa-l/crc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>

uint32_t bfdi_crc32c(const void *p, size_t n) { return bfdi_crc32c_extend(0, p, n); }

uint32_t bfdi_crc32c_extend(uint32_t crc, const void *p, size_t n) {
  /* crc32_iscsi takes a length that is an int; feed huge records in pieces. */
  const unsigned char *b = p;
  uint32_t s = crc ^ 0xFFFFFFFFu;
  while (n > 0) {
    size_t k = n > (1u << 30) ? (1u << 30) : n;
    s = crc32_iscsi((unsigned char *)b, (int)k, s);
    b += k;
    n -= k;
  }
  return s ^ 0xFFFFFFFFu;
}

static void hex128(XXH128_hash_t h, char out[BFDI_HASH_HEX]) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  static const char dig[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) {
    out[2 * i] = dig[c.digest[i] >> 4];
    out[2 * i + 1] = dig[c.digest[i] & 15];
  }
  out[32] = '\0';
}

void bfdi_xxh3_hex(const void *p, size_t n, char out[BFDI_HASH_HEX]) { hex128(XXH3_128bits(p, n), out); }

bfd_status bfdi_hash_file(const char *path, char out[BFDI_HASH_HEX], uint64_t *size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return bfdi_fail_errno(errno, "%s: cannot open to hash it", path);
  enum { BLOCK = 4 << 20 };
  unsigned char *buf = malloc(BLOCK);
  XXH3_state_t *st = XXH3_createState();
  if (!buf || !st) {
    free(buf);
    XXH3_freeState(st);
    close(fd);
    return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory while hashing", path);
  }
  XXH3_128bits_reset(st);
  uint64_t total = 0;
  bfd_status rc = BFD_OK;
  for (;;) {
    ssize_t r = read(fd, buf, BLOCK);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = bfdi_fail_errno(errno, "%s: read failed at byte %llu while hashing", path, (unsigned long long)total);
      break;
    }
    if (r == 0) break;
    XXH3_128bits_update(st, buf, (size_t)r);
    total += (uint64_t)r;
  }
  if (rc == BFD_OK) {
    hex128(XXH3_128bits_digest(st), out);
    if (size) *size = total;
  }
  XXH3_freeState(st);
  free(buf);
  close(fd);
  return rc;
}
