/* `pack` for images: each input file is one sample (an HDF5 input gives one
 * per index of its sample axis), optionally paired with a label mask and a
 * class. Samples are grouped by dtype and shape, since one dataset holds one
 * shape; each group fills its own shards (img-g<G>-<N>.h5). */
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fileio.h"
#include "ingest/image.h"
#include "core/grow.h"
#include "pack/pack_internal.h"

typedef struct img_job {
  bfdi_job job;
  uint8_t *data, *labels;
  uint32_t *crc, *lcrc;
  int64_t *classes;
  size_t n, cap;
  size_t *srcs;
  size_t n_srcs, srcs_cap;
} img_job;

typedef struct img_group {
  bfd_dtype dtype;
  int ndim;
  uint64_t shape[4];
  int has_labels;
  bfd_dtype label_dtype;
  uint64_t shards, records;
  img_job *cur;
} img_group;

typedef struct class_entry {
  char *stem;
  int64_t cls;
} class_entry;

struct bfdi_img_state {
  img_group *g;
  size_t n, cap;
  class_entry *classes;
  size_t n_classes;
};

static void img_release(bfdi_job *j) {
  img_job *s = (img_job *)j;
  free(s->data);
  free(s->labels);
  free(s->crc);
  free(s->lcrc);
  free(s->classes);
  free(s->srcs);
}

static void job_free(img_job *j) {
  if (!j) return;
  img_release(&j->job);
  free(j);
}

void bfdi_pack_image_free(bfdi_packer *p) {
  struct bfdi_img_state *s = p->img;
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) job_free(s->g[i].cur);
  for (size_t i = 0; i < s->n_classes; i++) free(s->classes[i].stem);
  free(s->classes);
  free(s->g);
  free(s);
  p->img = NULL;
}

void bfdi_pack_image_schema(const bfdi_packer *p, cJSON *groups) {
  if (!p->img) return;
  for (size_t i = 0; i < p->img->n; i++) {
    const img_group *g = &p->img->g[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "group", (double)i);
    cJSON_AddStringToObject(o, "dtype", bfd_dtype_name(g->dtype));
    cJSON_AddStringToObject(o, "layout", g->ndim == 4 ? "CZYX" : "CYX");
    cJSON *sh = cJSON_AddArrayToObject(o, "shape");
    for (int k = 0; k < g->ndim; k++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)g->shape[k]));
    if (g->has_labels) cJSON_AddStringToObject(o, "label_dtype", bfd_dtype_name(g->label_dtype));
    else cJSON_AddNullToObject(o, "label_dtype");
    cJSON_AddBoolToObject(o, "classes", p->img->n_classes > 0);
    cJSON_AddNumberToObject(o, "records", (double)g->records);
    cJSON_AddItemToArray(groups, o);
  }
}

/* The file name without directories and without everything from its first
 * dot: "a/b/cell_01.ome.tif" -> "cell_01". */
static char *stem_of(const char *path) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  const char *dot = strchr(b, '.');
  return strndup(b, dot ? (size_t)(dot - b) : strlen(b));
}

static bfd_status load_classes(struct bfdi_img_state *s, const char *csv) {
  FILE *f = fopen(csv, "r");
  if (!f) return bfdi_fail_errno(errno, "%s: cannot open the classes file", csv);
  char line[4096];
  unsigned long ln = 0;
  bfd_status st = BFD_OK;
  size_t cap = 0;
  while (st == BFD_OK && fgets(line, sizeof line, f)) {
    ln++;
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0] || line[0] == '#') continue;
    char *comma = strrchr(line, ',');
    char *end = NULL;
    long long v = comma ? strtoll(comma + 1, &end, 10) : 0;
    if (!comma || end == comma + 1 || *end) {
      if (ln == 1) continue; /* a header line such as "stem,class" */
      st = bfdi_fail(BFD_ERR_FORMAT, "%s: line %lu: expected 'stem,class' with an integer class, got '%s'", csv, ln,
                     line);
      break;
    }
    *comma = '\0';
    if (s->n_classes == cap) {
      cap = cap ? 2 * cap : 64;
      class_entry *nc = realloc(s->classes, cap * sizeof *nc);
      if (!nc) {
        st = bfdi_fail(BFD_ERR_NOMEM, "out of memory");
        break;
      }
      s->classes = nc;
    }
    s->classes[s->n_classes].stem = strdup(line);
    s->classes[s->n_classes++].cls = v;
  }
  fclose(f);
  if (st == BFD_OK && s->n_classes == 0) st = bfdi_fail(BFD_ERR_FORMAT, "%s: no 'stem,class' lines", csv);
  return st;
}

