/* `pack` entry point: options, the input list (directories expanded, sorted,
 * hashed), one kind per pack, and the commit: shards renamed from their
 * temporary names, then manifest.json, then stale shards of an earlier pack
 * removed. Until the manifest is renamed, nothing looks complete. */
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "ingest/image.h"
#include "pack/pack_internal.h"

bfd_status bfd_pack_options_init(bfd_pack_options *o) {
  if (!o) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_pack_options_init: NULL options");
  memset(o, 0, sizeof *o);
  o->shard_bytes = 256ull << 20;
  o->pages_as = BFD_PAGES_AS_Z;
  return BFD_OK;
}

static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcasecmp(s + a - b, suf) == 0;
}

static int is_sequence_name(const char *path) {
  static const char *const ext[] = {".fa", ".fasta", ".fna", ".faa", ".ffn", ".frn", ".fas", ".fsa", ".mpfa",
                                    ".fq", ".fastq"};
  static const char *const comp[] = {"", ".gz", ".bgz", ".bgzf"};
  char buf[64];
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
    for (size_t j = 0; j < sizeof comp / sizeof comp[0]; j++) {
      snprintf(buf, sizeof buf, "%s%s", ext[i], comp[j]);
      if (ends_with(path, buf)) return 1;
    }
  return 0;
}

static bfd_kind kind_of(const char *path) {
  if (is_sequence_name(path)) return BFD_KIND_SEQUENCE;
  if (bfdi_image_format_of(path) != BFDI_IMG_NONE) return BFD_KIND_IMAGE;
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct strvec {
  char **v;
  size_t n, cap;
} strvec;

static bfd_status push(strvec *s, char *str) {
  if (!str) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 32;
    char **nv = realloc(s->v, cap * sizeof *nv);
    if (!nv) {
      free(str);
      return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
    }
    s->v = nv;
    s->cap = cap;
  }
  s->v[s->n++] = str;
  return BFD_OK;
}

/* Files of a known kind below dir, recursively, in name order. */
static bfd_status expand_dir(const char *dir, strvec *out) {
  DIR *d = opendir(dir);
  if (!d) return bfdi_fail_errno(errno, "%s: cannot list the directory", dir);
  strvec names = {0};
  bfd_status st = BFD_OK;
  struct dirent *e;
  while (st == BFD_OK && (e = readdir(d)))
    if (e->d_name[0] != '.') st = push(&names, bfdi_path_join(dir, e->d_name));
  closedir(d);
  if (names.n) qsort(names.v, names.n, sizeof *names.v, cmp_str);
  for (size_t i = 0; i < names.n; i++) {
    struct stat sb;
    if (st == BFD_OK && stat(names.v[i], &sb) == 0) {
      if (S_ISDIR(sb.st_mode)) st = expand_dir(names.v[i], out);
      else if (S_ISREG(sb.st_mode) && kind_of(names.v[i])) {
        st = push(out, names.v[i]);
        names.v[i] = NULL;
      }
    }
    free(names.v[i]);
  }
  free(names.v);
  return st;
}

