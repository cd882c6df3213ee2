/* The deadline thread (watchdog.h). The armed call is a monotonic time
 * stamp in an atomic (0: none); the thread wakes periodically, and fires
 * only if it can clear the very stamp it found expired, so a call that
 * ended (or a new one that started) in between is never blamed. A
 * condition variable only serves to stop the thread promptly. */
#include "dist/watchdog.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

struct bfdi_watchdog {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop;
  double timeout_s;
  uint64_t timeout_ns, period_ns;
  bfdi_watchdog_fire_fn fire;
  void *ctx;
  _Atomic uint64_t armed_at; /* ns on CLOCK_MONOTONIC, 0: disarmed */
  _Atomic(const char *) op;
};

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *watch(void *arg) {
  bfdi_watchdog *w = arg;
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    uint64_t wake = now_ns() + w->period_ns;
    struct timespec ts = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    if (w->stop) break;
    uint64_t at = atomic_load(&w->armed_at);
    if (at == 0 || now_ns() - at < w->timeout_ns) continue;
    if (!atomic_compare_exchange_strong(&w->armed_at, &at, 0)) continue;
    const char *op = atomic_load(&w->op);
    pthread_mutex_unlock(&w->mu);
    w->fire(w->ctx, op, w->timeout_s);
    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

bfd_status bfdi_watchdog_start(double timeout_s, bfdi_watchdog_fire_fn fire, void *ctx, bfdi_watchdog **out) {
  *out = NULL;
  if (!(timeout_s > 0) || timeout_s > 1e9 || !fire)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "watchdog: timeout %g s must be in (0, 1e9] and fire set", timeout_s);
  bfdi_watchdog *w = calloc(1, sizeof *w);
  if (!w) return bfdi_fail(BFD_ERR_NOMEM, "watchdog: out of memory");
  w->timeout_s = timeout_s;
  w->timeout_ns = (uint64_t)(timeout_s * 1e9);
  w->period_ns = w->timeout_ns / 10;
  if (w->period_ns < 10000000u) w->period_ns = 10000000u;
  if (w->period_ns > 1000000000u) w->period_ns = 1000000000u;
  w->fire = fire;
  w->ctx = ctx;
  atomic_init(&w->armed_at, 0);
  atomic_init(&w->op, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&w->mu, NULL);
  /* Signals meant for the program must not land on this thread. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&w->thread, NULL, watch, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    return bfdi_fail_errno(rc, "watchdog: cannot start its thread");
  }
  *out = w;
  return BFD_OK;
}

void bfdi_watchdog_stop(bfdi_watchdog *w) {
  if (!w) return;
  pthread_mutex_lock(&w->mu);
  w->stop = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

void bfdi_watchdog_arm(bfdi_watchdog *w, const char *op) {
  atomic_store(&w->op, op);
  uint64_t t = now_ns();
  atomic_store(&w->armed_at, t ? t : 1);
}

void bfdi_watchdog_disarm(bfdi_watchdog *w) { atomic_store(&w->armed_at, 0); }
