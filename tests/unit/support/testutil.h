/* Helpers shared by the C tests: temporary directories, whole-file reads and
 * writes, and a check that a directory holds only what it should. */
#ifndef BFD_TESTUTIL_H
#define BFD_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* mkdtemp under /tmp; the returned path is malloc'd. */
char *tu_mkdtemp(const char *tag);
/* rm -rf path (no error if missing). */
void tu_rmtree(const char *path);
/* Writes n bytes to path (creating parents is the caller's job). Returns 0 on success. */
int tu_write(const char *path, const void *buf, size_t n);
/* Reads a whole file; *n gets its size. NULL if it cannot be read. */
uint8_t *tu_read(const char *path, size_t *n);
/* Number of directory entries (excluding . and ..); -1 if it cannot be listed. */
int tu_count_entries(const char *dir);
/* 1 if dir/name exists. */
int tu_exists(const char *dir, const char *name);
/* snprintf into a static rotating buffer: for building paths in tests. */
const char *tu_path(const char *fmt, ...);

/* A cmocka fixture: a fresh temporary directory per test, removed after. */
typedef struct tu_dir {
  char *dir;
} tu_dir;
int tu_dir_setup(void **state);
int tu_dir_teardown(void **state);

/* A write(2) stand-in for bfdi_set_write_hook: the disk is full (ENOSPC)
 * after tu_disk_budget more bytes. */
extern size_t tu_disk_budget;
#include <sys/types.h>
ssize_t tu_write_until_full(int fd, const void *buf, size_t n);

#endif
