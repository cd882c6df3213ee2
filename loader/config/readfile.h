/* Whole-file reads of configuration inputs (the job config, BED files),
 * with errors naming the file and what it was read for. */
#ifndef BFD_CONFIG_READFILE_H
#define BFD_CONFIG_READFILE_H

#include <stddef.h>

#include "core/error.h"

/* The file's bytes in *text (malloc'd, NUL-terminated), its length in *n;
 * `what` ("the job config", "window.bed") starts the error messages. */
bfd_status bfdi_read_text(const char *path, const char *what, char **text, size_t *n);

#endif
