/* `biofeed pack`: command-line options onto bfd_pack_options, a progress line
 * when stderr is a terminal, and a summary at the end. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "biofeed/pack.h"
#include "cli/cli.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: biofeed pack -o OUTDIR [options] INPUT...\n"
          "\n"
          "INPUT: files or directories of FASTA/FASTQ (.fa .fasta .fna .faa .fq .fastq, plain, .gz or BGZF)\n"
          "       or images (.tif .tiff .png .nii .nii.gz .h5 .hdf5); one kind per output directory.\n"
          "\n"
          "  -o, --out DIR             output directory (created; shards + manifest.json)\n"
          "      --shard-size SIZE     record bytes per shard, e.g. 256M (default), 1G\n"
          "      --records-per-shard N at most N records per shard\n"
          "sequences:\n"
          "      --alphabet A          dna | rna | protein | any (default any)\n"
          "      --invalid P           error (default) | replace (N, or X for protein) | drop\n"
          "      --min-length N        drop records shorter than N\n"
          "      --max-length N        drop records longer than N\n"
          "images:\n"
          "      --compress C          none (default) | deflate (with shuffle)\n"
          "      --level L             deflate level 1..12 (default 6)\n"
          "      --pages z|c           multi-page TIFF pages become Z (default) or channels\n"
          "      --labels DIR|GLOB     label masks: a directory with files of the same stem, or a\n"
          "                            pattern where '*' stands for the stem, e.g. 'masks/*_mask.png'\n"
          "      --classes CSV         lines 'stem,class' giving one integer class per image\n"
          "      --h5-dataset PATH     for HDF5 inputs: the dataset holding the images\n"
          "      --sample-axis N       for HDF5 inputs: the axis that indexes samples (default 0)\n"
          "      --restricted          encrypt every record (or image chunk) for restricted data; needs --key-file\n"
          "      --key-file K          the key (32 bytes or 64 hex digits, mode 0600; `biofeed keygen K` makes one)\n"
          "  -q, --quiet               no progress line and no summary\n");
}

static int parse_u64(const char *s, uint64_t *out, int allow_suffix) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || s[0] == '-') return 0;
  uint64_t mul = 1;
  if (allow_suffix && *end) {
    switch (*end) {
      case 'k': case 'K': mul = 1ull << 10; break;
      case 'm': case 'M': mul = 1ull << 20; break;
      case 'g': case 'G': mul = 1ull << 30; break;
      case 't': case 'T': mul = 1ull << 40; break;
      default: return 0;
    }
    end++;
    if (*end == 'i') end++;
    if (*end == 'B' || *end == 'b') end++;
  }
  if (*end || (mul > 1 && v > UINT64_MAX / mul)) return 0;
  *out = v * mul;
  return 1;
}

static void progress(const bfd_pack_progress *p, void *user) {
  double mbs = p->elapsed_s > 0 ? (double)p->bytes_in / 1e6 / p->elapsed_s : 0;
  double eta = p->bytes_in > 0 && p->bytes_total > p->bytes_in
                   ? p->elapsed_s * (double)(p->bytes_total - p->bytes_in) / (double)p->bytes_in
                   : 0;
  fprintf(stderr, "\r\033[K%llu records  %llu shards  %.1f MB/s  %.1fs elapsed  ETA %.0fs",
          (unsigned long long)p->records, (unsigned long long)p->shards, mbs, p->elapsed_s, eta);
  fflush(stderr);
}

static char *join_args(int argc, char **argv) {
  size_t n = 16;
  for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 3;
  char *s = malloc(n);
  if (!s) return NULL;
  strcpy(s, "biofeed");
  for (int i = 0; i < argc; i++) {
    strcat(s, " ");
    int quote = strpbrk(argv[i], " \t*?'\"") != NULL;
    if (quote) strcat(s, "'");
    strcat(s, argv[i]);
    if (quote) strcat(s, "'");
  }
  return s;
}

static int bad(const char *opt, const char *val, const char *want) {
  fprintf(stderr, "biofeed pack: error: %s '%s': expected %s\n", opt, val, want);
  return 2;
}

int bfd_cli_pack(int argc, char **argv) {
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  int quiet = 0, level = 6, compress = 0;
  enum { SHARD = 256, RPS, ALPHA, INVALID, MINL, MAXL, COMP, LEVEL, PAGES, LABELS, CLASSES, H5DS, AXIS, RESTR, KEYF };
  int restricted = 0;
  const char *key_file = NULL;
  static const struct option longopts[] = {
      {"out", required_argument, 0, 'o'},       {"shard-size", required_argument, 0, SHARD},
      {"records-per-shard", required_argument, 0, RPS}, {"alphabet", required_argument, 0, ALPHA},
      {"invalid", required_argument, 0, INVALID}, {"min-length", required_argument, 0, MINL},
      {"max-length", required_argument, 0, MAXL}, {"compress", required_argument, 0, COMP},
      {"level", required_argument, 0, LEVEL},   {"pages", required_argument, 0, PAGES},
      {"labels", required_argument, 0, LABELS}, {"classes", required_argument, 0, CLASSES},
      {"h5-dataset", required_argument, 0, H5DS}, {"sample-axis", required_argument, 0, AXIS},
      {"restricted", no_argument, 0, RESTR},    {"key-file", required_argument, 0, KEYF},
      {"quiet", no_argument, 0, 'q'},           {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int c;
  uint64_t v;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
    switch (c) {
      case 'o': o.out_dir = optarg; break;
      case 'q': quiet = 1; break;
      case 'h': help(stdout); return 0;
      case SHARD:
        if (!parse_u64(optarg, &o.shard_bytes, 1) || !o.shard_bytes) return bad("--shard-size", optarg, "a size like 256M");
        break;
      case RPS:
        if (!parse_u64(optarg, &o.records_per_shard, 0) || !o.records_per_shard)
          return bad("--records-per-shard", optarg, "a positive integer");
        break;
      case ALPHA:
        if (!strcmp(optarg, "dna")) o.alphabet = BFD_ALPHABET_DNA;
        else if (!strcmp(optarg, "rna")) o.alphabet = BFD_ALPHABET_RNA;
        else if (!strcmp(optarg, "protein")) o.alphabet = BFD_ALPHABET_PROTEIN;
        else if (!strcmp(optarg, "any")) o.alphabet = BFD_ALPHABET_ANY;
        else return bad("--alphabet", optarg, "dna, rna, protein or any");
        break;
      case INVALID:
        if (!strcmp(optarg, "error")) o.on_invalid = BFD_INVALID_ERROR;
        else if (!strcmp(optarg, "replace")) o.on_invalid = BFD_INVALID_REPLACE;
        else if (!strcmp(optarg, "drop")) o.on_invalid = BFD_INVALID_DROP;
        else return bad("--invalid", optarg, "error, replace or drop");
        break;
      case MINL:
        if (!parse_u64(optarg, &o.min_length, 1)) return bad("--min-length", optarg, "a length");
        break;
      case MAXL:
        if (!parse_u64(optarg, &o.max_length, 1)) return bad("--max-length", optarg, "a length");
        break;
      case COMP:
        if (!strcmp(optarg, "none")) compress = 0;
        else if (!strcmp(optarg, "deflate")) compress = 1;
        else return bad("--compress", optarg, "none or deflate");
        break;
      case LEVEL:
        if (!parse_u64(optarg, &v, 0) || v < 1 || v > 12) return bad("--level", optarg, "1..12");
        level = (int)v;
        break;
      case PAGES:
        if (!strcmp(optarg, "z")) o.pages_as = BFD_PAGES_AS_Z;
        else if (!strcmp(optarg, "c")) o.pages_as = BFD_PAGES_AS_C;
        else return bad("--pages", optarg, "z or c");
        break;
      case RESTR: restricted = 1; break;
      case KEYF: key_file = optarg; break;
      case LABELS: o.labels = optarg; break;
      case CLASSES: o.classes_csv = optarg; break;
      case H5DS: o.h5_dataset = optarg; break;
      case AXIS:
        if (!parse_u64(optarg, &v, 0) || v > 4) return bad("--sample-axis", optarg, "0..4");
        o.sample_axis = (int)v;
        break;
      default: help(stderr); return 2;
    }
  }
  if (!o.out_dir || optind >= argc) {
    fprintf(stderr, "biofeed pack: error: %s\n", !o.out_dir ? "-o OUTDIR is required" : "no INPUT given");
    help(stderr);
    return 2;
  }
  if (restricted != (key_file != NULL)) {
    fprintf(stderr, "biofeed pack: error: %s\n",
            restricted ? "--restricted needs --key-file K (make a key with `biofeed keygen K`)"
                       : "--key-file is for restricted packs: add --restricted (an open pack takes no key)");
    return 2;
  }
  o.key_file = key_file;
  o.compress_level = compress ? level : 0;
  char *cmdline = join_args(argc, argv);
  o.command_line = cmdline;
  int tty = !quiet && isatty(2);
  if (tty) o.progress = progress;
  bfd_pack_summary s;
  bfd_status st = bfd_pack(&o, (const char *const *)argv + optind, (size_t)(argc - optind), &s);
  free(cmdline);
  if (tty) fprintf(stderr, "\r\033[K");
  if (st != BFD_OK) return bfd_cli_fail("pack", st);
  if (!quiet) {
    printf("packed %llu %s into %llu shard(s) in %s: %.1f MB in, %.1f MB of records, %.1f MB written, %.2f s "
           "(%.1f MB/s)\n",
           (unsigned long long)s.records, s.kind == BFD_KIND_SEQUENCE ? "records" : "images",
           (unsigned long long)s.shards, o.out_dir, (double)s.bytes_in / 1e6, (double)s.bytes_records / 1e6,
           (double)s.bytes_out / 1e6, s.elapsed_s, s.elapsed_s > 0 ? (double)s.bytes_in / 1e6 / s.elapsed_s : 0.0);
    if (s.dropped_length || s.dropped_invalid || s.replaced_bytes)
      printf("dropped %llu record(s) by length, %llu for invalid characters; replaced %llu byte(s)\n",
             (unsigned long long)s.dropped_length, (unsigned long long)s.dropped_invalid,
             (unsigned long long)s.replaced_bytes);
  }
  return 0;
}
