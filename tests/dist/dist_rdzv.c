/* The TCP rendezvous between separate processes, torchrun style: ranks from
 * RANK and WORLD_SIZE, rank 0 at MASTER_ADDR and BIOFEED_RDZV_PORT. Rank 0
 * shares 128 random bytes (an NCCL unique id's size); every rank writes
 * them in hex to OUT.RANK for run.sh to compare. `dist_rdzv port` prints a
 * port free on 127.0.0.1. Usage: dist_rdzv OUT | dist_rdzv port */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dist/launcher.h"
#include "dist/rdzv.h"

static int fail(const char *what) {
  fprintf(stderr, "dist_rdzv: %s: %s\n", what, bfd_last_error());
  return 1;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
    return 1;
  printf("%u\n", (unsigned)ntohs(a.sin_port));
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  if (strcmp(argv[1], "port") == 0) return free_port();
  bfdi_dist_env env;
  if (bfdi_dist_discover(NULL, bfdi_process_getenv, NULL, &env) != BFD_OK) return fail("rank discovery");
  unsigned char blob[128] = {0};
  if (env.rank == 0 && getrandom(blob, sizeof blob, 0) != (ssize_t)sizeof blob) return 1;
  if (bfdi_rdzv_share(env.master_addr, env.rdzv_port, env.rank, env.world_size, blob, sizeof blob, 30) != BFD_OK)
    return fail("rendezvous");
  char path[4096];
  snprintf(path, sizeof path, "%s.%u", argv[1], env.rank);
  FILE *f = fopen(path, "w");
  if (!f) return 1;
  for (size_t i = 0; i < sizeof blob; i++) fprintf(f, "%02x", blob[i]);
  fprintf(f, "\n");
  return fclose(f) == 0 ? 0 : 1;
}
