/* The `biofeed` command's subcommands; each returns the process exit status:
 * 0 success, 1 the data is bad (verify found problems, pack rejected its
 * input), 2 usage or environment errors. */
#ifndef BFD_CLI_H
#define BFD_CLI_H

#include "biofeed/biofeed.h"

int bfd_cli_pack(int argc, char **argv);
int bfd_cli_inspect(int argc, char **argv);
int bfd_cli_verify(int argc, char **argv);

/* Prints "biofeed <cmd>: <last error>" and returns the exit status for s. */
int bfd_cli_fail(const char *cmd, bfd_status s);

#endif
