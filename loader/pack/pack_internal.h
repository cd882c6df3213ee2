/* Internal state shared by the parts of `pack`: the input list, the shard
 * writer thread, and the commit that publishes shards and the manifest. */
#ifndef BFD_PACK_INTERNAL_H
#define BFD_PACK_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "biofeed/pack.h"
#include "core/checksum.h"
#include "core/secure.h"
#include "format/shard_write.h"

typedef struct bfdi_input {
  char *path;
  uint64_t size;
  char hash[BFDI_HASH_HEX];
} bfdi_input;

/* A shard the writer has finished under its temporary name. */
typedef struct bfdi_shard_entry {
  char *name;      /* final file name inside out_dir */
  char *tmp_path;  /* out_dir/.name.tmp.<pid> */
  uint64_t size, records, bytes;
  char hash[BFDI_HASH_HEX];
  int group;
} bfdi_shard_entry;

/* One unit of work for the writer thread; it owns everything it points to
 * and frees it with release(). */
typedef struct bfdi_job {
  int is_image;
  bfdi_seq_shard seq;
  bfdi_img_shard img;
  char *name;
  int group;
  uint64_t bytes;        /* record bytes, for the summary */
  char *provenance;
  void (*release)(struct bfdi_job *job);
  struct bfdi_job *next;
} bfdi_job;

typedef struct bfdi_packer {
  const bfd_pack_options *o;
  bfdi_input *inputs;
  size_t n_inputs;
  bfd_kind kind;
  char *options_json;   /* the options as a JSON object (text) */
  double t0;

  /* writer thread and its queue (at most queue_max jobs waiting) */
  pthread_t thread;
  int thread_started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bfdi_job *head, *tail;
  int queued, queue_max, closing;
  bfd_status writer_status;
  char writer_error[2048];

  bfdi_shard_entry *shards;
  size_t n_shards, cap_shards;
  bfd_pack_summary sum;
  double last_progress;
  uint64_t bytes_done;  /* input bytes of inputs already finished */
  int seq_quality;      /* sequences came from FASTQ */
  bfdi_key *key;        /* restricted pack: every record sealed with it (o->key_file) */
  struct bfdi_img_state *img;
} bfdi_packer;

double bfdi_now(void);

/* Hands a job to the writer; blocks while the queue is full. Fails (and
 * releases the job) if the writer already failed. */
bfd_status bfdi_packer_submit(bfdi_packer *p, bfdi_job *job);
bfd_status bfdi_writer_start(bfdi_packer *p);
/* Waits for every queued job; returns the writer's status. */
bfd_status bfdi_writer_finish(bfdi_packer *p);

/* The provenance JSON for a shard holding records of these inputs. */
char *bfdi_provenance(const bfdi_packer *p, const size_t *inputs, size_t n);

void bfdi_progress(bfdi_packer *p, uint64_t current_input_bytes, int force);

bfd_status bfdi_pack_sequences(bfdi_packer *p);
bfd_status bfdi_pack_images(bfdi_packer *p);

/* The image shape groups, for manifest.json's schema (a cJSON array). */
struct cJSON;
void bfdi_pack_image_schema(const bfdi_packer *p, struct cJSON *groups);
void bfdi_pack_image_free(bfdi_packer *p);

#endif
