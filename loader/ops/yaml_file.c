/* One YAML document from a file, with errors naming the file and line. */
#include "ops/yaml_file.h"

#include <errno.h>
#include <stdio.h>

bfd_status bfdi_yaml_load_file(const char *path, const char *what, yaml_document_t *doc) {
  FILE *f = fopen(path, "rb");
  if (!f) return bfdi_fail_errno(errno, "cannot open %s %s", what, path);
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    fclose(f);
    return bfdi_fail(BFD_ERR_NOMEM, "%s: cannot start the YAML parser", path);
  }
  yaml_parser_set_input_file(&parser, f);
  bfd_status st = BFD_OK;
  if (!yaml_parser_load(&parser, doc))
    st = bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: YAML error: %s", path, (unsigned long)parser.problem_mark.line + 1,
                   parser.problem ? parser.problem : "malformed");
  yaml_parser_delete(&parser);
  fclose(f);
  return st;
}
