/* libFuzzer harness: the image op list (loader/ops/img_config.c, libyaml)
 * read by bfd_img_config_load. The input is the YAML text. A list that
 * loads is planned against a small 2D and a small 3D batch, as the pipeline
 * does next: the plan checks the ops against the shapes and sizes the
 * workspace, so fuzzed parameters (crop sizes, spacings, ranges) reach that
 * arithmetic. */
#include <stdint.h>

#include "fuzzutil.h"
#include "ops/img_config.h"

static void plan(const bfdk_img_spec *spec, int ndim) {
  bfdk_img_batch b = {0};
  b.batch = 2;
  b.ndim = ndim;
  int64_t s2[4] = {1, 24, 20, 0}, s3[4] = {2, 6, 12, 10};
  memcpy(b.shape, ndim == 3 ? s2 : s3, sizeof b.shape);
  b.dtype = BFD_DTYPE_UINT16;
  b.label_ndim = ndim - 1;
  for (int k = 0; k < ndim - 1; k++) b.label_shape[k] = b.shape[k + 1];
  b.label_dtype = BFD_DTYPE_UINT8;
  b.out_dtype = BFDK_F32;
  b.out_label_dtype = BFD_DTYPE_INT64;
  /* The plan only reads shapes: the pointers say which parts exist. */
  static uint8_t dummy[1];
  b.images = b.labels = dummy;
  b.out = b.out_labels = dummy;
  bfdk_img_plan p;
  bfd_status st = bfdk_img_plan_make(spec, &b, &p);
  fz_check(st, "bfdk_img_plan_make");
  if (st == BFD_OK) fz_sink = p.work_bytes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fz_write("img.yaml", data, size);
  bfdk_img_spec spec;
  fz_quiet_begin();
  bfd_status st = bfd_img_config_load(path, &spec);
  fz_check(st, "bfd_img_config_load");
  if (st == BFD_OK) {
    plan(&spec, 3);
    plan(&spec, 4);
  }
  fz_quiet_end("the image ops parser");
  fz_remove("img.yaml");
  return 0;
}
