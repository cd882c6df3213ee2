/* BED intervals for window sampling: parsing a BED file's text (chrom,
 * start, end; errors name the line) and resolving the intervals against a
 * batch's records into the sorted, merged, window-counted regions that the
 * window op searches. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "seq.h"

void bfdk_seq_bed_free(bfdk_seq_bed *bed) {
  if (!bed) return;
  for (size_t i = 0; i < bed->n; i++) free(bed->chrom[i]);
  free(bed->chrom);
  free(bed->start);
  free(bed->end);
  free(bed->line);
  memset(bed, 0, sizeof *bed);
}

/* Next field of a line (tab or space separated): [*f, *f + *len). */
static int next_field(const char **p, const char *end, const char **f, size_t *len) {
  const char *s = *p;
  while (s < end && (*s == '\t' || *s == ' ')) s++;
  if (s == end) return 0;
  const char *e = s;
  while (e < end && *e != '\t' && *e != ' ') e++;
  *f = s;
  *len = (size_t)(e - s);
  *p = e;
  return 1;
}

static int parse_pos(const char *f, size_t len, int64_t *out) {
  if (len == 0 || len > 18) return 0;
  int64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (f[i] < '0' || f[i] > '9') return 0;
    v = v * 10 + (f[i] - '0');
  }
  *out = v;
  return 1;
}

static int is_header(const char *s, size_t len) {
  return (len >= 1 && s[0] == '#') || (len >= 5 && !memcmp(s, "track", 5)) || (len >= 7 && !memcmp(s, "browser", 7));
}

bfd_status bfdk_seq_bed_parse(const char *text, size_t n, const char *what, bfdk_seq_bed *bed) {
  if (!text || !what || !bed) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdk_seq_bed_parse: NULL argument");
  memset(bed, 0, sizeof *bed);
  size_t cap = 1;
  for (size_t i = 0; i < n; i++) cap += text[i] == '\n';
  bed->chrom = calloc(cap, sizeof *bed->chrom);
  bed->start = malloc(cap * sizeof *bed->start);
  bed->end = malloc(cap * sizeof *bed->end);
  bed->line = malloc(cap * sizeof *bed->line);
  bfd_status st = BFD_OK;
  if (!bed->chrom || !bed->start || !bed->end || !bed->line) {
    st = bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for %zu lines", what, cap);
    goto fail;
  }
  uint64_t line = 0;
  for (size_t pos = 0; pos < n;) {
    const char *s = text + pos;
    const char *nl = memchr(s, '\n', n - pos);
    const char *end = nl ? nl : text + n;
    pos = (size_t)(end - text) + 1;
    line++;
    if (end > s && end[-1] == '\r') end--;
    const char *p = s, *f[3];
    size_t len[3];
    if (!next_field(&p, end, &f[0], &len[0]) || is_header(f[0], len[0])) continue;
    if (!next_field(&p, end, &f[1], &len[1]) || !next_field(&p, end, &f[2], &len[2])) {
      st = bfdi_fail(BFD_ERR_FORMAT, "%s: line %llu has fewer than 3 fields; BED lines are chrom, start, end", what,
                     (unsigned long long)line);
      goto fail;
    }
    size_t i = bed->n;
    if (!parse_pos(f[1], len[1], &bed->start[i]) || !parse_pos(f[2], len[2], &bed->end[i])) {
      st = bfdi_fail(BFD_ERR_FORMAT, "%s: line %llu: start '%.*s' or end '%.*s' is not a non-negative integer", what,
                     (unsigned long long)line, (int)len[1], f[1], (int)len[2], f[2]);
      goto fail;
    }
    if (bed->end[i] <= bed->start[i]) {
      st = bfdi_fail(BFD_ERR_FORMAT, "%s: line %llu: end %lld is not after start %lld (BED is 0-based, end exclusive)",
                     what, (unsigned long long)line, (long long)bed->end[i], (long long)bed->start[i]);
      goto fail;
    }
    /* The text need not be NUL-terminated, so no strndup (it may read on). */
    bed->chrom[i] = malloc(len[0] + 1);
    if (bed->chrom[i]) {
      memcpy(bed->chrom[i], f[0], len[0]);
      bed->chrom[i][len[0]] = '\0';
    }
    if (!bed->chrom[i]) {
      st = bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory at line %llu", what, (unsigned long long)line);
      goto fail;
    }
    bed->line[i] = line;
    bed->n++;
  }
  return BFD_OK;
fail:
  bfdk_seq_bed_free(bed);
  return st;
}

void bfdk_seq_regions_free(bfdk_seq_regions_owned *r) {
  if (!r) return;
  free(r->off);
  free(r->cum);
  free(r->start);
  free(r->end);
  memset(r, 0, sizeof *r);
}

typedef struct named {
  const char *s;
  size_t len;
  uint64_t rec;
} named;

