/* `biofeed run`: streams a job config's batches through the loader, as a
 * training job would, with a live progress line (stderr, when a terminal)
 * and a summary: time to first batch, throughput, and per-stage busy and
 * stall times naming the bottleneck, and the corrupt records skipped (with
 * on_corrupt: skip). Optionally writes the first batches as
 * .npy files (--dump) and a preview of the first batch's images (--preview). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "biofeed/loader.h"
#include "cli/cli.h"

#define MAX_STAGES 16
#define PROGRESS_EVERY_S 0.25

static void help(FILE *f) {
  fprintf(f,
          "usage: biofeed run CONFIG [options]\n"
          "\n"
          "Streams the batches of a job config (configs/*.yaml) and reports time to first batch, throughput\n"
          "and which pipeline stage is the bottleneck. Runs one epoch unless told otherwise.\n"
          "\n"
          "      --epochs E         run E epochs (default 1)\n"
          "      --steps N          stop after N batches (across epochs unless --epochs is given too)\n"
          "      --dump K DIR       write the first K batches as NumPy files DIR/batch-00000-<output>.npy\n"
          "                         (DIR is created; bfloat16 outputs are written as float32)\n"
          "      --preview FILE.png write the first batch's images (first channel, middle Z slice, min-max\n"
          "                         scaled) in a grid of up to %d tiles with label outlines in colour\n"
          "      --allow-restricted-output\n"
          "                         let --dump and --preview write batches of restricted (encrypted) data,\n"
          "                         decrypted, to disk; without it they refuse such jobs\n"
          "  -q, --quiet            no progress line\n"
          "\n"
          "Throughput counts the batches after the first over the time since the first. Samples leave out\n"
          "padding rows and tokens are the real (unpadded) ones when batches are in host memory; for GPU\n"
          "batches both include padding, marked \"(padded)\".\n"
          "--dump and --preview need batches in host memory (device: cpu).\n",
          BFD_CLI_PREVIEW_MAX);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int parse_count(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-') return 0;
  *out = v;
  return 1;
}

static int bad(const char *opt, const char *val, const char *want) {
  fprintf(stderr, "biofeed run: error: %s '%s': expected %s\n", opt, val, want);
  return 2;
}

static int mkdir_p(const char *dir) {
  char *p = strdup(dir);
  if (!p) return ENOMEM;
  int err = 0;
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s) continue;
    char c = *s;
    *s = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      err = errno;
      break;
    }
    *s = c;
    if (!c) break;
  }
  free(p);
  if (!err) {
    struct stat st;
    if (stat(dir, &st) != 0) err = errno;
    else if (!S_ISDIR(st.st_mode)) err = ENOTDIR;
  }
  return err;
}

/* The stage that limits throughput: the one busy for the largest share of
 * its time (the others wait on it). When the last stage spends a larger
 * share waiting for room downstream than any stage spends busy, the
 * consumer is what is slow. */
static const char *bottleneck(const bfd_stage_stats *st, size_t n, double *share) {
  const char *name = "-";
  double best = -1, longest = 0;
  for (size_t i = 0; i < n; i++) {
    double total = st[i].busy_s + st[i].wait_in_s + st[i].wait_out_s;
    if (total > longest) longest = total;
  }
  for (size_t i = 0; i < n; i++) {
    double total = st[i].busy_s + st[i].wait_in_s + st[i].wait_out_s;
    /* A stage that runs inline on its neighbour's thread (upload and batch
     * on the CPU backend) accounts almost no time: its share says nothing. */
    if (total <= 0.01 * longest) continue;
    double s = st[i].busy_s / total;
    if (s > best) {
      best = s;
      name = st[i].name ? st[i].name : "?";
    }
  }
  if (n > 0) {
    const bfd_stage_stats *last = &st[n - 1];
    double total = last->busy_s + last->wait_in_s + last->wait_out_s;
    if (total > 0 && last->wait_out_s / total > best) {
      best = last->wait_out_s / total;
      name = "consumer";
    }
  }
  *share = best < 0 ? 0 : best;
  return name;
}