static bfd_status collect_inputs(bfdi_packer *p, const char *const *inputs, size_t n) {
  strvec files = {0};
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < n && st == BFD_OK; i++) {
    struct stat sb;
    if (stat(inputs[i], &sb) != 0) {
      st = bfdi_fail_errno(errno, "%s: cannot read the input", inputs[i]);
    } else if (S_ISDIR(sb.st_mode)) {
      size_t before = files.n;
      st = expand_dir(inputs[i], &files);
      if (st == BFD_OK && files.n == before)
        st = bfdi_fail(BFD_ERR_INVALID_ARG, "%s: no FASTA/FASTQ, TIFF, PNG, NIfTI or HDF5 files in this directory",
                       inputs[i]);
    } else if (!kind_of(inputs[i])) {
      st = bfdi_fail(BFD_ERR_INVALID_ARG,
                     "%s: unknown input type; expected FASTA/FASTQ (.fa .fasta .fna .faa .fq .fastq, optionally "
                     ".gz/.bgz) or images (.tif .tiff .png .nii .nii.gz .h5 .hdf5)",
                     inputs[i]);
    } else {
      st = push(&files, strdup(inputs[i]));
    }
  }
  if (st == BFD_OK && files.n == 0) st = bfdi_fail(BFD_ERR_INVALID_ARG, "pack: no inputs given");
  if (st == BFD_OK) {
    p->kind = kind_of(files.v[0]);
    for (size_t i = 1; i < files.n && st == BFD_OK; i++)
      if (kind_of(files.v[i]) != p->kind)
        st = bfdi_fail(BFD_ERR_INVALID_ARG, "%s and %s: sequences and images cannot go in one dataset; pack them "
                       "into separate output directories", files.v[0], files.v[i]);
  }
  if (st == BFD_OK) {
    p->inputs = calloc(files.n, sizeof *p->inputs);
    if (!p->inputs) st = bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  }
  if (st == BFD_OK) {
    p->n_inputs = files.n;
    for (size_t i = 0; i < files.n; i++) {
      p->inputs[i].path = files.v[i];
      files.v[i] = NULL;
    }
    /* Provenance wants every input's hash; reading the files now also warms
     * the page cache for the parse that follows. */
    int failed = 0;
    char err[2048] = "";
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < p->n_inputs; i++) {
      if (bfdi_hash_file(p->inputs[i].path, p->inputs[i].hash, &p->inputs[i].size) != BFD_OK) {
#pragma omp critical
        if (!failed) {
          failed = 1;
          snprintf(err, sizeof err, "%s", bfd_last_error());
        }
      }
    }
    if (failed) st = bfdi_fail(BFD_ERR_IO, "%s", err);
  }
  for (size_t i = 0; i < files.n; i++) free(files.v[i]);
  free(files.v);
  return st;
}

static cJSON *options_json(const bfd_pack_options *o, bfd_kind kind) {
  static const char *const inv[] = {"error", "replace", "drop"};
  cJSON *j = cJSON_CreateObject();
  if (kind == BFD_KIND_SEQUENCE) {
    cJSON_AddStringToObject(j, "alphabet", bfd_alphabet_name(o->alphabet));
    cJSON_AddStringToObject(j, "invalid", inv[o->on_invalid]);
    cJSON_AddNumberToObject(j, "min_length", (double)o->min_length);
    cJSON_AddNumberToObject(j, "max_length", (double)o->max_length);
  } else {
    cJSON_AddNumberToObject(j, "compress_level", o->compress_level);
    cJSON_AddStringToObject(j, "compression", o->compress_level > 0 ? "deflate+shuffle" : "none");
    cJSON_AddStringToObject(j, "pages_as", o->pages_as == BFD_PAGES_AS_C ? "c" : "z");
    if (o->labels) cJSON_AddStringToObject(j, "labels", o->labels);
    if (o->classes_csv) cJSON_AddStringToObject(j, "classes", o->classes_csv);
    if (o->h5_dataset) {
      cJSON_AddStringToObject(j, "h5_dataset", o->h5_dataset);
      cJSON_AddNumberToObject(j, "sample_axis", o->sample_axis);
    }
  }
  cJSON_AddNumberToObject(j, "shard_bytes", (double)o->shard_bytes);
  cJSON_AddNumberToObject(j, "records_per_shard", (double)o->records_per_shard);
  return j;
}

static cJSON *source_json(const bfdi_input *in) {
  cJSON *s = cJSON_CreateObject();
  cJSON_AddStringToObject(s, "path", in->path);
  cJSON_AddNumberToObject(s, "size", (double)in->size);
  char h[64];
  snprintf(h, sizeof h, "xxh3-128:%s", in->hash);
  cJSON_AddStringToObject(s, "hash", h);
  return s;
}

char *bfdi_provenance(const bfdi_packer *p, const size_t *inputs, size_t n) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "tool", "biofeed " BFD_VERSION_STRING);
  cJSON *src = cJSON_AddArrayToObject(j, "sources");
  for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(src, source_json(&p->inputs[inputs[i]]));
  cJSON_AddItemToObject(j, "options", cJSON_Parse(p->options_json));
  char *s = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  return s;
}

void bfdi_progress(bfdi_packer *p, uint64_t current_input_bytes, int force) {
  if (!p->o->progress) return;
  double t = bfdi_now();
  if (!force && t - p->last_progress < 0.25) return;
  p->last_progress = t;
  uint64_t total = 0;
  for (size_t i = 0; i < p->n_inputs; i++) total += p->inputs[i].size;
  pthread_mutex_lock(&p->mu);
  bfd_pack_progress pr = {p->sum.records, p->bytes_done + current_input_bytes, total, p->sum.shards, t - p->t0};
  pthread_mutex_unlock(&p->mu);
  p->o->progress(&pr, p->o->progress_user);
}

