/* Several datasets mixed by weights, sample by sample: position P of the
 * mixed stream belongs to dataset d, which there takes its k-th sample.
 *
 * The choice is a smooth weighted round robin (the nginx scheme) over
 * integer weights q_d: each step adds q_d to every dataset's credit, picks
 * the largest credit (ties: the lowest index) and takes the total Q from it.
 * It repeats every Q positions, each dataset appearing q_d times per period,
 * spread evenly. Why not a Philox draw per position: the round robin's
 * realized proportions stay within a few samples of the weights at every
 * prefix (a draw drifts like a random walk), and how many samples each
 * dataset has given before any position has a closed form, so a resume
 * state needs one position, not one counter per dataset.
 *
 * Weights are positive doubles, quantized to integers summing to 2^16
 * (largest remainder) and reduced by their gcd: proportions are exact to
 * 1/65536, and a weight below that share of the total is an error. */
#ifndef BFD_PLAN_MIX_H
#define BFD_PLAN_MIX_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define BFDI_MIX_MAX_DATASETS 1024
#define BFDI_MIX_QUANTUM 65536u

typedef struct bfdi_mix {
  size_t n;          /* datasets */
  uint32_t period;   /* Q = sum of q */
  uint32_t *q;       /* [n] integer weights */
  uint32_t *slot_ds; /* [Q] dataset at each position of the period */
  uint32_t *slot_k;  /* [Q] how many times that dataset came earlier in the period */
} bfdi_mix;

bfd_status bfdi_mix_init(bfdi_mix *m, const double *weights, size_t n);

/* Position pos of the mixed stream -> dataset and that dataset's sample
 * count before pos (its position in its own stream of epochs). */
void bfdi_mix_at(const bfdi_mix *m, uint64_t pos, uint32_t *dataset, uint64_t *k);

void bfdi_mix_free(bfdi_mix *m);

#endif
