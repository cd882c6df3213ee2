/* Whole-file writes with cleanup on failure, renames, directory fsync. */
#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bfdi_write_fn write_hook;

void bfdi_set_write_hook(bfdi_write_fn fn) { write_hook = fn; }

bfd_status bfdi_write_new_file(const char *path, const void *buf, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return bfdi_fail_errno(errno, "%s: cannot create (check that the directory exists and is writable)", path);
  const unsigned char *p = buf;
  size_t done = 0;
  while (done < n) {
    size_t k = n - done > (1u << 30) ? (1u << 30) : n - done;
    ssize_t w = write_hook ? write_hook(fd, p + done, k) : write(fd, p + done, k);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int err = w < 0 ? errno : EIO;
      close(fd);
      unlink(path);
      return bfdi_fail_errno(err, "%s: write failed at byte %zu of %zu (the partial file was removed)", path, done,
                             n);
    }
    done += (size_t)w;
  }
  if (fsync(fd) != 0) {
    int err = errno;
    close(fd);
    unlink(path);
    return bfdi_fail_errno(err, "%s: fsync failed (the partial file was removed)", path);
  }
  if (close(fd) != 0) {
    int err = errno;
    unlink(path);
    return bfdi_fail_errno(err, "%s: close failed (the partial file was removed)", path);
  }
  return BFD_OK;
}

bfd_status bfdi_rename(const char *from, const char *to) {
  if (rename(from, to) != 0) return bfdi_fail_errno(errno, "cannot rename %s to %s", from, to);
  return BFD_OK;
}

bfd_status bfdi_fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return bfdi_fail_errno(errno, "%s: cannot open directory to sync it", dir);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0 && err != EINVAL) return bfdi_fail_errno(err, "%s: fsync of the directory failed", dir);
  return BFD_OK;
}

bfd_status bfdi_mkdir_p(const char *dir) {
  size_t n = strlen(dir);
  char *p = malloc(n + 1);
  if (!p) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  memcpy(p, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != '\0') continue;
    char c = p[i];
    p[i] = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      bfd_status s = bfdi_fail_errno(errno, "%s: cannot create directory (choose a writable output path)", p);
      free(p);
      return s;
    }
    p[i] = c;
  }
  free(p);
  struct stat st;
  if (stat(dir, &st) != 0) return bfdi_fail_errno(errno, "%s: cannot stat", dir);
  if (!S_ISDIR(st.st_mode)) return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: exists and is not a directory", dir);
  return BFD_OK;
}

char *bfdi_path_join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  while (a > 1 && dir[a - 1] == '/') a--;
  char *r = malloc(a + b + 2);
  if (!r) return NULL;
  memcpy(r, dir, a);
  r[a] = '/';
  memcpy(r + a + 1, name, b + 1);
  return r;
}