/* The pid in a name ".NAME.<tag>.PID", if that process is gone; else 0. */
static long dead_pid(const char *name, const char *tag, size_t *name_len) {
  const char *t = strstr(name, tag);
  if (name[0] != '.' || !t) return 0;
  long pid = strtol(t + strlen(tag), NULL, 10);
  if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) return 0;
  *name_len = (size_t)(t - name - 1);
  return pid;
}

/* Leftovers of a pack that was killed. Temporaries (".NAME.tmp.PID") are
 * removed. Backups (".NAME.old.PID") are the previous dataset, moved aside
 * during a commit: if that commit never placed its manifest they are put
 * back, which restores the previous dataset; otherwise they are removed.
 * Files of a pack still running (its pid alive) are left alone. */
static void recover_dir(const char *dir) {
  char *manifest = bfdi_path_join(dir, "manifest.json");
  int have_manifest = manifest && access(manifest, F_OK) == 0;
  free(manifest);
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = 0;
    char *full = NULL, *orig = NULL;
    if (dead_pid(e->d_name, ".tmp.", &n)) {
      full = bfdi_path_join(dir, e->d_name);
      if (full) unlink(full);
    } else if (dead_pid(e->d_name, ".old.", &n)) {
      full = bfdi_path_join(dir, e->d_name);
      char *name = strndup(e->d_name + 1, n);
      orig = name ? bfdi_path_join(dir, name) : NULL;
      free(name);
      if (full && orig && !have_manifest && rename(full, orig) == 0)
        bfdi_log(BFD_LOG_WARN, "restored %s from an interrupted pack", orig);
      else if (full)
        unlink(full);
    }
    free(full);
    free(orig);
  }
  closedir(d);
}

static int is_shard_name(const char *n) {
  return (!strncmp(n, "seq-", 4) || !strncmp(n, "img-g", 5)) && ends_with(n, ".h5");
}

/* After the new manifest is in place, shards of an earlier pack that it no
 * longer lists would only confuse: remove those (our names only). */
static void remove_unlisted_shards(const bfdi_packer *p) {
  DIR *d = opendir(p->o->out_dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!is_shard_name(e->d_name)) continue;
    int listed = 0;
    for (size_t i = 0; i < p->n_shards && !listed; i++) listed = !strcmp(p->shards[i].name, e->d_name);
    if (listed) continue;
    char *full = bfdi_path_join(p->o->out_dir, e->d_name);
    if (full && unlink(full) == 0) bfdi_log(BFD_LOG_INFO, "removed %s: not part of the new pack", full);
    free(full);
  }
  closedir(d);
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const bfdi_shard_entry *)a)->name, ((const bfdi_shard_entry *)b)->name);
}

static bfd_status write_manifest(bfdi_packer *p, const char *tmp) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddNumberToObject(m, "biofeed_manifest", 1);
  cJSON_AddNumberToObject(m, "format", BFD_FORMAT_VERSION);
  cJSON_AddStringToObject(m, "kind", p->kind == BFD_KIND_SEQUENCE ? "sequence" : "image");
  cJSON_AddStringToObject(m, "tool_version", "biofeed " BFD_VERSION_STRING);
  cJSON_AddStringToObject(m, "command", p->o->command_line ? p->o->command_line : "bfd_pack()");
  cJSON_AddStringToObject(m, "access", p->key ? "restricted" : "open");
  if (p->key) cJSON_AddStringToObject(m, "key_id", p->key->id);
  cJSON_AddItemToObject(m, "options", cJSON_Parse(p->options_json));
  cJSON *schema = cJSON_AddObjectToObject(m, "schema");
  if (p->kind == BFD_KIND_SEQUENCE) {
    cJSON_AddStringToObject(schema, "alphabet", bfd_alphabet_name(p->o->alphabet));
    cJSON_AddBoolToObject(schema, "quality", p->seq_quality);
  } else {
    cJSON_AddItemToObject(schema, "groups", cJSON_CreateArray());
  }
  cJSON *tot = cJSON_AddObjectToObject(m, "totals");
  cJSON_AddNumberToObject(tot, "records", (double)p->sum.records);
  cJSON_AddNumberToObject(tot, "record_bytes", (double)p->sum.bytes_records);
  cJSON_AddNumberToObject(tot, "shards", (double)p->n_shards);
  cJSON *src = cJSON_AddArrayToObject(m, "sources");
  for (size_t i = 0; i < p->n_inputs; i++) cJSON_AddItemToArray(src, source_json(&p->inputs[i]));
  cJSON *sh = cJSON_AddArrayToObject(m, "shards");
  for (size_t i = 0; i < p->n_shards; i++) {
    const bfdi_shard_entry *e = &p->shards[i];
    cJSON *o = cJSON_CreateObject();
    char h[64];
    snprintf(h, sizeof h, "xxh3-128:%s", e->hash);
    cJSON_AddStringToObject(o, "path", e->name);
    cJSON_AddNumberToObject(o, "size", (double)e->size);
    cJSON_AddNumberToObject(o, "records", (double)e->records);
    cJSON_AddStringToObject(o, "hash", h);
    if (p->kind == BFD_KIND_IMAGE) cJSON_AddNumberToObject(o, "group", e->group);
    cJSON_AddItemToArray(sh, o);
  }
  if (p->kind == BFD_KIND_IMAGE) bfdi_pack_image_schema(p, cJSON_GetObjectItem(schema, "groups"));
  char *text = cJSON_Print(m);
  cJSON_Delete(m);
  if (!text) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for manifest.json");
  size_t n = strlen(text);
  text[n] = '\n';
  bfd_status st = bfdi_write_new_file(tmp, text, n + 1);
  free(text);
  return st;
}