static bfd_status class_of(const struct bfdi_img_state *s, const char *path, const char *csv, int64_t *cls) {
  char *stem = stem_of(path);
  if (!stem) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < s->n_classes; i++)
    if (!strcmp(s->classes[i].stem, stem)) {
      *cls = s->classes[i].cls;
      free(stem);
      return BFD_OK;
    }
  bfd_status st = bfdi_fail(BFD_ERR_INVALID_ARG, "%s: no class for stem '%s' in %s; add a line '%s,<class>'", path,
                            stem, csv, stem);
  free(stem);
  return st;
}

/* Finds the label file for an image: with a '*' in spec, the stem replaces
 * it; otherwise spec is a directory holding exactly one image with the stem. */
static bfd_status label_path(const char *image, const char *spec, char **out) {
  char *stem = stem_of(image);
  if (!stem) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  bfd_status st = BFD_OK;
  *out = NULL;
  const char *star = strchr(spec, '*');
  if (star) {
    size_t a = (size_t)(star - spec), b = strlen(stem), c = strlen(star + 1);
    char *pth = malloc(a + b + c + 1);
    if (!pth) {
      free(stem);
      return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
    }
    memcpy(pth, spec, a);
    memcpy(pth + a, stem, b);
    memcpy(pth + a + b, star + 1, c + 1);
    struct stat sb;
    if (stat(pth, &sb) != 0) {
      st = bfdi_fail(BFD_ERR_INVALID_ARG, "%s: its label %s (from --labels %s) does not exist", image, pth, spec);
      free(pth);
    } else {
      *out = pth;
    }
  } else {
    DIR *d = opendir(spec);
    if (!d) {
      st = bfdi_fail_errno(errno, "--labels %s: cannot list the directory", spec);
    } else {
      struct dirent *e;
      size_t sl = strlen(stem);
      while ((e = readdir(d)) && st == BFD_OK) {
        if (strncmp(e->d_name, stem, sl) != 0 || e->d_name[sl] != '.' ||
            bfdi_image_format_of(e->d_name) == BFDI_IMG_NONE)
          continue;
        if (*out) {
          st = bfdi_fail(BFD_ERR_INVALID_ARG, "%s: two label candidates in %s (%s and %s); keep one", image, spec,
                         strrchr(*out, '/') + 1, e->d_name);
          free(*out);
          *out = NULL;
        } else {
          *out = bfdi_path_join(spec, e->d_name);
          if (!*out) st = bfdi_fail(BFD_ERR_NOMEM, "out of memory");
        }
      }
      closedir(d);
      if (st == BFD_OK && !*out)
        st = bfdi_fail(BFD_ERR_INVALID_ARG, "%s: no label named %s.* in %s; every image needs its mask", image, stem,
                       spec);
    }
  }
  free(stem);
  return st;
}

static int is_integer(bfd_dtype t) { return t != BFD_DTYPE_FLOAT32; }

static bfd_status read_label(const char *image, const bfdi_image *im, const char *lpath, bfd_pages_as pages,
                             bfdi_image *lab) {
  bfd_status st;
  switch (bfdi_image_format_of(lpath)) {
    case BFDI_IMG_TIFF: st = bfdi_tiff_read(lpath, pages, lab); break;
    case BFDI_IMG_PNG: st = bfdi_png_read(lpath, lab); break;
    case BFDI_IMG_NIFTI: st = bfdi_nifti_read(lpath, lab); break;
    default: return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: labels must be TIFF, PNG or NIfTI files", lpath);
  }
  if (st != BFD_OK) return st;
  char ishape[96], lshape[96];
  int n = 0, m = 0;
  for (int k = 1; k < im->ndim; k++) n += snprintf(ishape + n, sizeof ishape - (size_t)n, "%s%llu", k > 1 ? "x" : "",
                                                 (unsigned long long)im->shape[k]);
  for (int k = 1; k < lab->ndim; k++) m += snprintf(lshape + m, sizeof lshape - (size_t)m, "%s%llu", k > 1 ? "x" : "",
                                                  (unsigned long long)lab->shape[k]);
  int same = lab->ndim == im->ndim && !strcmp(ishape, lshape);
  if (lab->shape[0] != 1) st = bfdi_fail(BFD_ERR_FORMAT, "mask %s has %llu channels; a label mask has one (for %s)",
                                         lpath, (unsigned long long)lab->shape[0], image);
  else if (!is_integer(lab->dtype))
    st = bfdi_fail(BFD_ERR_FORMAT, "mask %s is %s; label masks must be integer (for %s)", lpath,
                   bfd_dtype_name(lab->dtype), image);
  else if (!same)
    st = bfdi_fail(BFD_ERR_FORMAT, "mask %s has spatial shape %s but image %s has %s; masks must match their image",
                   lpath, lshape, image, ishape);
  if (st != BFD_OK) bfdi_image_free(lab);
  return st;
}

