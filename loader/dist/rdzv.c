/* The TCP rendezvous (rdzv.h). Non-blocking sockets and poll(2) against one
 * monotonic deadline, so no step can wait past timeout_s. Wire format, big
 * endian: hello = magic, version, rank, world, blob length (5 x u32); answer
 * = magic, status, world, blob length (4 x u32), then the blob when the
 * status is 0. */
#include "dist/rdzv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x4246525Au /* "BFRZ" */
#define VERSION 1u
#define HELLO_BYTES 20
#define ANSWER_BYTES 16
/* Connections beyond the ranks still expected (port scanners, strays) are
 * closed at once. */
#define EXTRA_CONNS 64

enum { ST_OK = 0, ST_WORLD, ST_DUP, ST_RANK, ST_LEN, ST_VERSION, ST_ABORTED };

static const char *status_text(uint32_t s) {
  switch (s) {
    case ST_WORLD: return "its world size differs from rank 0's";
    case ST_DUP: return "another process already claimed its rank";
    case ST_RANK: return "its rank is not in 1 .. world size - 1";
    case ST_LEN: return "its blob size differs from rank 0's (different biofeed or NCCL versions?)";
    case ST_VERSION: return "it speaks another rendezvous version (different biofeed versions?)";
    case ST_ABORTED: return "rank 0 gave up because another rank was refused (see rank 0's error)";
  }
  return "unknown status";
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int ms_left(double deadline) {
  double left = deadline - now_s();
  if (left <= 0) return 0;
  return left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
}

static void put32(uint8_t *p, uint32_t v) {
  v = htonl(v);
  memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return ntohl(v);
}

/* Moves n bytes through a non-blocking socket by the deadline: 0, an errno
 * value, or -1 when the peer closed the connection. */
static int full_io(int fd, void *buf, size_t n, int writing, double deadline) {
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t k = writing ? send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) : recv(fd, p, n, MSG_DONTWAIT);
    if (k > 0) {
      p += k;
      n -= (size_t)k;
      continue;
    }
    if (k == 0 && !writing) return -1;
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return errno == EPIPE ? -1 : errno;
    struct pollfd pf = {fd, (short)(writing ? POLLOUT : POLLIN), 0};
    int left = ms_left(deadline);
    if (left == 0) return ETIMEDOUT;
    int r = poll(&pf, 1, left);
    if (r < 0 && errno != EINTR) return errno;
  }
  return 0;
}

