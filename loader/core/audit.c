/* Audit log lines: built with cJSON (so paths and names are escaped), then
 * appended with one write(2). */
#include "core/audit.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct bfdi_audit {
  int fd;
  char *path;
  char user[256];
  char host[256];
};

bfd_status bfdi_audit_open(const char *path, const char *origin, bfdi_audit **out) {
  *out = NULL;
  bfdi_audit *a = calloc(1, sizeof *a);
  if (!a || !(a->path = strdup(path))) {
    free(a);
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  }
  a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (a->fd < 0) {
    bfd_status st = bfdi_fail_errno(errno, "audit log %s (from %s): cannot open for appending (check the directory "
                                    "exists and is writable)", path, origin);
    free(a->path);
    free(a);
    return st;
  }
  struct passwd pw, *res = NULL;
  char buf[4096];
  if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res)
    snprintf(a->user, sizeof a->user, "%s", pw.pw_name);
  else
    snprintf(a->user, sizeof a->user, "uid %u", (unsigned)getuid());
  if (gethostname(a->host, sizeof a->host) != 0) snprintf(a->host, sizeof a->host, "unknown");
  a->host[sizeof a->host - 1] = '\0';
  *out = a;
  return BFD_OK;
}

static void iso_now(char *out, size_t cap) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, cap - n, ".%03dZ", (int)(tv.tv_usec / 1000) % 1000);
}

bfd_status bfdi_audit_write(bfdi_audit *a, const bfdi_audit_event *e) {
  char t[64];
  iso_now(t, sizeof t);
  cJSON *j = cJSON_CreateObject();
  if (!j) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for an audit line");
  cJSON_AddStringToObject(j, "time", t);
  cJSON_AddStringToObject(j, "event", e->event);
  if (e->job) cJSON_AddStringToObject(j, "job", e->job);
  else cJSON_AddNullToObject(j, "job");
  cJSON_AddStringToObject(j, "user", a->user);
  cJSON_AddNumberToObject(j, "uid", (double)getuid());
  cJSON_AddStringToObject(j, "host", a->host);
  cJSON_AddNumberToObject(j, "pid", (double)getpid());
  cJSON_AddNumberToObject(j, "rank", e->rank);
  cJSON_AddStringToObject(j, "shard", e->shard);
  cJSON_AddStringToObject(j, "access", e->restricted ? "restricted" : "open");
  if (e->key_id) cJSON_AddStringToObject(j, "key_id", e->key_id);
  if (e->records >= 0) cJSON_AddNumberToObject(j, "records_read", (double)e->records);
  char *line = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (!line) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for an audit line");
  size_t n = strlen(line);
  line[n] = '\n'; /* cJSON allocates the terminating NUL: room for the newline */
  ssize_t w;
  do w = write(a->fd, line, n + 1);
  while (w < 0 && errno == EINTR);
  free(line);
  if (w < 0) return bfdi_fail_errno(errno, "audit log %s: write failed", a->path);
  if ((size_t)w != n + 1)
    return bfdi_fail(BFD_ERR_NO_SPACE, "audit log %s: only %zd of %zu bytes of a line were written (disk full?)",
                     a->path, w, n + 1);
  return BFD_OK;
}

void bfdi_audit_close(bfdi_audit *a) {
  if (!a) return;
  close(a->fd);
  free(a->path);
  free(a);
}
