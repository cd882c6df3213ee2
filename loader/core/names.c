/* Names of the public enums (element types, alphabets) and element sizes. */
#include "biofeed/pack.h"

size_t bfd_dtype_size(bfd_dtype t) {
  switch (t) {
    case BFD_DTYPE_UINT8: return 1;
    case BFD_DTYPE_UINT16:
    case BFD_DTYPE_INT16: return 2;
    case BFD_DTYPE_INT32:
    case BFD_DTYPE_UINT32:
    case BFD_DTYPE_FLOAT32: return 4;
    case BFD_DTYPE_INT64: return 8;
  }
  return 0;
}

const char *bfd_dtype_name(bfd_dtype t) {
  switch (t) {
    case BFD_DTYPE_UINT8: return "uint8";
    case BFD_DTYPE_UINT16: return "uint16";
    case BFD_DTYPE_INT16: return "int16";
    case BFD_DTYPE_INT32: return "int32";
    case BFD_DTYPE_UINT32: return "uint32";
    case BFD_DTYPE_INT64: return "int64";
    case BFD_DTYPE_FLOAT32: return "float32";
  }
  return "unknown";
}

const char *bfd_alphabet_name(bfd_alphabet a) {
  switch (a) {
    case BFD_ALPHABET_DNA: return "dna";
    case BFD_ALPHABET_RNA: return "rna";
    case BFD_ALPHABET_PROTEIN: return "protein";
    case BFD_ALPHABET_ANY: break;
  }
  return "any";
}