static void stats_delta(const bfd_stage_stats *a, const bfd_stage_stats *b, bfd_stage_stats *d, size_t n) {
  for (size_t i = 0; i < n; i++) {
    d[i] = a[i];
    d[i].busy_s -= b[i].busy_s;
    d[i].wait_in_s -= b[i].wait_in_s;
    d[i].wait_out_s -= b[i].wait_out_s;
  }
}

/* "12.3k" style numbers for the progress line and summary. */
static const char *human(double v, char *buf, size_t cap) {
  if (v >= 1e9) snprintf(buf, cap, "%.2fG", v / 1e9);
  else if (v >= 1e6) snprintf(buf, cap, "%.2fM", v / 1e6);
  else if (v >= 1e4) snprintf(buf, cap, "%.1fk", v / 1e3);
  else snprintf(buf, cap, "%.1f", v);
  return buf;
}

typedef struct totals {
  uint64_t batches, samples, bytes, tokens;
  uint64_t first_samples, first_bytes, first_tokens; /* of the first batch, left out of rates */
  int has_tokens, padded_tokens, padded_samples;
  double t_open, t_first, t_last;
} totals;

/* Counts one batch: samples (valid rows), bytes of all outputs, tokens. */
static bfd_status count_batch(bfd_batch *b, totals *t) {
  bfd_batch_info info;
  bfd_status s = bfd_batch_info_get(b, &info);
  if (s != BFD_OK) return s;
  uint64_t samples = info.samples, bytes = 0, lengths_sum = 0, ids_numel = 0;
  int have_lengths = 0, have_ids = 0;
  for (size_t i = 0; i < info.n_outputs; i++) {
    const char *name;
    DLManagedTensor *m;
    if ((s = bfd_batch_output(b, i, &name, &m)) != BFD_OK) return s;
    const DLTensor *x = &m->dl_tensor;
    bytes += bfd_cli_tensor_numel(x) * bfd_cli_tensor_elsize(x);
    int host = bfd_cli_tensor_host(x);
    if (!strcmp(name, "valid")) {
      if (host) samples = (uint64_t)bfd_cli_tensor_sum(x);
      else t->padded_samples = 1;
    }
    if (!strcmp(name, "lengths") && host) {
      lengths_sum = (uint64_t)bfd_cli_tensor_sum(x);
      have_lengths = 1;
    }
    if (!strcmp(name, "ids")) {
      ids_numel = bfd_cli_tensor_numel(x);
      have_ids = 1;
    }
    if (m->deleter) m->deleter(m);
  }
  /* Real tokens when the lengths can be read here, else the padded count. */
  uint64_t tokens = have_lengths ? lengths_sum : ids_numel;
  t->has_tokens |= have_lengths || have_ids;
  t->padded_tokens |= !have_lengths && have_ids;
  if (t->batches == 0) {
    t->first_samples = samples;
    t->first_bytes = bytes;
    t->first_tokens = tokens;
  }
  t->batches++;
  t->samples += samples;
  t->bytes += bytes;
  t->tokens += tokens;
  return BFD_OK;
}

/* Samples, bytes and tokens per second after the first batch. */
static void rates(const totals *t, double now, double *sps, double *mbs, double *tps) {
  double dt = now - t->t_first;
  if (t->batches < 2 || dt <= 0) {
    dt = now - t->t_open;
    *sps = dt > 0 ? (double)t->samples / dt : 0;
    *mbs = dt > 0 ? (double)t->bytes / 1e6 / dt : 0;
    *tps = dt > 0 ? (double)t->tokens / dt : 0;
    return;
  }
  *sps = (double)(t->samples - t->first_samples) / dt;
  *mbs = (double)(t->bytes - t->first_bytes) / 1e6 / dt;
  *tps = (double)(t->tokens - t->first_tokens) / dt;
}

