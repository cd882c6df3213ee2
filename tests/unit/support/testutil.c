/* Test helpers: temporary directories and whole-file I/O. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tu_mkdtemp(const char *tag) {
  char tmpl[256];
  snprintf(tmpl, sizeof tmpl, "/tmp/biofeed-%s-XXXXXX", tag);
  char *d = mkdtemp(tmpl);
  return d ? strdup(d) : NULL;
}

void tu_rmtree(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0) return;
  if (S_ISDIR(sb.st_mode)) {
    DIR *d = opendir(path);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        tu_rmtree(sub);
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

int tu_write(const char *path, const void *buf, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(buf, 1, n, f);
  return (fclose(f) == 0 && w == n) ? 0 : -1;
}

uint8_t *tu_read(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(sz > 0 ? (size_t)sz : 1);
  if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
    free(b);
    b = NULL;
  }
  fclose(f);
  if (b) *n = (size_t)sz;
  return b;
}

int tu_count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

int tu_exists(const char *dir, const char *name) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return access(p, F_OK) == 0;
}

const char *tu_path(const char *fmt, ...) {
  static char bufs[8][4096];
  static int k;
  char *b = bufs[k++ & 7];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, 4096, fmt, ap);
  va_end(ap);
  return b;
}

size_t tu_disk_budget;

ssize_t tu_write_until_full(int fd, const void *buf, size_t n) {
  if (tu_disk_budget == 0) {
    errno = ENOSPC;
    return -1;
  }
  size_t k = n < tu_disk_budget ? n : tu_disk_budget;
  tu_disk_budget -= k;
  return write(fd, buf, k);
}

int tu_dir_setup(void **state) {
  tu_dir *f = calloc(1, sizeof *f);
  if (!f) return -1;
  f->dir = tu_mkdtemp("test");
  *state = f;
  return f->dir ? 0 : -1;
}

int tu_dir_teardown(void **state) {
  tu_dir *f = *state;
  tu_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}
