/* The plain data of the image ops: the op list as parsed from the job
 * config (bfdk_img_spec), the batch geometry both backends agree on
 * (bfdk_img_dims), what is drawn for each sample (bfdk_img_sample) and the
 * per-channel statistics. No pointers, so that all of it can be passed by
 * value to CUDA kernels or copied to the device as is.
 *
 * Axes are always indexed [0] = z, [1] = y, [2] = x; a 2D image is a volume
 * with z extent 1. Geometry: output voxel o of the patch reads window
 * coordinate w (w[axis[i]] = rev[i] ? win - 1 - o[i] : o[i]: flips, rot90
 * and permutation composed into one signed permutation), and, when the
 * sample is resampled (affine or elastic), the source at
 *   s = origin + c + t + A (w + d - c),   c = (win - 1) / 2,
 * with A the affine matrix, t the translation and d the elastic
 * displacement; otherwise the source voxel origin + w.
 *   A = R Sh S^-1: R = Rz Ry Rx, Rz turning (y, x) (R[1][2] = -sin), Ry
 *   turning (x, z) (R[2][0] = -sin), Rx turning (z, y) (R[0][1] = -sin);
 *   Sh the identity with Sh[x][y], Sh[x][z], Sh[y][z] the shears; S the
 *   scales (content magnification). In 2D only Rz, Sh[x][y] and the (y, x)
 *   scales. Each 3x3 product sums its terms in index order. */
#ifndef BFD_OPS_IMG_TYPES_H
#define BFD_OPS_IMG_TYPES_H

#include "ops/common.h"

#define BFDK_IMG_MAX_OPS 16
#define BFDK_IMG_MAX_BLUR_RADIUS 64 /* taps either side; sigma <= 16 at 4 sigma */
#define BFDK_IMG_BLUR_TAPS (2 * BFDK_IMG_MAX_BLUR_RADIUS + 1)
#define BFDK_IMG_THREADS 256     /* CUDA block size, and the lanes of a reduction chunk */
#define BFDK_IMG_CHUNK 4096      /* elements per reduction chunk: 16 per lane */
#define BFDK_IMG_RADIX_TARGETS 4 /* order statistics selected at once for float data */
#define BFDK_IMG_RADIX_BINS 2048 /* digits of 11, 11 and 10 bits */

/* Output element types of the image patches. */
typedef enum bfdk_fdtype { BFDK_F32 = 1, BFDK_F16, BFDK_BF16 } bfdk_fdtype;

typedef enum bfdk_crop_mode {
  BFDK_CROP_NONE = 0, /* the patch is the whole image */
  BFDK_CROP_RANDOM,
  BFDK_CROP_CENTER,
  BFDK_CROP_FOREGROUND /* centred on a random non-zero label voxel with probability fg_prob */
} bfdk_crop_mode;

typedef enum bfdk_pad_mode {
  BFDK_PAD_NONE = 0, /* the crop must fit; reads outside (after affine) give pad_value */
  BFDK_PAD_CONSTANT, /* pad_value for images, label_pad for labels */
  BFDK_PAD_REFLECT   /* numpy.pad's 'reflect': d c b | a b c d | c b a */
} bfdk_pad_mode;

typedef enum bfdk_img_op_kind {
  BFDK_IMG_NORMALIZE = 1,
  BFDK_IMG_BRIGHTNESS, /* x + v */
  BFDK_IMG_CONTRAST,   /* (x - mean) v + mean, mean of the patch channel */
  BFDK_IMG_GAMMA,      /* batchgenerators' augment_gamma over the patch channel's range */
  BFDK_IMG_NOISE,      /* x + sigma N(0, 1) */
  BFDK_IMG_BLUR,       /* separable Gaussian, scipy.ndimage's 'reflect' border, radius 4 sigma */
  BFDK_IMG_LOWRES      /* nearest down-sampling by a zoom v, linear up-sampling back */
} bfdk_img_op_kind;

typedef enum bfdk_norm_mode {
  BFDK_NORM_PERCENTILE = 1, /* (x - p_lo) / (p_hi - p_lo + eps), CSBDeep's normalize */
  BFDK_NORM_ZSCORE,         /* (x - mean) / max(std, eps) */
  BFDK_NORM_MINMAX,         /* (x - min) / (max - min + eps) */
  BFDK_NORM_SCALE           /* x * factor */
} bfdk_norm_mode;

/* One intensity op. Each applies with probability prob and draws its value
 * uniformly in [lo, hi] once per sample. */
