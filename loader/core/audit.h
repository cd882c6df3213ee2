/* The audit log of restricted-data access (docs/SECURITY.md): JSON lines
 * appended to a file, one per shard opened and one per shard closed with the
 * records read, each written with a single write(2) on an O_APPEND
 * descriptor so that lines from concurrent ranks never interleave. The key
 * never appears in it. */
#ifndef BFD_CORE_AUDIT_H
#define BFD_CORE_AUDIT_H

#include <stdint.h>

#include "core/error.h"

typedef struct bfdi_audit bfdi_audit;

typedef struct bfdi_audit_event {
  const char *event;   /* "open" or "close" */
  const char *job;     /* job id, NULL: none known */
  int rank;
  const char *shard;   /* path */
  int restricted;      /* the access class */
  const char *key_id;  /* NULL for open shards */
  int64_t records;     /* records read; < 0: not part of this event */
} bfdi_audit_event;

/* Opens (creating, mode 0600) path for appending. origin names where the
 * path came from, for messages. */
bfd_status bfdi_audit_open(const char *path, const char *origin, bfdi_audit **out);
/* Appends one line: time (UTC, ISO 8601), the event's fields, user, uid,
 * host and pid. */
bfd_status bfdi_audit_write(bfdi_audit *a, const bfdi_audit_event *e);
void bfdi_audit_close(bfdi_audit *a);

#endif
