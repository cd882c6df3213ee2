/* The image ops stage at batch level: what the pipeline calls to turn a
 * batch of B decoded samples of one shape ([C, Y, X] or [C, Z, Y, X] of
 * uint8, uint16, int16 or float32, with optional integer labels of the same
 * spatial shape) into training patches ([B, C, (Z,) Y, X] or channels-last,
 * float32, float16 or bfloat16; labels int64, int32 or uint8), following an
 * op list (bfdk_img_spec, parsed from YAML by loader/ops/img_config.c).
 *
 * One geometry pass (crop, flips, rot90, permutation, affine and elastic
 * fused: each output voxel computes its source coordinate and reads the
 * source once, linear interpolation for images and nearest for labels),
 * then the intensity ops in list order, per channel. Every random number
 * comes from Philox keyed by (seed, epoch, global sample index, op), so the
 * result is a pure function of (spec, batch, seed, epoch) whatever the
 * backend or thread count: the CPU backend (OpenMP) and the CUDA backend
 * give the same bits (contraction off, basic IEEE operations, ops/pmath.h,
 * fixed reduction order, integer atomics only). */
#ifndef BFD_KERNELS_IMG_H
#define BFD_KERNELS_IMG_H

#include "biofeed/shard.h"
#include "core/error.h"
#include "ops/img_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bfdk_img_batch {
  size_t batch;       /* B samples */
  int ndim;           /* dimensions of one sample: 3 [C, Y, X] or 4 [C, Z, Y, X] */
  int64_t shape[4];   /* one sample's shape */
  bfd_dtype dtype;    /* uint8, uint16, int16 or float32 */
  const void *images; /* [B, C, (Z,) Y, X], C order */
  const void *labels; /* [B, (Z,) Y, X] or NULL */
  int label_ndim;     /* dimensions of one label volume: ndim - 1 */
  int64_t label_shape[3];
  bfd_dtype label_dtype;        /* uint8, uint16, int16, int32, uint32 or int64 */
  const uint64_t *sample_index; /* host memory: the B global sample indices */
  uint64_t seed;
  uint32_t epoch;
  bfdk_fdtype out_dtype;
  int channels_last;         /* out is [B, (Z,) Y, X, C] */
  void *out;                 /* [B, C, (Z,) Y, X] */
  bfd_dtype out_label_dtype; /* int64, int32 or uint8, at least as wide as label_dtype's values */
  void *out_labels;          /* [B, (Z,) Y, X] when labels */
  /* NULL: each sample holds the whole image. Else (CPU backend, op lists
   * without image statistics or foreground crops) sample b holds only the
   * voxels of boxes[b], [C, (nz,) ny, nx] at the start of its usual place
   * (labels likewise), and the box holds every voxel its patch reads
   * (bfdk_img_source_box). */
  const bfdk_img_box *boxes;
} bfdk_img_batch;

/* Threads of the CPU backend's resampling pass at most: each has a row
 * buffer in the workspace, so a batch allocates nothing. */
#define BFDK_IMG_CPU_TEAM 64

/* Where each part of the workspace lives (byte offsets), and what runs. */
typedef struct bfdk_img_plan {
  bfdk_img_dims dims;
  int norm;        /* index of the normalize op, or -1 */
  int norm_data;   /* it needs statistics of the images (percentile, min-max, z-score per image) */
  int need_fg;     /* foreground crops: count label voxels */
  int has_spatial; /* a blur or lowres op: a second float buffer */
  int has_blur;
  int64_t src_chunks, out_chunks, lab_chunks, nodes;
  size_t off_gidx, off_samples, off_cstat, off_fg, off_hist, off_radix, off_partials, off_pstat, off_fgcount, off_nodes,
      off_blur, off_x, off_y;
  size_t off_rows;    /* CPU backend: BFDK_IMG_CPU_TEAM row buffers (the CUDA backend leaves them unused) */
  int64_t row_floats; /* one row buffer: C output rows, the elastic field along x, and per output voxel of a row
                         its source coordinates, elastic cell and interpolation corners */
  size_t work_bytes;
  int out_ndim;         /* 4 or 5 */
  int64_t out_shape[5]; /* the shape of out */
} bfdk_img_plan;