static size_t sample_bytes(const img_group *g) {
  size_t b = bfd_dtype_size(g->dtype);
  for (int k = 0; k < g->ndim; k++) b *= g->shape[k];
  return b;
}

static size_t label_bytes(const img_group *g) {
  if (!g->has_labels) return 0;
  size_t b = bfd_dtype_size(g->label_dtype);
  for (int k = 1; k < g->ndim; k++) b *= g->shape[k];
  return b;
}

static bfd_status flush_group(bfdi_packer *p, size_t gi) {
  img_group *g = &p->img->g[gi];
  img_job *j = g->cur;
  if (!j || !j->n) return BFD_OK;
  g->cur = NULL;
  char name[64];
  snprintf(name, sizeof name, "img-g%zu-%05llu.h5", gi, (unsigned long long)g->shards++);
  j->job.name = strdup(name);
  j->job.provenance = bfdi_provenance(p, j->srcs, j->n_srcs);
  j->job.is_image = 1;
  j->job.group = (int)gi;
  j->job.release = img_release;
  j->job.bytes = j->n * (sample_bytes(g) + label_bytes(g));
  j->job.img = (bfdi_img_shard){j->n, g->dtype, g->ndim, {g->shape[0], g->shape[1], g->shape[2], g->shape[3]},
                                j->data, j->crc, j->labels, g->label_dtype, j->lcrc, j->classes,
                                p->o->compress_level, NULL};
  if (!j->job.name || !j->job.provenance) {
    free(j->job.name);
    free(j->job.provenance);
    job_free(j);
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  }
  return bfdi_packer_submit(p, &j->job);
}

static bfd_status find_group(bfdi_packer *p, const bfdi_image *im, const bfdi_image *lab, size_t *gi) {
  struct bfdi_img_state *s = p->img;
  for (size_t i = 0; i < s->n; i++) {
    img_group *g = &s->g[i];
    if (g->dtype == im->dtype && g->ndim == im->ndim && !memcmp(g->shape, im->shape, sizeof g->shape) &&
        g->has_labels == (lab != NULL) && (!lab || g->label_dtype == lab->dtype)) {
      *gi = i;
      return BFD_OK;
    }
  }
  if (!bfdi_grow((void **)&s->g, &s->cap, s->n + 1, sizeof *s->g)) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  img_group *g = &s->g[s->n];
  memset(g, 0, sizeof *g);
  g->dtype = im->dtype;
  g->ndim = im->ndim;
  memcpy(g->shape, im->shape, sizeof g->shape);
  g->has_labels = lab != NULL;
  if (lab) g->label_dtype = lab->dtype;
  *gi = s->n++;
  return BFD_OK;
}

