/* Exchange plans (xplan.h): two counting passes over the step's samples,
 * and the record framing on the wire. */
#include "dist/xplan.h"

#include <stdlib.h>
#include <string.h>

void bfdi_xplan_free(bfdi_xplan *p) {
  if (!p) return;
  free(p->send_off);
  free(p->send_idx);
  free(p->recv_off);
  free(p->recv_slot);
  memset(p, 0, sizeof *p);
}

bfd_status bfdi_xplan_build(uint32_t world, uint32_t rank, uint64_t n, const uint32_t *owner,
                            const uint32_t *consumer, bfdi_xplan *out) {
  memset(out, 0, sizeof *out);
  if (world == 0 || rank >= world || (n && (!owner || !consumer)))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "exchange plan: rank %u of %u with %llu samples: invalid arguments", rank,
                     world, (unsigned long long)n);
  uint64_t n_send = 0, n_recv = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (owner[i] >= world || consumer[i] >= world)
      return bfdi_fail(BFD_ERR_INVALID_ARG,
                       "exchange plan: sample %llu of the step has owner rank %u and consumer rank %u, but the world "
                       "has %u ranks",
                       (unsigned long long)i, owner[i], consumer[i], world);
    n_send += owner[i] == rank;
    n_recv += consumer[i] == rank;
  }
  out->world = world;
  out->rank = rank;
  out->n_slots = n_recv;
  out->send_off = calloc((size_t)world + 1, sizeof *out->send_off);
  out->recv_off = calloc((size_t)world + 1, sizeof *out->recv_off);
  out->send_idx = malloc((n_send ? n_send : 1) * sizeof *out->send_idx);
  out->recv_slot = malloc((n_recv ? n_recv : 1) * sizeof *out->recv_slot);
  if (!out->send_off || !out->recv_off || !out->send_idx || !out->recv_slot) {
    bfdi_xplan_free(out);
    return bfdi_fail(BFD_ERR_NOMEM, "exchange plan: out of memory for %u ranks and %llu samples", world,
                     (unsigned long long)n);
  }
  /* Counts, then start offsets, then a stable fill that advances them. */
  for (uint64_t i = 0; i < n; i++) {
    if (owner[i] == rank) out->send_off[consumer[i] + 1]++;
    if (consumer[i] == rank) out->recv_off[owner[i] + 1]++;
  }
  for (uint32_t r = 0; r < world; r++) {
    out->send_off[r + 1] += out->send_off[r];
    out->recv_off[r + 1] += out->recv_off[r];
  }
  uint64_t slot = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (owner[i] == rank) out->send_idx[out->send_off[consumer[i]]++] = i;
    if (consumer[i] == rank) out->recv_slot[out->recv_off[owner[i]]++] = slot++;
  }
  /* The fill moved each start to the next rank's start: shift back. */
  for (uint32_t r = world; r > 0; r--) {
    out->send_off[r] = out->send_off[r - 1];
    out->recv_off[r] = out->recv_off[r - 1];
  }
  out->send_off[0] = out->recv_off[0] = 0;
  return BFD_OK;
}

bfd_status bfdi_xplan_send_bytes(const bfdi_xplan *p, bfdi_xrecord_fn rec, void *ctx, uint64_t *send_bytes) {
  for (uint32_t d = 0; d < p->world; d++) {
    uint64_t total = 0;
    for (uint64_t k = p->send_off[d]; k < p->send_off[d + 1]; k++) {
      const void *data;
      uint64_t len;
      BFD_TRY(rec(ctx, p->send_idx[k], &data, &len));
      if (len > UINT64_MAX / 2 - total)
        return bfdi_fail(BFD_ERR_INVALID_ARG, "exchange: record %llu is %llu bytes: too large",
                         (unsigned long long)p->send_idx[k], (unsigned long long)len);
      total += bfdi_xframe_bytes(len);
    }
    send_bytes[d] = total;
  }
  return BFD_OK;
}

static void put_le64(uint8_t *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
  return v;
}

bfd_status bfdi_xplan_pack(const bfdi_xplan *p, bfdi_xrecord_fn rec, void *ctx, void *buf, uint64_t cap) {
  uint8_t *out = buf;
  uint64_t off = 0;
  for (uint64_t k = 0; k < p->send_off[p->world]; k++) {
    const void *data;
    uint64_t len;
    BFD_TRY(rec(ctx, p->send_idx[k], &data, &len));
    uint64_t frame = bfdi_xframe_bytes(len);
    if (frame > cap - off)
      return bfdi_fail(BFD_ERR_INVALID_ARG,
                       "exchange: the send buffer (%llu bytes) is too small at record %llu: size it with "
                       "bfdi_xplan_send_bytes",
                       (unsigned long long)cap, (unsigned long long)p->send_idx[k]);
    put_le64(out + off, len);
    if (len) memcpy(out + off + 8, data, (size_t)len);
    memset(out + off + 8 + len, 0, (size_t)(frame - 8 - len));
    off += frame;
  }
  return BFD_OK;
}

bfd_status bfdi_xplan_unpack(const bfdi_xplan *p, const void *buf, const uint64_t *recv_bytes, bfdi_xdeliver_fn deliver,
                             void *ctx) {
  const uint8_t *in = buf;
  uint64_t off = 0;
  for (uint32_t s = 0; s < p->world; s++) {
    uint64_t end = off + recv_bytes[s];
    for (uint64_t k = p->recv_off[s]; k < p->recv_off[s + 1]; k++) {
      if (end - off < 8)
        return bfdi_fail(BFD_ERR_CORRUPT,
                         "exchange: rank %u sent %llu bytes, which end before its record %llu of %llu (byte %llu of "
                         "the receive buffer): sender and receiver planned different steps",
                         s, (unsigned long long)recv_bytes[s], (unsigned long long)(k - p->recv_off[s] + 1),
                         (unsigned long long)(p->recv_off[s + 1] - p->recv_off[s]), (unsigned long long)off);
      uint64_t len = get_le64(in + off);
      if (len > end - off - 8 || bfdi_xframe_bytes(len) > end - off)
        return bfdi_fail(BFD_ERR_CORRUPT,
                         "exchange: a record from rank %u at byte %llu of the receive buffer says %llu bytes, past the "
                         "%llu bytes that rank sent",
                         s, (unsigned long long)off, (unsigned long long)len, (unsigned long long)recv_bytes[s]);
      BFD_TRY(deliver(ctx, p->recv_slot[k], in + off + 8, len));
      off += bfdi_xframe_bytes(len);
    }
    if (off != end)
      return bfdi_fail(BFD_ERR_CORRUPT,
                       "exchange: rank %u sent %llu bytes more than its %llu planned records: sender and receiver "
                       "planned different steps",
                       s, (unsigned long long)(end - off), (unsigned long long)(p->recv_off[s + 1] - p->recv_off[s]));
  }
  return BFD_OK;
}
