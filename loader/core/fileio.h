/* Whole-file writes that either complete or leave nothing, and the rename
 * that publishes them. All output of `pack` goes through here, so a test can
 * inject a failing write (a full disk) with bfdi_set_write_hook. */
#ifndef BFD_CORE_FILEIO_H
#define BFD_CORE_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "core/error.h"

/* Same contract as write(2). NULL restores write(2). */
typedef ssize_t (*bfdi_write_fn)(int fd, const void *buf, size_t n);
void bfdi_set_write_hook(bfdi_write_fn fn);

/* Creates path (which must not exist), writes n bytes, fsyncs and closes it.
 * On any failure the partial file is removed and the error names path and
 * the byte offset reached. */
bfd_status bfdi_write_new_file(const char *path, const void *buf, size_t n);

/* rename(2) with an error naming both paths. */
bfd_status bfdi_rename(const char *from, const char *to);

/* fsync on a directory, so that renames in it survive a crash. */
bfd_status bfdi_fsync_dir(const char *dir);

/* Creates dir and its parents (mode 0777 & ~umask); fine if it exists. */
bfd_status bfdi_mkdir_p(const char *dir);

/* Joins dir and name with one '/'; the result is malloc'd (NULL if out of memory). */
char *bfdi_path_join(const char *dir, const char *name);

#endif
