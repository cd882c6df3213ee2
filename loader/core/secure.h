/* Restricted data (docs/SECURITY.md): the key file, its id, sealing and
 * opening one piece (a segment of a sequence record, a stored image chunk)
 * with XChaCha20-Poly1305 (libsodium), and locked memory for decrypted
 * bytes. A sealed piece is stored as nonce (24 bytes) || ciphertext || tag
 * (16 bytes); its associated data binds the shard id, the part (sequence,
 * quality, image, label), the record, the piece's index in the record and
 * the record's number of pieces, so stored pieces cannot be swapped, moved
 * to another record or shard, dropped from the end of a record, or
 * replayed from another pack. */
#ifndef BFD_CORE_SECURE_H
#define BFD_CORE_SECURE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define BFDI_KEY_BYTES 32
#define BFDI_KEY_ID_HEX 17     /* 16 hex digits and a NUL */
#define BFDI_SHARD_ID_BYTES 16
#define BFDI_SHARD_ID_HEX 33
#define BFDI_SEAL_NONCE 24
#define BFDI_SEAL_OVERHEAD 40  /* nonce + tag */

/* Sequence records are sealed in segments of this many plaintext bytes
 * (the last one shorter; an empty record is one empty segment), stored one
 * after the other, so that a window opens only the segments it covers. */
#define BFDI_SEAL_SEGMENT 4096u

static inline uint64_t bfdi_seal_segments(uint64_t len) {
  return len ? (len + BFDI_SEAL_SEGMENT - 1) / BFDI_SEAL_SEGMENT : 1;
}
/* Stored bytes of a sealed record of len bytes. */
static inline uint64_t bfdi_sealed_size(uint64_t len) { return len + BFDI_SEAL_OVERHEAD * bfdi_seal_segments(len); }
/* Plaintext bytes of a sealed record of stored bytes (at least BFDI_SEAL_OVERHEAD). */
static inline uint64_t bfdi_unsealed_size(uint64_t stored) {
  uint64_t seg = BFDI_SEAL_SEGMENT + BFDI_SEAL_OVERHEAD;
  return stored - BFDI_SEAL_OVERHEAD * ((stored + seg - 1) / seg);
}

/* What a sealed piece is: part of its associated data. */
enum { BFDI_SEAL_SEQ = 1, BFDI_SEAL_QUALITY = 2, BFDI_SEAL_IMAGE = 3, BFDI_SEAL_LABEL = 4 };

typedef struct bfdi_key {
  uint8_t *k;                 /* BFDI_KEY_BYTES in locked memory */
  char id[BFDI_KEY_ID_HEX];
  char *path;
} bfdi_key;

/* sodium_init once; fails only when libsodium cannot start. */
bfd_status bfdi_sodium_init(void);

/* Reads a key file: 32 bytes, or 64 hex digits (a trailing newline is
 * fine). A file that its group or others may read is refused. origin names
 * where the path came from ("--key-file", "security.key_file (job.yaml:7)",
 * "BIOFEED_KEY_FILE"), for messages. */
bfd_status bfdi_key_load(const char *path, const char *origin, bfdi_key **out);
void bfdi_key_free(bfdi_key *k);

/* Writes 32 random bytes as 64 hex digits to path (created, mode 0600,
 * never overwritten). */
bfd_status bfdi_key_generate(const char *path, char id[BFDI_KEY_ID_HEX]);

/* The key's public id: 8 bytes of BLAKE2b keyed with the key over a domain
 * string, as hex. It identifies a key without revealing anything of it. */
void bfdi_key_id(const uint8_t key[BFDI_KEY_BYTES], char id[BFDI_KEY_ID_HEX]);

/* Where a sealed piece belongs: its associated data with the shard id. */
typedef struct bfdi_seal_at {
  int part;        /* BFDI_SEAL_* */
  uint64_t record; /* record (sequences) or sample (images) in the shard */
  uint64_t piece;  /* segment or chunk within it */
  uint64_t pieces; /* the record's segments or the sample's chunks */
} bfdi_seal_at;

/* n bytes of m into out (n + BFDI_SEAL_OVERHEAD bytes), with a fresh random nonce. */
void bfdi_seal(const bfdi_key *k, const uint8_t shard_id[BFDI_SHARD_ID_BYTES], const bfdi_seal_at *at,
               const uint8_t *m, size_t n, uint8_t *out);
/* Authenticates and decrypts n stored bytes into out (n - BFDI_SEAL_OVERHEAD
 * bytes). 0 on success, -1 when the bytes, the key or the place are wrong
 * (out is then zeroed). */
int bfdi_unseal(const bfdi_key *k, const uint8_t shard_id[BFDI_SHARD_ID_BYTES], const bfdi_seal_at *at,
                const uint8_t *c, size_t n, uint8_t *out);

/* n bytes of locked (mlock, not in core dumps), zeroed memory. Fails
 * naming what and how much when RLIMIT_MEMLOCK is too low. */
bfd_status bfdi_secure_alloc(size_t n, const char *what, void **out);
/* Zeroes, unlocks and unmaps what bfdi_secure_alloc gave (n as given). */
void bfdi_secure_free(void *p, size_t n);

/* Lowercase hex of n bytes into out (2n + 1); and back: 0 unless hex is
 * exactly 2n hex digits. */
void bfdi_hex(const uint8_t *b, size_t n, char *out);
int bfdi_unhex(const char *hex, uint8_t *out, size_t n);

#endif