/* The workspace carved into its parts (host or device pointers). */
typedef struct bfdk_img_views {
  uint64_t *gidx;
  bfdk_img_sample *smp;
  bfdk_img_cstat *cst;
  int64_t *fg;
  uint32_t *hist;
  bfdk_img_radix *radix;
  bfdk_img_partial *part;
  bfdk_img_pstat *pst;
  uint32_t *fgc;
  float *nodes;
  float *blur;
  float *x;
  float *y;
  float *rows;
} bfdk_img_views;

static inline bfdk_img_views bfdk_img_carve(const bfdk_img_plan *pl, void *work) {
  char *w = (char *)work;
  bfdk_img_views v;
  v.gidx = (uint64_t *)(w + pl->off_gidx);
  v.smp = (bfdk_img_sample *)(w + pl->off_samples);
  v.cst = (bfdk_img_cstat *)(w + pl->off_cstat);
  v.fg = (int64_t *)(w + pl->off_fg);
  v.hist = (uint32_t *)(w + pl->off_hist);
  v.radix = (bfdk_img_radix *)(w + pl->off_radix);
  v.part = (bfdk_img_partial *)(w + pl->off_partials);
  v.pst = (bfdk_img_pstat *)(w + pl->off_pstat);
  v.fgc = (uint32_t *)(w + pl->off_fgcount);
  v.nodes = (float *)(w + pl->off_nodes);
  v.blur = (float *)(w + pl->off_blur);
  v.x = (float *)(w + pl->off_x);
  v.y = (float *)(w + pl->off_y);
  v.rows = (float *)(w + pl->off_rows);
  return v;
}

/* An op list with nothing in it: the whole image, unchanged geometry, no
 * intensity op. Op fields keep their neutral values until an op is added. */
void bfdk_img_spec_init(bfdk_img_spec *spec);

/* Checks spec against the batch (dimensions, label shape, dtypes, a crop
 * that does not fit with padding off, sizes) and lays out the workspace.
 * Errors name what is wrong and what to do. */
bfd_status bfdk_img_plan_make(const bfdk_img_spec *spec, const bfdk_img_batch *batch, bfdk_img_plan *plan);

/* The source voxels sample gidx's patch reads (border rule applied, a
 * margin past the interpolation corners), computed from the same draws as
 * the resampling pass; d is the plan's dims for the sample's shape, seed and
 * epoch. nodes holds d's elastic control points of one sample (3 floats
 * each). Returns 0, leaving box alone, when the op list needs whole
 * images (image statistics, foreground crops). */
int bfdk_img_source_box(const bfdk_img_spec *spec, const bfdk_img_plan *plan, const bfdk_img_dims *d, uint64_t gidx,
                        float *nodes, bfdk_img_box *box);

/* The CPU backend: host pointers, work of at least plan.work_bytes bytes
 * (any alignment of 8 or more). OpenMP threads as the runtime sets. */
bfd_status bfdk_img_run_cpu(const bfdk_img_spec *spec, const bfdk_img_batch *batch, void *work, size_t work_bytes);

#if BFD_CUDA
struct CUstream_st; /* cudaStream_t is struct CUstream_st *: no CUDA header needed here */

/* The CUDA backend: images, labels, out, out_labels and work are device
 * pointers (work 256-byte aligned, as cudaMalloc gives), sample_index is in
 * host memory. Everything is queued on stream; nothing waits for the GPU. */
bfd_status bfdk_img_run_cuda(const bfdk_img_spec *spec, const bfdk_img_batch *batch, void *work, size_t work_bytes,
                             struct CUstream_st *stream);

/* Device memory for callers written in C (tests, the GPU check): cudaMalloc,
 * cudaFree, and a blocking cudaMemcpy either way. */
bfd_status bfdk_img_cuda_alloc(size_t n, void **dev);
void bfdk_img_cuda_free(void *dev);
bfd_status bfdk_img_cuda_copy(void *dst, const void *src, size_t n, int to_device);
#endif

#ifdef __cplusplus
}
#endif

#endif