static bfd_status add_sample(bfdi_packer *p, size_t input, const bfdi_image *im, const bfdi_image *lab,
                             const int64_t *cls) {
  size_t gi = 0;
  BFD_TRY(find_group(p, im, lab, &gi));
  img_group *g = &p->img->g[gi];
  size_t sb = sample_bytes(g), lb = label_bytes(g);
  if (g->cur && (g->cur->n + 1) * (sb + lb) > p->o->shard_bytes) BFD_TRY(flush_group(p, gi));
  g = &p->img->g[gi];
  if (!g->cur && !(g->cur = calloc(1, sizeof *g->cur))) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  img_job *j = g->cur;
  size_t n = j->n, cap = j->cap;
  if (n + 1 > cap) {
    size_t c = cap ? 2 * cap : 4;
    uint8_t *d = realloc(j->data, c * sb);
    if (d) j->data = d;
    uint32_t *cr = realloc(j->crc, c * sizeof *cr);
    if (cr) j->crc = cr;
    int ok = d && cr;
    if (ok && lab) {
      uint8_t *l = realloc(j->labels, c * lb);
      if (l) j->labels = l;
      uint32_t *lc = realloc(j->lcrc, c * sizeof *lc);
      if (lc) j->lcrc = lc;
      ok = l && lc;
    }
    if (ok && cls) {
      int64_t *cc = realloc(j->classes, c * sizeof *cc);
      if (cc) j->classes = cc;
      ok = cc != NULL;
    }
    if (!ok) return bfdi_fail(BFD_ERR_NOMEM, "out of memory holding %zu samples of %zu bytes", c, sb);
    j->cap = c;
  }
  memcpy(j->data + n * sb, im->data, sb);
  j->crc[n] = bfdi_crc32c(im->data, sb);
  if (lab) {
    memcpy(j->labels + n * lb, lab->data, lb);
    j->lcrc[n] = bfdi_crc32c(lab->data, lb);
  }
  if (cls) j->classes[n] = *cls;
  j->n++;
  if (!j->n_srcs || j->srcs[j->n_srcs - 1] != input) {
    if (!bfdi_grow((void **)&j->srcs, &j->srcs_cap, j->n_srcs + 1, sizeof *j->srcs))
      return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
    j->srcs[j->n_srcs++] = input;
  }
  g->records++;
  pthread_mutex_lock(&p->mu);
  p->sum.records++;
  p->sum.bytes_records += sb + lb;
  pthread_mutex_unlock(&p->mu);
  if (p->o->records_per_shard && j->n >= p->o->records_per_shard) BFD_TRY(flush_group(p, gi));
  return BFD_OK;
}

static bfd_status pack_file(bfdi_packer *p, size_t i) {
  const bfd_pack_options *o = p->o;
  const char *path = p->inputs[i].path;
  bfdi_image im = {0}, lab = {0};
  bfd_status st;
  switch (bfdi_image_format_of(path)) {
    case BFDI_IMG_TIFF: st = bfdi_tiff_read(path, o->pages_as, &im); break;
    case BFDI_IMG_PNG: st = bfdi_png_read(path, &im); break;
    case BFDI_IMG_NIFTI: st = bfdi_nifti_read(path, &im); break;
    default: return bfdi_fail(BFD_ERR_INTERNAL, "%s: not an image file", path);
  }
  if (st != BFD_OK) return st;
  char *lpath = NULL;
  int64_t cls = 0;
  if (o->labels) {
    st = label_path(path, o->labels, &lpath);
    if (st == BFD_OK) st = read_label(path, &im, lpath, o->pages_as, &lab);
  }
  if (st == BFD_OK && o->classes_csv) st = class_of(p->img, path, o->classes_csv, &cls);
  if (st == BFD_OK) st = add_sample(p, i, &im, o->labels ? &lab : NULL, o->classes_csv ? &cls : NULL);
  free(lpath);
  bfdi_image_free(&im);
  bfdi_image_free(&lab);
  return st;
}

static bfd_status pack_h5(bfdi_packer *p, size_t i) {
  const bfd_pack_options *o = p->o;
  const char *path = p->inputs[i].path;
  if (!o->h5_dataset)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: HDF5 input needs --h5-dataset PATH (and --sample-axis N)", path);
  if (o->labels || o->classes_csv)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: --labels and --classes pair files by name and do not apply to HDF5 "
                     "inputs; pack the HDF5 images without them", path);
  bfdi_h5src *src;
  BFD_TRY(bfdi_h5src_open(path, o->h5_dataset, o->sample_axis, &src));
  uint64_t n = bfdi_h5src_count(src);
  bfd_status st = BFD_OK;
  for (uint64_t k = 0; k < n && st == BFD_OK; k++) {
    bfdi_image im = {0};
    st = bfdi_h5src_read(src, k, &im);
    if (st == BFD_OK) st = add_sample(p, i, &im, NULL, NULL);
    bfdi_image_free(&im);
    bfdi_progress(p, p->inputs[i].size * (k + 1) / (n ? n : 1), 0);
  }
  bfdi_h5src_close(src);
  return st;
}

bfd_status bfdi_pack_images(bfdi_packer *p) {
  p->img = calloc(1, sizeof *p->img);
  if (!p->img) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  if (p->o->classes_csv) BFD_TRY(load_classes(p->img, p->o->classes_csv));
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < p->n_inputs && st == BFD_OK; i++) {
    st = bfdi_image_format_of(p->inputs[i].path) == BFDI_IMG_HDF5 ? pack_h5(p, i) : pack_file(p, i);
    p->bytes_done += p->inputs[i].size;
    bfdi_progress(p, 0, 0);
  }
  for (size_t gi = 0; st == BFD_OK && gi < p->img->n; gi++) st = flush_group(p, gi);
  return st;
}