static int is_loopback(const char *addr) {
  struct in_addr a4;
  struct in6_addr a6;
  if (strcmp(addr, "localhost") == 0) return 1;
  if (inet_pton(AF_INET, addr, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, addr, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return 0;
}

static int listen_on(const struct sockaddr *sa, socklen_t len, int v6_dual, int *err) {
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6_dual) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (bind(fd, sa, len) != 0 || listen(fd, SOMAXCONN) != 0) {
    *err = errno;
    close(fd);
    return -1;
  }
  return fd;
}

static bfd_status open_listener(const char *addr, uint16_t port, int *out) {
  int err = 0, fd = -1;
  if (is_loopback(addr)) {
    char ps[8];
    snprintf(ps, sizeof ps, "%u", (unsigned)port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(addr, ps, &hints, &ai);
    if (g != 0)
      return bfdi_fail(BFD_ERR_IO, "rendezvous: cannot resolve %s: %s", addr, gai_strerror(g));
    for (struct addrinfo *p = ai; p && fd < 0; p = p->ai_next) fd = listen_on(p->ai_addr, p->ai_addrlen, 0, &err);
    freeaddrinfo(ai);
  } else {
    struct sockaddr_in6 s6 = {0};
    s6.sin6_family = AF_INET6;
    s6.sin6_addr = in6addr_any;
    s6.sin6_port = htons(port);
    fd = listen_on((const struct sockaddr *)&s6, sizeof s6, 1, &err);
    if (fd < 0) {
      struct sockaddr_in s4 = {0};
      s4.sin_family = AF_INET;
      s4.sin_addr.s_addr = htonl(INADDR_ANY);
      s4.sin_port = htons(port);
      fd = listen_on((const struct sockaddr *)&s4, sizeof s4, 0, &err);
    }
  }
  if (fd < 0) {
    if (err == EADDRINUSE)
      return bfdi_fail(BFD_ERR_IO,
                       "rendezvous: rank 0 cannot listen on port %u: another program uses it (under torchrun, "
                       "MASTER_PORT belongs to torch.distributed); pick a free port with BIOFEED_RDZV_PORT",
                       (unsigned)port);
    return bfdi_fail_errno(err, "rendezvous: rank 0 cannot listen on %s port %u", addr, (unsigned)port);
  }
  *out = fd;
  return BFD_OK;
}

typedef struct peer {
  int fd;
  uint8_t hello[HELLO_BYTES];
  size_t got;
} peer;

/* Tells a peer the outcome (and the blob when it is ST_OK) and closes it;
 * best effort, since a refused or aborted peer fails either way. */
static void answer(int fd, uint32_t status, uint32_t world, const void *blob, size_t len, double deadline) {
  uint8_t a[ANSWER_BYTES];
  put32(a, MAGIC);
  put32(a + 4, status);
  put32(a + 8, world);
  put32(a + 12, (uint32_t)len);
  if (full_io(fd, a, sizeof a, 1, deadline) == 0 && status == ST_OK) full_io(fd, (void *)blob, len, 1, deadline);
  close(fd);
}

/* A complete hello from pending peer p: ST_OK and its rank, a refusal, or
 * UINT32_MAX for a stranger that is simply dropped. */
static uint32_t judge(const peer *p, const peer *ranked, uint32_t world, size_t len, uint32_t *rank) {
  if (get32(p->hello) != MAGIC) return UINT32_MAX;
  if (get32(p->hello + 4) != VERSION) return ST_VERSION;
  *rank = get32(p->hello + 8);
  if (get32(p->hello + 12) != world) return ST_WORLD;
  if (*rank == 0 || *rank >= world) return ST_RANK;
  if (get32(p->hello + 16) != len) return ST_LEN;
  if (ranked[*rank].fd >= 0) return ST_DUP;
  return ST_OK;
}

static bfd_status serve(const char *addr, uint16_t port, uint32_t world, const void *blob, size_t len,
                        double deadline, double timeout_s) {
  int lfd = -1;
  BFD_TRY(open_listener(addr, port, &lfd));
  size_t max_pending = (size_t)world + EXTRA_CONNS;
  peer *ranked = malloc(world * sizeof *ranked);
  peer *pend = malloc(max_pending * sizeof *pend);
  struct pollfd *pf = malloc((max_pending + 1) * sizeof *pf);
  if (!ranked || !pend || !pf) {
    free(ranked), free(pend), free(pf);
    close(lfd);
    return bfdi_fail(BFD_ERR_NOMEM, "rendezvous: out of memory for %u ranks", world);
  }
  for (uint32_t r = 0; r < world; r++) ranked[r].fd = -1;
  size_t n_pend = 0;
  uint32_t arrived = 0;
  bfd_status st = BFD_OK;
  while (st == BFD_OK && arrived < world - 1) {
    int left = ms_left(deadline);
    if (left == 0) {
      char missing[256] = "";
      size_t m = 0, shown = 0;
      for (uint32_t r = 1; r < world && m + 16 < sizeof missing; r++)
        if (ranked[r].fd < 0) m += (size_t)snprintf(missing + m, sizeof missing - m, "%s%u", shown++ ? ", " : "", r);
      st = bfdi_fail(BFD_ERR_IO,
                     "rendezvous at %s port %u: after %g s, %u of %u ranks had not connected (ranks %s%s): they "
                     "failed to start, were given another MASTER_ADDR or port, or a firewall blocks the port",
                     addr, (unsigned)port, timeout_s, world - 1 - arrived, world - 1, missing,
                     world - 1 - arrived > shown ? ", ..." : "");
      break;
    }
    pf[0] = (struct pollfd){lfd, POLLIN, 0};
    for (size_t i = 0; i < n_pend; i++) pf[i + 1] = (struct pollfd){pend[i].fd, POLLIN, 0};
    if (poll(pf, n_pend + 1, left) < 0) {
      if (errno != EINTR) st = bfdi_fail_errno(errno, "rendezvous: poll failed");
      continue;
    }
    for (size_t i = n_pend; i-- > 0;) {
      if (!pf[i + 1].revents) continue;
      peer *p = &pend[i];
      ssize_t k = recv(p->fd, p->hello + p->got, HELLO_BYTES - p->got, MSG_DONTWAIT);
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      int drop = k <= 0;
      if (k > 0) p->got += (size_t)k;
      if (!drop && p->got == HELLO_BYTES) {
        uint32_t rank = 0, verdict = judge(p, ranked, world, len, &rank);
        if (verdict == ST_OK) {
          ranked[rank] = *p;
          arrived++;
        } else if (verdict != UINT32_MAX && st == BFD_OK) {
          answer(p->fd, verdict, world, NULL, len, deadline);
          st = bfdi_fail(BFD_ERR_INVALID_ARG,
                         "rendezvous at %s port %u: refused a process that says it is rank %u of %u with a %u-byte "
                         "blob (rank 0 has world size %u, %zu bytes): %s; check RANK and WORLD_SIZE on every node",
                         addr, (unsigned)port, rank, get32(p->hello + 12), get32(p->hello + 16), world, len,
                         status_text(verdict));
        } else {
          close(p->fd);
        }
        pend[i] = pend[--n_pend];
      } else if (drop) {
        close(p->fd);
        pend[i] = pend[--n_pend];
      }
    }
    if (st == BFD_OK && (pf[0].revents & POLLIN)) {
      int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0 && n_pend < max_pending) {
        pend[n_pend].fd = fd;
        pend[n_pend].got = 0;
        n_pend++;
      } else if (fd >= 0) {
        close(fd);
      }
    }
  }
  uint32_t outcome = st == BFD_OK ? ST_OK : ST_ABORTED;
  for (uint32_t r = 1; r < world; r++)
    if (ranked[r].fd >= 0) answer(ranked[r].fd, outcome, world, blob, len, deadline);
  for (size_t i = 0; i < n_pend; i++) answer(pend[i].fd, ST_ABORTED, world, NULL, len, deadline);
  close(lfd);
  free(ranked), free(pend), free(pf);
  return st;
}

/* One connection attempt: 0 and a connected socket, or an errno value. */
static int try_connect(const struct addrinfo *ai, double deadline, int *out) {
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      int e = errno;
      close(fd);
      return e;
    }
    struct pollfd pf = {fd, POLLOUT, 0};
    int left = ms_left(deadline);
    int r = left ? poll(&pf, 1, left > 2000 ? 2000 : left) : 0;
    int e = 0;
    socklen_t el = sizeof e;
    if (r <= 0) e = r == 0 ? ETIMEDOUT : errno;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0) e = errno;
    if (e) {
      close(fd);
      return e;
    }
  }
  *out = fd;
  return 0;
}

