/* The shard writer thread of `pack`: takes finished record batches from a
 * short queue and writes each as a shard under a temporary name, so parsing
 * (the caller's thread) and compression plus writing (this one) overlap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fileio.h"
#include "pack/pack_internal.h"

double bfdi_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bfd_status write_job(bfdi_packer *p, bfdi_job *j) {
  char tmp_name[512];
  snprintf(tmp_name, sizeof tmp_name, ".%s.tmp.%ld", j->name, (long)getpid());
  char *tmp = bfdi_path_join(p->o->out_dir, tmp_name);
  if (!tmp) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  bfdi_written w;
  j->seq.key = j->img.key = p->key;
  bfd_status st = j->is_image ? bfdi_write_img_shard(tmp, &j->img, j->provenance, &w)
                              : bfdi_write_seq_shard(tmp, &j->seq, j->provenance, &w);
  if (st != BFD_OK) {
    free(tmp);
    return st;
  }
  pthread_mutex_lock(&p->mu);
  if (p->n_shards == p->cap_shards) {
    size_t cap = p->cap_shards ? 2 * p->cap_shards : 16;
    bfdi_shard_entry *ns = realloc(p->shards, cap * sizeof *ns);
    if (!ns) {
      pthread_mutex_unlock(&p->mu);
      unlink(tmp);
      free(tmp);
      return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
    }
    p->shards = ns;
    p->cap_shards = cap;
  }
  bfdi_shard_entry *e = &p->shards[p->n_shards++];
  memset(e, 0, sizeof *e);
  e->name = j->name;
  j->name = NULL;
  e->tmp_path = tmp;
  e->size = w.size;
  e->records = j->is_image ? j->img.n : j->seq.n;
  e->bytes = j->bytes;
  e->group = j->group;
  memcpy(e->hash, w.hash, sizeof e->hash);
  p->sum.shards++;
  p->sum.bytes_out += w.size;
  pthread_mutex_unlock(&p->mu);
  return BFD_OK;
}

static void free_job(bfdi_job *j) {
  if (j->release) j->release(j);
  free(j->name);
  free(j->provenance);
  free(j);
}

static void *writer_main(void *arg) {
  bfdi_packer *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    while (!p->head && !p->closing) pthread_cond_wait(&p->cv, &p->mu);
    bfdi_job *j = p->head;
    if (!j) {
      pthread_mutex_unlock(&p->mu);
      return NULL;
    }
    p->head = j->next;
    if (!p->head) p->tail = NULL;
    int failed = p->writer_status != BFD_OK;
    pthread_mutex_unlock(&p->mu);

    bfd_status st = failed ? BFD_OK : write_job(p, j);
    free_job(j);

    pthread_mutex_lock(&p->mu);
    p->queued--;
    if (st != BFD_OK && p->writer_status == BFD_OK) {
      p->writer_status = st;
      snprintf(p->writer_error, sizeof p->writer_error, "%s", bfd_last_error());
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
}

bfd_status bfdi_writer_start(bfdi_packer *p) {
  /* One shard being written while the caller fills the next bounds memory
   * to about two shards (plus the in-memory HDF5 image of one). */
  p->queue_max = 1;
  if (pthread_create(&p->thread, NULL, writer_main, p) != 0)
    return bfdi_fail(BFD_ERR_INTERNAL, "cannot start the shard writer thread");
  p->thread_started = 1;
  return BFD_OK;
}

bfd_status bfdi_packer_submit(bfdi_packer *p, bfdi_job *job) {
  pthread_mutex_lock(&p->mu);
  while (p->queued >= p->queue_max && p->writer_status == BFD_OK) pthread_cond_wait(&p->cv, &p->mu);
  if (p->writer_status != BFD_OK) {
    bfd_status st = bfdi_fail(p->writer_status, "%s", p->writer_error);
    pthread_mutex_unlock(&p->mu);
    free_job(job);
    return st;
  }
  job->next = NULL;
  if (p->tail) p->tail->next = job;
  else p->head = job;
  p->tail = job;
  p->queued++;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return BFD_OK;
}

bfd_status bfdi_writer_finish(bfdi_packer *p) {
  if (!p->thread_started) return BFD_OK;
  pthread_mutex_lock(&p->mu);
  p->closing = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->thread, NULL);
  p->thread_started = 0;
  if (p->writer_status != BFD_OK) return bfdi_fail(p->writer_status, "%s", p->writer_error);
  return BFD_OK;
}