/* One file replaced during commit: where the old one went, whether the new
 * one is in place yet. */
typedef struct swap {
  char *final, *backup;
  int placed;
} swap;

/* Moves an existing file aside as ".NAME.old.PID". */
static bfd_status back_up(const char *dir, const char *name, swap *sw) {
  char bname[512];
  snprintf(bname, sizeof bname, ".%s.old.%ld", name, (long)getpid());
  sw->final = bfdi_path_join(dir, name);
  if (!sw->final) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  struct stat sb;
  if (lstat(sw->final, &sb) != 0) return BFD_OK;
  if (!S_ISREG(sb.st_mode))
    return bfdi_fail(BFD_ERR_IO, "%s: is in the way of a shard and is not a file; move it out of %s", sw->final,
                     dir);
  sw->backup = bfdi_path_join(dir, bname);
  if (!sw->backup) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  bfd_status st = bfdi_rename(sw->final, sw->backup);
  if (st != BFD_OK) {
    free(sw->backup);
    sw->backup = NULL;
  }
  return st;
}

/* Publishes the pack. The previous manifest and every file about to be
 * replaced are first moved aside, so that at no moment does a manifest list
 * a shard it did not write; on any failure the new files are removed and
 * the old ones put back. A crash midway leaves no manifest (nothing looks
 * complete) and the next pack in this directory restores the old one. */
static bfd_status commit(bfdi_packer *p) {
  const char *dir = p->o->out_dir;
  qsort(p->shards, p->n_shards, sizeof *p->shards, cmp_entry);
  char tmp_name[64];
  snprintf(tmp_name, sizeof tmp_name, ".manifest.json.tmp.%ld", (long)getpid());
  char *tmp = bfdi_path_join(dir, tmp_name);
  size_t n = p->n_shards + 1; /* the shards, then manifest.json */
  swap *sw = calloc(n, sizeof *sw);
  bfd_status st = tmp && sw ? write_manifest(p, tmp) : bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  if (st == BFD_OK) st = back_up(dir, "manifest.json", &sw[n - 1]);
  for (size_t i = 0; i + 1 < n && st == BFD_OK; i++) st = back_up(dir, p->shards[i].name, &sw[i]);
  for (size_t i = 0; i + 1 < n && st == BFD_OK; i++) {
    st = bfdi_rename(p->shards[i].tmp_path, sw[i].final);
    if (st == BFD_OK) {
      sw[i].placed = 1;
      free(p->shards[i].tmp_path);
      p->shards[i].tmp_path = NULL;
    }
  }
  if (st == BFD_OK) {
    st = bfdi_rename(tmp, sw[n - 1].final);
    sw[n - 1].placed = st == BFD_OK;
  }
  if (st == BFD_OK) st = bfdi_fsync_dir(dir);
  if (st != BFD_OK && tmp) unlink(tmp);
  for (size_t i = 0; sw && i < n; i++) {
    if (st != BFD_OK && sw[i].placed) unlink(sw[i].final);
    if (sw[i].backup) {
      if (st == BFD_OK) unlink(sw[i].backup);
      else rename(sw[i].backup, sw[i].final);
    }
    free(sw[i].final);
    free(sw[i].backup);
  }
  free(sw);
  free(tmp);
  if (st == BFD_OK) remove_unlisted_shards(p);
  return st;
}