static int named_cmp(const void *a, const void *b) {
  const named *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  if (c) return c;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return x->rec < y->rec ? -1 : x->rec > y->rec;
}

typedef struct hit {
  uint64_t rec;
  int64_t start, end;
} hit;

static int hit_cmp(const void *a, const void *b) {
  const hit *x = a, *y = b;
  if (x->rec != y->rec) return x->rec < y->rec ? -1 : 1;
  return x->start < y->start ? -1 : x->start > y->start;
}

/* The record whose first word is chrom, or n_records. With repeated names
 * the first record wins. */
static uint64_t find_record(const named *sorted, uint64_t n_records, const char *chrom) {
  named key = {chrom, strlen(chrom), 0};
  uint64_t lo = 0, hi = n_records;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (named_cmp(&sorted[mid], &key) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < n_records && sorted[lo].len == key.len && !memcmp(sorted[lo].s, chrom, key.len)) return sorted[lo].rec;
  return n_records;
}

bfd_status bfdk_seq_regions_resolve(const bfdk_seq_bed *bed, const char *what, const char *const *names,
                                    const uint64_t *lengths, uint64_t n_records, const bfdk_seq_params *p,
                                    bfdk_seq_regions_owned *out, size_t *unmatched) {
  if (!bed || !what || !names || !lengths || !p || !out || !unmatched)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdk_seq_regions_resolve: NULL argument");
  if (p->sample_mode == BFD_SEQ_RECORD || p->window < 1)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: BED regions restrict windows; set window.length", what);
  memset(out, 0, sizeof *out);
  *unmatched = 0;
  named *sorted = malloc((n_records ? n_records : 1) * sizeof *sorted);
  hit *hits = malloc((bed->n ? bed->n : 1) * sizeof *hits);
  out->off = calloc(n_records + 1, sizeof *out->off);
  bfd_status st = BFD_OK;
  if (!sorted || !hits || !out->off) {
    st = bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for %zu intervals", what, bed->n);
    goto done;
  }
  for (uint64_t r = 0; r < n_records; r++) {
    const char *s = names[r] ? names[r] : "";
    sorted[r].s = s;
    sorted[r].len = strcspn(s, " \t");
    sorted[r].rec = r;
  }
  qsort(sorted, n_records, sizeof *sorted, named_cmp);
  size_t nh = 0;
  for (size_t i = 0; i < bed->n; i++) {
    uint64_t r = find_record(sorted, n_records, bed->chrom[i]);
    if (r == n_records) {
      (*unmatched)++;
      continue;
    }
    if ((uint64_t)bed->end[i] > lengths[r]) {
      st = bfdi_fail(BFD_ERR_FORMAT,
                     "%s: line %llu: interval %s:%lld-%lld reaches past the end of record %llu (%llu bases); is the BED "
                     "file for this assembly?",
                     what, (unsigned long long)bed->line[i], bed->chrom[i], (long long)bed->start[i],
                     (long long)bed->end[i], (unsigned long long)r, (unsigned long long)lengths[r]);
      goto done;
    }
    hits[nh].rec = r;
    hits[nh].start = bed->start[i];
    hits[nh].end = bed->end[i];
    nh++;
  }
  qsort(hits, nh, sizeof *hits, hit_cmp);
  size_t m = 0;
  for (size_t i = 0; i < nh; i++) {
    if (m && hits[m - 1].rec == hits[i].rec && hits[i].start <= hits[m - 1].end) {
      if (hits[i].end > hits[m - 1].end) hits[m - 1].end = hits[i].end;
    } else {
      hits[m++] = hits[i];
    }
  }
  out->start = malloc((m ? m : 1) * sizeof *out->start);
  out->end = malloc((m ? m : 1) * sizeof *out->end);
  out->cum = malloc((m + 1) * sizeof *out->cum);
  if (!out->start || !out->end || !out->cum) {
    st = bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for %zu regions", what, m);
    goto done;
  }
  int64_t stride = p->sample_mode == BFD_SEQ_WINDOW_TILED ? p->tile_stride : 0;
  out->cum[0] = 0;
  for (size_t i = 0; i < m; i++) {
    out->start[i] = hits[i].start;
    out->end[i] = hits[i].end;
    out->cum[i + 1] = out->cum[i] + bfd_seq_region_windows(hits[i].end - hits[i].start, p->window, stride);
    out->off[hits[i].rec + 1]++;
  }
  for (uint64_t r = 0; r < n_records; r++) out->off[r + 1] += out->off[r];
  out->n = m;
  out->view.off = out->off;
  out->view.start = out->start;
  out->view.end = out->end;
  out->view.cum = out->cum;
done:
  free(sorted);
  free(hits);
  if (st != BFD_OK) bfdk_seq_regions_free(out);
  return st;
}
