/* Loading one YAML document from a file, for the op settings files (a job
 * config embeds the same mappings and parses them from its own document). */
#ifndef BFD_OPS_YAML_FILE_H
#define BFD_OPS_YAML_FILE_H

#include <yaml.h>

#include "core/error.h"

/* On success the caller owns *doc (yaml_document_delete). `what` names the
 * kind of file in messages, e.g. "sequence config". */
bfd_status bfdi_yaml_load_file(const char *path, const char *what, yaml_document_t *doc);

#endif
