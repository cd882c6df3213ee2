/* FASTA/FASTQ reader for `pack`: plain, gzip or BGZF through htslib's BGZF
 * layer, one record at a time, checking the alphabet as lines arrive so that
 * errors can name file, line and column. */
#ifndef BFD_INGEST_FASTX_H
#define BFD_INGEST_FASTX_H

#include <stddef.h>
#include <stdint.h>

#include "biofeed/pack.h"

typedef struct bfdi_fastx bfdi_fastx;

/* One record; the buffers belong to the reader and stay valid until the
 * next bfdi_fastx_next or bfdi_fastx_close. */
typedef struct bfdi_seqrec {
  const char *name;      /* the header line without '>' or '@', NUL-terminated */
  size_t name_len;
  const uint8_t *seq;    /* bytes as in the input, line breaks removed */
  size_t seq_len;
  const uint8_t *qual;   /* FASTQ only, same length as seq; NULL for FASTA */
  uint64_t line;         /* 1-based line number of the header */
} bfdi_seqrec;

bfd_status bfdi_fastx_open(const char *path, bfd_alphabet alphabet, bfd_invalid_policy on_invalid,
                           bfdi_fastx **out);

/* Sets *got to 1 and fills rec with the next record, or sets *got to 0 at the
 * end of the file. Records with invalid characters are skipped (and counted)
 * under BFD_INVALID_DROP. */
bfd_status bfdi_fastx_next(bfdi_fastx *f, bfdi_seqrec *rec, int *got);

int bfdi_fastx_is_fastq(const bfdi_fastx *f);
/* Compressed (on-disk) bytes consumed so far, for progress. */
uint64_t bfdi_fastx_bytes_in(const bfdi_fastx *f);
uint64_t bfdi_fastx_dropped(const bfdi_fastx *f);   /* records dropped for invalid characters */
uint64_t bfdi_fastx_replaced(const bfdi_fastx *f);  /* bytes replaced */
void bfdi_fastx_close(bfdi_fastx *f);

#endif