/* Batch k's outputs as .npy files in dump_dir and/or, for the first batch, the preview. */
static int write_batch(bfd_batch *b, uint64_t k, const char *dump_dir, const char *preview) {
  bfd_batch_info info;
  bfd_status s = bfd_batch_info_get(b, &info);
  if (s != BFD_OK) return bfd_cli_fail("run", s);
  if (info.device == kDLCUDA) {
    fprintf(stderr, "biofeed run: error: --dump and --preview need batches in host memory, and this config's "
            "are on cuda:%d; set `device: cpu` in the config\n", info.device_id);
    return 2;
  }
  DLManagedTensor *img = NULL, *lab = NULL, *valid = NULL;
  int rc = 0;
  for (size_t i = 0; i < info.n_outputs && rc == 0; i++) {
    const char *name;
    DLManagedTensor *m;
    if ((s = bfd_batch_output(b, i, &name, &m)) != BFD_OK) {
      rc = bfd_cli_fail("run", s);
      break;
    }
    if (dump_dir) {
      size_t n = strlen(dump_dir) + strlen(name) + 48;
      char *path = malloc(n);
      if (!path) {
        fprintf(stderr, "biofeed run: error: out of memory\n");
        rc = 2;
      } else {
        snprintf(path, n, "%s/batch-%05llu-%s.npy", dump_dir, (unsigned long long)k, name);
        rc = bfd_cli_write_npy(path, &m->dl_tensor);
        free(path);
      }
    }
    DLManagedTensor **keep = !preview ? NULL
                             : !strcmp(name, "image") ? &img
                             : !strcmp(name, "label") ? &lab
                             : !strcmp(name, "valid") ? &valid
                                                      : NULL;
    if (keep && !*keep) *keep = m;
    else if (m->deleter) m->deleter(m);
  }
  if (rc == 0 && preview) {
    if (!img) {
      fprintf(stderr, "biofeed run: error: --preview needs image batches; this config's have no \"image\" output\n");
      rc = 2;
    } else {
      rc = bfd_cli_preview(preview, &img->dl_tensor, lab ? &lab->dl_tensor : NULL, valid ? &valid->dl_tensor : NULL);
    }
  }
  DLManagedTensor *held[] = {img, lab, valid};
  for (size_t i = 0; i < 3; i++)
    if (held[i] && held[i]->deleter) held[i]->deleter(held[i]);
  return rc;
}

static void progress(const bfd_loader *l, const totals *t, uint64_t target, uint32_t epoch, bfd_stage_stats *prev,
                     size_t *nprev) {
  bfd_stage_stats cur[MAX_STAGES], d[MAX_STAGES];
  size_t n = 0;
  const char *who = "-";
  double share = 0;
  if (bfd_loader_stats(l, cur, MAX_STAGES, &n) == BFD_OK) {
    if (n > MAX_STAGES) n = MAX_STAGES;
    if (*nprev == n) {
      stats_delta(cur, prev, d, n);
      who = bottleneck(d, n, &share);
    } else {
      who = bottleneck(cur, n, &share);
    }
    memcpy(prev, cur, n * sizeof *cur);
    *nprev = n;
  }
  double sps, mbs, tps;
  rates(t, now_s(), &sps, &mbs, &tps);
  char a[32], c[32];
  fprintf(stderr, "\r\033[K%llu/%llu batches  epoch %u  %s samples/s  %.1f MB/s", (unsigned long long)t->batches,
          (unsigned long long)target, epoch, human(sps, a, sizeof a), mbs);
  if (t->has_tokens) fprintf(stderr, "  %s tokens/s", human(tps, c, sizeof c));
  fprintf(stderr, "  bottleneck: %s (%.0f%%)", who, share * 100);
  fflush(stderr);
}

