/* Key files, key ids, XChaCha20-Poly1305 sealing of records and chunks, and
 * locked memory, all through libsodium. */
#include "core/secure.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char KEY_ID_DOMAIN[] = "biofeed key id v1";

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;

static void sodium_start(void) { sodium_ok = sodium_init() >= 0; }

bfd_status bfdi_sodium_init(void) {
  pthread_once(&sodium_once, sodium_start);
  return sodium_ok ? BFD_OK : bfdi_fail(BFD_ERR_INTERNAL, "libsodium failed to initialize (no entropy source?)");
}

void bfdi_hex(const uint8_t *b, size_t n, char *out) {
  static const char dig[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = dig[b[i] >> 4];
    out[2 * i + 1] = dig[b[i] & 15];
  }
  out[2 * n] = '\0';
}

int bfdi_unhex(const char *hex, uint8_t *out, size_t n) {
  size_t got = 0;
  if (!hex || strlen(hex) != 2 * n) return 0;
  return sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, NULL) == 0 && got == n;
}

void bfdi_key_id(const uint8_t key[BFDI_KEY_BYTES], char id[BFDI_KEY_ID_HEX]) {
  uint8_t h[8];
  crypto_generichash(h, sizeof h, (const uint8_t *)KEY_ID_DOMAIN, sizeof KEY_ID_DOMAIN - 1, key, BFDI_KEY_BYTES);
  bfdi_hex(h, sizeof h, id);
}

/* mlock(2) and munlock(2) through syscall(2): the sanitizers' interceptors
 * turn the libc calls (and so sodium_mlock) into no-ops, and the test
 * builds must lock for real to show what a low RLIMIT_MEMLOCK does. */
static int lock_pages(void *p, size_t n) {
  madvise(p, n, MADV_DONTDUMP);
  return (int)syscall(SYS_mlock, p, n);
}

static void unlock_pages(void *p, size_t n) {
  sodium_memzero(p, n);
  syscall(SYS_munlock, p, n);
}

static size_t page_round(size_t n) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  return (n + pg - 1) / pg * pg;
}

bfd_status bfdi_secure_alloc(size_t n, const char *what, void **out) {
  *out = NULL;
  BFD_TRY(bfdi_sodium_init());
  size_t len = page_round(n ? n : 1);
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return bfdi_fail_errno(errno, "cannot map %zu bytes for %s", len, what);
  if (lock_pages(m, len) != 0) {
    int err = errno;
    munmap(m, len);
    struct rlimit rl = {0, 0};
    getrlimit(RLIMIT_MEMLOCK, &rl);
    return bfdi_fail(BFD_ERR_NOMEM, "cannot lock %zu bytes of memory for %s (restricted data is decrypted only into "
                     "locked memory; the locked-memory limit is %llu KiB, %s): raise it with `ulimit -l` (at least "
                     "%zu KiB more; memlock in /etc/security/limits.conf, LimitMEMLOCK in systemd), or lower "
                     "batch_size or prefetch", len, what, (unsigned long long)(rl.rlim_cur / 1024), strerror(err),
                     (len + 1023) / 1024);
  }
  *out = m;
  return BFD_OK;
}

void bfdi_secure_free(void *p, size_t n) {
  if (!p) return;
  size_t len = page_round(n ? n : 1);
  unlock_pages(p, len);
  munmap(p, len);
}

void bfdi_key_free(bfdi_key *k) {
  if (!k) return;
  bfdi_secure_free(k->k, BFDI_KEY_BYTES);
  free(k->path);
  free(k);
}

/* The key bytes of a file's content: 32 raw bytes or 64 hex digits. */
static int parse_key(const uint8_t *buf, size_t n, uint8_t *key) {
  if (n == BFDI_KEY_BYTES) {
    memcpy(key, buf, BFDI_KEY_BYTES);
    return 1;
  }
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
  size_t got = 0;
  return n == 2 * BFDI_KEY_BYTES &&
         sodium_hex2bin(key, BFDI_KEY_BYTES, (const char *)buf, n, NULL, &got, NULL) == 0 && got == BFDI_KEY_BYTES;
}

