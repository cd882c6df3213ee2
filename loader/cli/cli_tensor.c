/* Reading DLPack tensors on the host for `biofeed run`: element size and
 * count, whether the CPU can read the memory, and elements by C-order index
 * or by coordinates (strides honoured), widened to double. */
#include <math.h>
#include <string.h>

#include "cli/cli.h"

int bfd_cli_tensor_host(const DLTensor *t) {
  return t->device.device_type == kDLCPU || t->device.device_type == kDLCUDAHost;
}

size_t bfd_cli_tensor_elsize(const DLTensor *t) { return ((size_t)t->dtype.bits * t->dtype.lanes + 7) / 8; }

uint64_t bfd_cli_tensor_numel(const DLTensor *t) {
  uint64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= (uint64_t)t->shape[i];
  return n;
}

int bfd_cli_tensor_contiguous(const DLTensor *t) {
  int64_t want = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] != 1 && t->strides[i] != want) return 0;
    want *= t->shape[i];
  }
  return 1;
}

const void *bfd_cli_tensor_ptr(const DLTensor *t, const int64_t *idx) {
  int64_t off = 0;
  for (int i = 0; i < t->ndim; i++) off += idx[i] * t->strides[i];
  return (const char *)t->data + t->byte_offset + off * (int64_t)bfd_cli_tensor_elsize(t);
}

const void *bfd_cli_tensor_ptr_linear(const DLTensor *t, uint64_t i) {
  int64_t off = 0;
  for (int k = t->ndim - 1; k >= 0; k--) {
    off += (int64_t)(i % (uint64_t)t->shape[k]) * t->strides[k];
    i /= (uint64_t)t->shape[k];
  }
  return (const char *)t->data + t->byte_offset + off * (int64_t)bfd_cli_tensor_elsize(t);
}

static double half_to_double(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  double v;
  if (exp == 0) v = man / 1024.0 / 16384.0; /* subnormal: man * 2^-24 */
  else if (exp == 31) v = man ? (double)NAN : (double)INFINITY;
  else v = (1.0 + man / 1024.0) * (double)(1u << exp) / 32768.0; /* 2^(exp-15) */
  return sign ? -v : v;
}

static double value(DLDataType d, const void *p) {
  switch (d.code) {
    case kDLFloat:
      if (d.bits == 32) {
        float f;
        memcpy(&f, p, 4);
        return f;
      }
      if (d.bits == 64) {
        double f;
        memcpy(&f, p, 8);
        return f;
      }
      if (d.bits == 16) {
        uint16_t h;
        memcpy(&h, p, 2);
        return half_to_double(h);
      }
      break;
    case kDLBfloat:
      if (d.bits == 16) {
        uint16_t h;
        memcpy(&h, p, 2);
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
      }
      break;
    case kDLInt:
      switch (d.bits) {
        case 8: return *(const int8_t *)p;
        case 16: { int16_t v; memcpy(&v, p, 2); return v; }
        case 32: { int32_t v; memcpy(&v, p, 4); return v; }
        case 64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
      }
      break;
    case kDLUInt:
      switch (d.bits) {
        case 8: return *(const uint8_t *)p;
        case 16: { uint16_t v; memcpy(&v, p, 2); return v; }
        case 32: { uint32_t v; memcpy(&v, p, 4); return v; }
        case 64: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
      }
      break;
  }
  return NAN;
}

double bfd_cli_tensor_f64(const DLTensor *t, const int64_t *idx) { return value(t->dtype, bfd_cli_tensor_ptr(t, idx)); }

double bfd_cli_tensor_f64_linear(const DLTensor *t, uint64_t i) {
  return value(t->dtype, bfd_cli_tensor_ptr_linear(t, i));
}

double bfd_cli_tensor_sum(const DLTensor *t) {
  double s = 0;
  uint64_t n = bfd_cli_tensor_numel(t);
  for (uint64_t i = 0; i < n; i++) s += bfd_cli_tensor_f64_linear(t, i);
  return s;
}