typedef struct bfdk_img_iop {
  int32_t kind;    /* bfdk_img_op_kind */
  uint32_t rng_op; /* Philox op id: BFD_RNG_INTENSITY, _NOISE, _BLUR or _LOWRES | position << 16 */
  float prob;
  float lo, hi;      /* brightness offset, contrast factor, gamma, noise sigma, blur sigma, lowres zoom */
  float invert_prob; /* gamma: probability of the inverted variant */
  int32_t norm_mode; /* bfdk_norm_mode */
  double pmin, pmax; /* percentiles, in [0, 100]: double, as numpy takes them */
  float eps;
  int32_t clip;  /* percentile: clip the result to [0, 1] */
  int32_t fixed; /* zscore: use mean and std below instead of the image's */
  float mean, std;
  float factor; /* scale */
} bfdk_img_iop;

/* The op list. Geometry ops appear at most once and are fused into one
 * resampling pass; intensity ops run after it, in list order. */
typedef struct bfdk_img_spec {
  int32_t ndim;      /* spatial dimensions the list is written for: 2, 3, or 0 (either) */
  int32_t crop_mode; /* bfdk_crop_mode */
  int32_t size[3];   /* patch extent (z is 1 for 2D) */
  float fg_prob;
  int32_t pad; /* bfdk_pad_mode */
  float pad_value;
  int64_t label_pad;
  float flip_prob[3]; /* per axis, independent */
  float rot90_prob;   /* rotate by 90, 180 or 270 degrees in the (y, x) plane */
  float permute_prob; /* one of the permutations of the spatial axes */
  int32_t affine;     /* an affine op is in the list */
  float affine_prob;
  float rot_lo[3], rot_hi[3]; /* degrees, about the z, y and x axes (2D: z only) */
  float scale_lo, scale_hi;   /* magnification of the content */
  int32_t scale_iso;          /* one scale for all axes */
  float shear_lo, shear_hi;
  float shift_lo, shift_hi; /* translation in voxels, per axis */
  int32_t elastic;          /* an elastic op is in the list */
  float elastic_prob;
  int32_t spacing[3];   /* voxels between control points */
  float mag_lo, mag_hi; /* displacement std at the control points, voxels */
  int32_t n_iops;
  bfdk_img_iop iops[BFDK_IMG_MAX_OPS];
} bfdk_img_spec;

/* What both backends derive from (spec, batch) before running. */
typedef struct bfdk_img_dims {
  int32_t nd; /* spatial dimensions: 2 or 3 */
  int32_t C;
  int32_t B;
  int32_t src_dtype;   /* bfd_dtype */
  int32_t label_dtype; /* bfd_dtype, 0 without labels */
  int32_t out_dtype;   /* bfdk_fdtype */
  int32_t out_label_dtype;
  int32_t channels_last;
  int64_t src[3]; /* source extent */
  int64_t out[3]; /* patch extent */
  int64_t src_vox, out_vox;
  int64_t enodes[3]; /* elastic control points per axis */
  int32_t hist_bins; /* 256 or 65536 for integer data with image statistics; 0 otherwise */
  int32_t radix;     /* float data with image statistics: order statistics by radix selection */
  int32_t fused;     /* intensity ops [0, fused) run inside the resampling pass */
  uint64_t seed;
  uint32_t epoch;
} bfdk_img_dims;

/* Drawn per sample (see the geometry note at the top). */
typedef struct bfdk_img_sample {
  int32_t origin[3]; /* window origin in the source; negative or past the end is padding */
  int32_t win[3];    /* window extent */
  int32_t axis[3];   /* window axis that output axis i walks */
  int32_t rev[3];    /* ... backwards */
  int32_t interp;    /* 1: resample through Mo, b and the elastic field; 0: copy */
  int32_t elastic;
  float emag;     /* elastic displacement std, voxels */
  float Mo[3][3]; /* s[i] = b[i] + sum_j Mo[i][j] u[j], u the window coordinate along output axis j */
  float b[3];
  float ip[BFDK_IMG_MAX_OPS][3]; /* per intensity op: applied (0 or 1), drawn value, inverted (gamma) */
  int32_t blo[3], bn[3];         /* the source box the sample's buffer holds: origin and extent (whole: 0, src) */
} bfdk_img_sample;

/* A box of a source image: voxels [lo, lo + n) along z, y, x. */
typedef struct bfdk_img_box {
  int32_t lo[3];
  int32_t n[3];
} bfdk_img_box;

/* Per sample and channel, from the whole source image: normalize's x -> (x - a) / d. */
typedef struct bfdk_img_cstat {
  float a, d;
} bfdk_img_cstat;

/* Per sample and channel, from the current patch values: for contrast and gamma. */
typedef struct bfdk_img_pstat {
  float mean, mn, mx;
} bfdk_img_pstat;

/* A reduction chunk's partial result. */
typedef struct bfdk_img_partial {
  double sum, sumsq;
  float mn, mx;
} bfdk_img_partial;

/* Radix selection state of one wanted order statistic. */
typedef struct bfdk_img_radix {
  uint32_t prefix; /* key bits found so far (above the current digit) */
  uint32_t pad;
  uint64_t rank; /* rank still to skip within the prefix */
} bfdk_img_radix;

#endif