static void packer_free(bfdi_packer *p) {
  for (size_t i = 0; i < p->n_shards; i++) {
    if (p->shards[i].tmp_path) unlink(p->shards[i].tmp_path);
    free(p->shards[i].tmp_path);
    free(p->shards[i].name);
  }
  free(p->shards);
  for (size_t i = 0; i < p->n_inputs; i++) free(p->inputs[i].path);
  free(p->inputs);
  free(p->options_json);
  bfdi_pack_image_free(p);
  bfdi_key_free(p->key);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
}

static bfd_status check_options(const bfd_pack_options *o) {
  if (!o->out_dir || !o->out_dir[0]) return bfdi_fail(BFD_ERR_INVALID_ARG, "pack: no output directory (-o DIR)");
  if (o->alphabet > BFD_ALPHABET_PROTEIN) return bfdi_fail(BFD_ERR_INVALID_ARG, "pack: alphabet %d unknown", o->alphabet);
  if (o->on_invalid > BFD_INVALID_DROP)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "pack: invalid-character policy %d unknown", o->on_invalid);
  if (o->compress_level < 0 || o->compress_level > 12)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "pack: compression level %d is outside 0..12", o->compress_level);
  if (o->shard_bytes == 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "pack: shard size must be > 0");
  if (o->max_length && o->max_length < o->min_length)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "pack: max length %llu is below min length %llu",
                     (unsigned long long)o->max_length, (unsigned long long)o->min_length);
  return BFD_OK;
}

bfd_status bfd_pack(const bfd_pack_options *o, const char *const *inputs, size_t n_inputs,
                    bfd_pack_summary *summary) {
  if (!o || (!inputs && n_inputs)) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_pack: NULL options or inputs");
  BFD_TRY(check_options(o));
  bfdi_packer p;
  memset(&p, 0, sizeof p);
  p.o = o;
  p.t0 = bfdi_now();
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  bfd_status st = o->key_file ? bfdi_key_load(o->key_file, "the pack's key file", &p.key) : BFD_OK;
  if (st == BFD_OK) st = collect_inputs(&p, inputs, n_inputs);
  if (st == BFD_OK) st = bfdi_mkdir_p(o->out_dir);
  if (st == BFD_OK && access(o->out_dir, W_OK) != 0)
    st = bfdi_fail_errno(errno, "%s: output directory is not writable (choose another -o)", o->out_dir);
  if (st == BFD_OK) {
    recover_dir(o->out_dir);
    cJSON *oj = options_json(o, p.kind);
    p.options_json = cJSON_PrintUnformatted(oj);
    cJSON_Delete(oj);
    if (!p.options_json) st = bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  }
  if (st == BFD_OK) st = bfdi_writer_start(&p);
  if (st == BFD_OK) {
    p.sum.kind = p.kind;
    for (size_t i = 0; i < p.n_inputs; i++) p.sum.bytes_in += p.inputs[i].size;
    st = p.kind == BFD_KIND_SEQUENCE ? bfdi_pack_sequences(&p) : bfdi_pack_images(&p);
  }
  char err[2048];
  snprintf(err, sizeof err, "%s", bfd_last_error());
  bfd_status wst = bfdi_writer_finish(&p);
  if (st != BFD_OK) bfdi_fail(st, "%s", err);
  else st = wst;
  if (st == BFD_OK && p.sum.records == 0)
    st = bfdi_fail(BFD_ERR_INVALID_ARG, "pack: no records left to write (%llu dropped for length, %llu for invalid "
                   "characters); nothing was written",
                   (unsigned long long)p.sum.dropped_length, (unsigned long long)p.sum.dropped_invalid);
  if (st == BFD_OK) st = commit(&p);
  p.sum.elapsed_s = bfdi_now() - p.t0;
  if (st == BFD_OK) bfdi_progress(&p, 0, 1);
  if (summary) *summary = p.sum;
  packer_free(&p);
  return st;
}

bfd_status bfd_keygen(const char *path, char key_id[24]) {
  if (!path || !key_id) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_keygen: path and key_id must not be NULL");
  char id[BFDI_KEY_ID_HEX];
  BFD_TRY(bfdi_key_generate(path, id));
  snprintf(key_id, 24, "%s", id);
  return BFD_OK;
}