static bfd_status join(const char *addr, uint16_t port, uint32_t rank, uint32_t world, void *blob, size_t len,
                       double deadline, double timeout_s) {
  char ps[8];
  snprintf(ps, sizeof ps, "%u", (unsigned)port);
  char last[200] = "rank 0 never answered";
  double backoff = 0.01;
  while (ms_left(deadline) > 0) {
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(addr, ps, &hints, &ai);
    if (g != 0) {
      snprintf(last, sizeof last, "cannot resolve %s: %s", addr, gai_strerror(g));
    }
    int fd = -1, e = 0;
    for (struct addrinfo *p = ai; p && fd < 0; p = p->ai_next) e = try_connect(p, deadline, &fd);
    if (ai) freeaddrinfo(ai);
    if (fd < 0 && g == 0) snprintf(last, sizeof last, "cannot connect: %s", strerror(e));
    if (fd >= 0) {
      uint8_t h[HELLO_BYTES], a[ANSWER_BYTES];
      put32(h, MAGIC);
      put32(h + 4, VERSION);
      put32(h + 8, rank);
      put32(h + 12, world);
      put32(h + 16, (uint32_t)len);
      int io = full_io(fd, h, sizeof h, 1, deadline);
      if (io == 0) io = full_io(fd, a, sizeof a, 0, deadline);
      if (io == 0 && get32(a) != MAGIC) {
        close(fd);
        return bfdi_fail(BFD_ERR_IO,
                         "rendezvous: the program at %s port %u is not a biofeed rank 0 (under torchrun, MASTER_PORT "
                         "belongs to torch.distributed; the rendezvous uses BIOFEED_RDZV_PORT or MASTER_PORT + 1)",
                         addr, (unsigned)port);
      }
      if (io == 0 && get32(a + 4) != ST_OK) {
        close(fd);
        return bfdi_fail(BFD_ERR_INVALID_ARG,
                         "rendezvous at %s port %u: rank 0 (world size %u) refused rank %u of %u: %s", addr,
                         (unsigned)port, get32(a + 8), rank, world, status_text(get32(a + 4)));
      }
      if (io == 0) io = full_io(fd, blob, len, 0, deadline);
      close(fd);
      if (io == 0) return BFD_OK;
      snprintf(last, sizeof last, "%s", io < 0 ? "rank 0 closed the connection early" : strerror(io));
    }
    double pause = backoff;
    double left = deadline - now_s();
    if (pause > left) pause = left > 0 ? left : 0;
    struct timespec ts = {(time_t)pause, (long)((pause - (double)(time_t)pause) * 1e9)};
    nanosleep(&ts, NULL);
    backoff = backoff * 2 > 0.5 ? 0.5 : backoff * 2;
  }
  return bfdi_fail(BFD_ERR_IO,
                   "rendezvous: rank %u of %u could not reach rank 0 at %s port %u within %g s (%s): check that rank "
                   "0 runs, that MASTER_ADDR names its host and that the port is open between the nodes",
                   rank, world, addr, (unsigned)port, timeout_s, last);
}

bfd_status bfdi_rdzv_share(const char *addr, uint16_t port, uint32_t rank, uint32_t world, void *blob, size_t len,
                           double timeout_s) {
  if (world == 0 || rank >= world || len == 0 || len > BFDI_RDZV_MAX_BLOB || !blob || !(timeout_s > 0))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "rendezvous: rank %u of %u, %zu bytes (1 .. %d), timeout %g s: invalid",
                     rank, world, len, BFDI_RDZV_MAX_BLOB, timeout_s);
  if (world == 1) return BFD_OK;
  if (!addr || !addr[0] || port == 0)
    return bfdi_fail(BFD_ERR_INVALID_ARG,
                     "rendezvous: no address or port for rank 0: set MASTER_ADDR (rank 0's host) and MASTER_PORT, "
                     "or BIOFEED_RDZV_PORT");
  double deadline = now_s() + timeout_s;
  if (rank == 0) return serve(addr, port, world, blob, len, deadline, timeout_s);
  return join(addr, port, rank, world, blob, len, deadline, timeout_s);
}