bfd_status bfdi_key_load(const char *path, const char *origin, bfdi_key **out) {
  *out = NULL;
  BFD_TRY(bfdi_sodium_init());
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return bfdi_fail_errno(errno, "key file %s (from %s): cannot open", path, origin);
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return bfdi_fail(BFD_ERR_INVALID_ARG, "key file %s (from %s): not a regular file", path, origin);
  }
  if (sb.st_mode & 077) {
    close(fd);
    return bfdi_fail(BFD_ERR_INVALID_ARG, "key file %s (from %s): readable or writable by its group or others (mode "
                     "%04o); a key must be private to its owner: run `chmod 600 %s`", path, origin,
                     (unsigned)(sb.st_mode & 07777), path);
  }
  bfdi_key *k = calloc(1, sizeof *k);
  uint8_t *buf = NULL;
  bfd_status st = k && (k->path = strdup(path)) ? BFD_OK : bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  if (st == BFD_OK) st = bfdi_secure_alloc(BFDI_KEY_BYTES, "the key", (void **)&k->k);
  /* The file's bytes are the key too: read them into locked memory. */
  const size_t cap = 2 * BFDI_KEY_BYTES + 3;
  if (st == BFD_OK) st = bfdi_secure_alloc(cap, "the key file", (void **)&buf);
  ssize_t n = 0;
  if (st == BFD_OK) {
    size_t got = 0;
    while (got < cap && (n = read(fd, buf + got, cap - got)) > 0) got += (size_t)n;
    if (n < 0) st = bfdi_fail_errno(errno, "key file %s (from %s): read failed", path, origin);
    else if (!parse_key(buf, got, k->k))
      st = bfdi_fail(BFD_ERR_INVALID_ARG, "key file %s (from %s): not a key: it must hold 32 bytes, or 64 hex digits "
                     "(make one with `biofeed keygen FILE`)", path, origin);
  }
  close(fd);
  bfdi_secure_free(buf, cap);
  if (st != BFD_OK) {
    bfdi_key_free(k);
    return st;
  }
  bfdi_key_id(k->k, k->id);
  *out = k;
  return BFD_OK;
}

bfd_status bfdi_key_generate(const char *path, char id[BFDI_KEY_ID_HEX]) {
  BFD_TRY(bfdi_sodium_init());
  uint8_t *key = NULL;
  char *hex = NULL;
  const size_t hex_len = 2 * BFDI_KEY_BYTES + 2;
  BFD_TRY(bfdi_secure_alloc(BFDI_KEY_BYTES, "a new key", (void **)&key));
  bfd_status st = bfdi_secure_alloc(hex_len, "a new key", (void **)&hex);
  if (st != BFD_OK) {
    bfdi_secure_free(key, BFDI_KEY_BYTES);
    return st;
  }
  randombytes_buf(key, BFDI_KEY_BYTES);
  bfdi_hex(key, BFDI_KEY_BYTES, hex);
  hex[2 * BFDI_KEY_BYTES] = '\n';
  bfdi_key_id(key, id);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    st = bfdi_fail_errno(errno, "%s: cannot create the key file (it must not exist yet: keys are never overwritten)",
                         path);
  } else {
    size_t done = 0;
    while (st == BFD_OK && done < hex_len - 1) {
      ssize_t w = write(fd, hex + done, hex_len - 1 - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) st = bfdi_fail_errno(w < 0 ? errno : EIO, "%s: writing the key failed", path);
      else done += (size_t)w;
    }
    if (st == BFD_OK && fsync(fd) != 0) st = bfdi_fail_errno(errno, "%s: fsync failed", path);
    close(fd);
    if (st != BFD_OK) unlink(path);
  }
  bfdi_secure_free(hex, hex_len);
  bfdi_secure_free(key, BFDI_KEY_BYTES);
  return st;
}

#define AD_BYTES (BFDI_SHARD_ID_BYTES + 1 + 3 * 8)

/* shard id || part || record || piece || pieces (little-endian): 41 bytes. */
static void make_ad(const uint8_t shard_id[BFDI_SHARD_ID_BYTES], const bfdi_seal_at *at, uint8_t ad[AD_BYTES]) {
  memcpy(ad, shard_id, BFDI_SHARD_ID_BYTES);
  ad[16] = (uint8_t)at->part;
  for (int i = 0; i < 8; i++) {
    ad[17 + i] = (uint8_t)(at->record >> (8 * i));
    ad[25 + i] = (uint8_t)(at->piece >> (8 * i));
    ad[33 + i] = (uint8_t)(at->pieces >> (8 * i));
  }
}

void bfdi_seal(const bfdi_key *k, const uint8_t shard_id[BFDI_SHARD_ID_BYTES], const bfdi_seal_at *at,
               const uint8_t *m, size_t n, uint8_t *out) {
  uint8_t ad[AD_BYTES];
  make_ad(shard_id, at, ad);
  randombytes_buf(out, BFDI_SEAL_NONCE);
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + BFDI_SEAL_NONCE, NULL, m, n, ad, sizeof ad, NULL, out, k->k);
}

int bfdi_unseal(const bfdi_key *k, const uint8_t shard_id[BFDI_SHARD_ID_BYTES], const bfdi_seal_at *at,
                const uint8_t *c, size_t n, uint8_t *out) {
  if (n < BFDI_SEAL_OVERHEAD) return -1;
  uint8_t ad[AD_BYTES];
  make_ad(shard_id, at, ad);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, c + BFDI_SEAL_NONCE, n - BFDI_SEAL_NONCE, ad,
                                                 sizeof ad, c, k->k) != 0) {
    sodium_memzero(out, n - BFDI_SEAL_OVERHEAD);
    return -1;
  }
  return 0;
}