static void summary(const char *config, const bfd_loader *l, const totals *t, uint32_t epochs_run) {
  double sps, mbs, tps;
  rates(t, t->t_last, &sps, &mbs, &tps);
  char a[32], c[32];
  printf("run %s: %llu batches, %llu samples, %u epoch(s) started, %.2f s\n", config, (unsigned long long)t->batches,
         (unsigned long long)t->samples, epochs_run, t->t_last - t->t_open);
  printf("time to first batch: %.3f s\n", t->t_first - t->t_open);
  printf("throughput: %s samples/s%s, %.1f MB/s, ", human(sps, a, sizeof a), t->padded_samples ? " (padded)" : "",
         mbs);
  if (t->has_tokens) printf("%s tokens/s%s\n", human(tps, c, sizeof c), t->padded_tokens ? " (padded)" : "");
  else printf("- tokens/s\n");
  bfd_stage_stats st[MAX_STAGES];
  size_t n = 0;
  if (bfd_loader_stats(l, st, MAX_STAGES, &n) != BFD_OK) {
    printf("stages: unavailable (%s)\n", bfd_last_error());
    return;
  }
  if (n > MAX_STAGES) n = MAX_STAGES;
  printf("%-8s %9s %9s %9s %6s %10s %12s\n", "stage", "busy s", "wait-in", "wait-out", "busy%", "MB", "records");
  double longest = 0;
  for (size_t i = 0; i < n; i++) {
    double total = st[i].busy_s + st[i].wait_in_s + st[i].wait_out_s;
    if (total > longest) longest = total;
  }
  for (size_t i = 0; i < n; i++) {
    double total = st[i].busy_s + st[i].wait_in_s + st[i].wait_out_s;
    char pct[16] = "     -"; /* inline stages account almost no time of their own */
    if (total > 0.01 * longest) snprintf(pct, sizeof pct, "%5.0f%%", 100 * st[i].busy_s / total);
    printf("%-8s %9.3f %9.3f %9.3f %s %10.1f %12llu\n", st[i].name ? st[i].name : "?", st[i].busy_s,
           st[i].wait_in_s, st[i].wait_out_s, pct, (double)st[i].bytes / 1e6, (unsigned long long)st[i].records);
  }
  double share;
  const char *who = bottleneck(st, n, &share);
  printf("bottleneck: %s (%.0f%% of its time %s)\n", who, share * 100,
         strcmp(who, "consumer") ? "busy" : "waiting for the consumer");
  bfd_fault_stats fs;
  if (bfd_loader_faults(l, &fs) == BFD_OK && fs.records_skipped)
    printf("on_corrupt: skip: %llu corrupt record(s) skipped, %llu row(s) replaced; the last: %s record %llu at "
           "byte offset %llu (check it with `biofeed verify`)\n", (unsigned long long)fs.records_skipped,
           (unsigned long long)fs.rows_replaced, fs.last_shard, (unsigned long long)fs.last_record,
           (unsigned long long)fs.last_offset);
}

