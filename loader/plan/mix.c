/* Weight quantization and the smooth weighted round robin table of mix.h. */
#include "plan/mix.h"

#include <math.h>
#include <stdlib.h>

static uint32_t gcd(uint32_t a, uint32_t b) {
  while (b) {
    uint32_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

static bfd_status quantize(bfdi_mix *m, const double *w, size_t n) {
  double total = 0;
  for (size_t d = 0; d < n; d++) {
    if (!(w[d] > 0) || !isfinite(w[d]))
      return bfdi_fail(BFD_ERR_INVALID_ARG, "dataset %zu: weight %g; weights must be positive and finite", d, w[d]);
    total += w[d];
  }
  if (!isfinite(total)) return bfdi_fail(BFD_ERR_INVALID_ARG, "dataset weights sum to infinity; scale them down");
  double *frac = malloc(n * sizeof *frac);
  if (!frac) return bfdi_fail(BFD_ERR_NOMEM, "mix: out of memory for %zu weights", n);
  uint32_t sum = 0;
  for (size_t d = 0; d < n; d++) {
    double x = w[d] / total * BFDI_MIX_QUANTUM;
    double f = floor(x);
    m->q[d] = (uint32_t)f;
    frac[d] = x - f;
    sum += m->q[d];
  }
  /* Largest remainder, ties to the lowest index, until the shares sum to 2^16. */
  while (sum < BFDI_MIX_QUANTUM) {
    size_t best = 0;
    for (size_t d = 1; d < n; d++)
      if (frac[d] > frac[best]) best = d;
    m->q[best]++;
    frac[best] = -1;
    sum++;
  }
  free(frac);
  uint32_t g = 0;
  for (size_t d = 0; d < n; d++) {
    if (m->q[d] == 0)
      return bfdi_fail(BFD_ERR_INVALID_ARG,
                       "dataset %zu: weight %g is below 1/%u of the total %g; raise it or drop the dataset", d, w[d],
                       BFDI_MIX_QUANTUM, total);
    g = gcd(m->q[d], g);
  }
  m->period = 0;
  for (size_t d = 0; d < n; d++) {
    m->q[d] /= g;
    m->period += m->q[d];
  }
  return BFD_OK;
}

bfd_status bfdi_mix_init(bfdi_mix *m, const double *weights, size_t n) {
  *m = (bfdi_mix){0};
  if (!weights || n == 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "mix: no datasets");
  if (n > BFDI_MIX_MAX_DATASETS)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "mix of %zu datasets: at most %d are supported", n, BFDI_MIX_MAX_DATASETS);
  m->n = n;
  m->q = malloc(n * sizeof *m->q);
  if (!m->q) return bfdi_fail(BFD_ERR_NOMEM, "mix: out of memory for %zu weights", n);
  bfd_status st = quantize(m, weights, n);
  int64_t *credit = NULL;
  uint32_t *seen = NULL;
  if (st == BFD_OK) {
    m->slot_ds = malloc(m->period * sizeof *m->slot_ds);
    m->slot_k = malloc(m->period * sizeof *m->slot_k);
    credit = calloc(n, sizeof *credit);
    seen = calloc(n, sizeof *seen);
    if (!m->slot_ds || !m->slot_k || !credit || !seen)
      st = bfdi_fail(BFD_ERR_NOMEM, "mix: out of memory for a period of %u positions", m->period);
  }
  for (uint32_t t = 0; st == BFD_OK && t < m->period; t++) {
    size_t best = 0;
    for (size_t d = 0; d < n; d++) {
      credit[d] += m->q[d];
      if (credit[d] > credit[best]) best = d;
    }
    credit[best] -= m->period;
    m->slot_ds[t] = (uint32_t)best;
    m->slot_k[t] = seen[best]++;
  }
  free(credit);
  free(seen);
  if (st != BFD_OK) bfdi_mix_free(m);
  return st;
}

void bfdi_mix_at(const bfdi_mix *m, uint64_t pos, uint32_t *dataset, uint64_t *k) {
  uint64_t cycle = pos / m->period;
  uint32_t t = (uint32_t)(pos % m->period);
  *dataset = m->slot_ds[t];
  *k = cycle * m->q[m->slot_ds[t]] + m->slot_k[t];
}

void bfdi_mix_free(bfdi_mix *m) {
  free(m->q);
  free(m->slot_ds);
  free(m->slot_k);
  *m = (bfdi_mix){0};
}
