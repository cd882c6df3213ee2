/* Batches as the C API shows them: info, outputs as DLPack tensors (each
 * tensor holds a reference on the batch until its deleter runs), the
 * stream wait for GPU batches, and release. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biofeed/loader.h"
#include "core/error.h"
#include "pipeline/pipe.h"

typedef struct tensor_box {
  DLManagedTensor t;
  int64_t shape[6];
  int64_t strides[6];
} tensor_box;

bfd_status bfd_batch_info_get(const bfd_batch *b, bfd_batch_info *info) {
  if (!b || !info) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_batch_info_get: NULL argument");
  bfdi_batch_meta m;
  bfdi_batch_meta_get(b, &m);
  *info = (bfd_batch_info){m.epoch, m.step, m.rows, m.n_outputs, m.device, m.device_id};
  return BFD_OK;
}

static void tensor_deleter(DLManagedTensor *t) {
  bfd_batch *b = t->manager_ctx;
  free(t);
  bfdi_pipe_unref(b);
}

bfd_status bfd_batch_output(bfd_batch *b, size_t i, const char **name, DLManagedTensor **tensor) {
  if (!b) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_batch_output: the batch is NULL");
  bfdi_batch_meta m;
  bfdi_batch_meta_get(b, &m);
  if (i >= m.n_outputs)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_batch_output: output %zu of a batch with %zu outputs", i, m.n_outputs);
  bfdi_view v;
  bfdi_batch_view_get(b, i, &v);
  if (name) *name = v.name;
  if (!tensor) return BFD_OK;
  tensor_box *x = calloc(1, sizeof *x);
  if (!x) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for a tensor");
  int64_t stride = 1;
  for (int k = v.ndim - 1; k >= 0; k--) {
    x->shape[k] = v.shape[k];
    x->strides[k] = stride;
    stride *= v.shape[k];
  }
  DLTensor *d = &x->t.dl_tensor;
  d->data = v.data;
  d->device = (DLDevice){(DLDeviceType)m.device, m.device_id};
  d->ndim = v.ndim;
  d->dtype = v.dtype;
  d->shape = x->shape;
  d->strides = x->strides;
  d->byte_offset = 0;
  x->t.manager_ctx = b;
  x->t.deleter = tensor_deleter;
  bfdi_pipe_ref(b);
  *tensor = &x->t;
  return BFD_OK;
}

bfd_status bfd_batch_get(bfd_batch *b, const char *name, DLManagedTensor **tensor) {
  if (!b || !name) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_batch_get: NULL argument");
  bfdi_batch_meta m;
  bfdi_batch_meta_get(b, &m);
  char names[256] = "";
  for (size_t i = 0; i < m.n_outputs; i++) {
    bfdi_view v;
    bfdi_batch_view_get(b, i, &v);
    if (!strcmp(v.name, name)) return bfd_batch_output(b, i, NULL, tensor);
    size_t at = strlen(names);
    snprintf(names + at, sizeof names - at, "%s%s", i ? ", " : "", v.name);
  }
  return bfdi_fail(BFD_ERR_INVALID_ARG, "this batch has no output '%s' (it has %s)", name, names);
}

bfd_status bfd_batch_wait(bfd_batch *b, void *cuda_stream) {
  if (!b) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_batch_wait: the batch is NULL");
  return bfdi_batch_wait(b, cuda_stream);
}

bfd_status bfd_batch_release(bfd_batch *b) {
  if (!b) return BFD_OK;
  return bfdi_pipe_release(b);
}