int bfd_cli_run(int argc, char **argv) {
  enum { STEPS = 256, EPOCHS, DUMP, PREVIEW, ALLOW };
  static const struct option longopts[] = {{"steps", required_argument, 0, STEPS},
                                           {"epochs", required_argument, 0, EPOCHS},
                                           {"dump", required_argument, 0, DUMP},
                                           {"preview", required_argument, 0, PREVIEW},
                                           {"allow-restricted-output", no_argument, 0, ALLOW},
                                           {"quiet", no_argument, 0, 'q'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  uint64_t steps = 0, epochs = 1, dump_k = 0;
  int have_steps = 0, have_epochs = 0, quiet = 0, allow_restricted = 0;
  const char *dump_dir = NULL, *preview = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
    switch (c) {
      case STEPS:
        if (!parse_count(optarg, &steps) || !steps) return bad("--steps", optarg, "a positive integer");
        have_steps = 1;
        break;
      case EPOCHS:
        if (!parse_count(optarg, &epochs) || !epochs) return bad("--epochs", optarg, "a positive integer");
        have_epochs = 1;
        break;
      case DUMP:
        if (!parse_count(optarg, &dump_k) || !dump_k) return bad("--dump", optarg, "a positive number of batches");
        if (optind >= argc) {
          fprintf(stderr, "biofeed run: error: --dump K DIR: DIR is missing\n");
          return 2;
        }
        dump_dir = argv[optind++];
        break;
      case PREVIEW: preview = optarg; break;
      case ALLOW: allow_restricted = 1; break;
      case 'q': quiet = 1; break;
      case 'h': help(stdout); return 0;
      default: help(stderr); return 2;
    }
  }
  if (argc - optind != 1) {
    fprintf(stderr, "biofeed run: error: %s\n", optind >= argc ? "no CONFIG given" : "more than one CONFIG given");
    help(stderr);
    return 2;
  }
  const char *config = argv[optind];
  if (dump_dir) {
    int err = mkdir_p(dump_dir);
    if (err) {
      fprintf(stderr, "biofeed run: error: --dump: cannot create directory %s: %s\n", dump_dir, strerror(err));
      return 2;
    }
  }
  /* --steps alone may cross epochs; with --epochs the lower bound wins. */
  uint64_t max_epochs = have_steps && !have_epochs ? UINT64_MAX : epochs;

  totals t = {0};
  t.t_open = now_s();
  bfd_loader *l;
  bfd_status s = bfd_loader_open(config, NULL, &l);
  if (s != BFD_OK) return bfd_cli_fail("run", s);
  /* Decrypted bytes never reach the disk unless the user says so. */
  const char *restricted = NULL;
  bfd_loader_restricted(l, &restricted);
  if (restricted && (dump_dir || preview) && !allow_restricted) {
    fprintf(stderr, "biofeed run: error: %s is restricted (encrypted) data: %s would write it decrypted to disk, so "
            "it is refused; add --allow-restricted-output to write it anyway (only to storage cleared for this "
            "data)\n", restricted, dump_dir && preview ? "--dump and --preview" : dump_dir ? "--dump" : "--preview");
    bfd_loader_close(l);
    return 2;
  }
  uint64_t spe = 0;
  if ((s = bfd_loader_steps_per_epoch(l, &spe)) != BFD_OK) {
    int rc = bfd_cli_fail("run", s);
    bfd_loader_close(l);
    return rc;
  }
  if (spe == 0) {
    fprintf(stderr, "biofeed run: error: %s yields no batches (0 steps per epoch): the datasets hold fewer samples "
            "than one batch per rank; lower batch_size or set sampling.drop_last: false\n", config);
    bfd_loader_close(l);
    return 1;
  }
  uint64_t target = have_steps ? steps : 0;
  if (max_epochs != UINT64_MAX && (!have_steps || spe * max_epochs < steps)) target = spe * max_epochs;

  int tty = !quiet && isatty(2);
  bfd_stage_stats prev[MAX_STAGES];
  size_t nprev = 0;
  double last_progress = 0;
  uint32_t epoch = 0, epochs_started = 0;
  uint64_t in_epoch = 0;
  int rc = 0;
  while (t.batches < target) {
    bfd_batch *b = NULL;
    if ((s = bfd_loader_next(l, &b)) != BFD_OK) {
      rc = bfd_cli_fail("run", s);
      break;
    }
    if (!b) {
      if (in_epoch == 0) {
        fprintf(stderr, "biofeed run: error: an epoch ended without a batch although %llu steps per epoch were "
                "announced; please report this\n", (unsigned long long)spe);
        rc = 2;
        break;
      }
      in_epoch = 0;
      continue;
    }
    if (in_epoch++ == 0) epochs_started++;
    bfd_batch_info info;
    if ((s = bfd_batch_info_get(b, &info)) == BFD_OK) {
      epoch = info.epoch;
      s = count_batch(b, &t);
    }
    if (s != BFD_OK) {
      rc = bfd_cli_fail("run", s);
      bfd_batch_release(b);
      break;
    }
    t.t_last = now_s();
    if (t.batches == 1) t.t_first = t.t_last;
    if ((dump_dir && t.batches <= dump_k) || (preview && t.batches == 1))
      rc = write_batch(b, t.batches - 1, dump_dir && t.batches <= dump_k ? dump_dir : NULL,
                       t.batches == 1 ? preview : NULL);
    if ((s = bfd_batch_release(b)) != BFD_OK && rc == 0) rc = bfd_cli_fail("run", s);
    if (rc) break;
    if (tty && t.t_last - last_progress >= PROGRESS_EVERY_S) {
      progress(l, &t, target, epoch, prev, &nprev);
      last_progress = t.t_last;
    }
  }
  if (tty) fprintf(stderr, "\r\033[K");
  if (rc == 0) {
    if (t.batches == 0) t.t_first = t.t_last = now_s();
    summary(config, l, &t, epochs_started);
  }
  if ((s = bfd_loader_close(l)) != BFD_OK && rc == 0) rc = bfd_cli_fail("run", s);
  return rc;
}
