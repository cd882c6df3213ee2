/* A deadline for blocking calls that cannot be given one themselves (MPI
 * collectives): arm before the call, disarm after; if a call stays armed
 * for the timeout, a thread runs the fire callback once. Arming and
 * disarming are two atomic stores (no lock, no wake-up), since they bracket
 * every collective; the thread looks every timeout / 10 (10 ms .. 1 s), so
 * it fires between timeout and timeout + that period after the arm. */
#ifndef BFD_DIST_WATCHDOG_H
#define BFD_DIST_WATCHDOG_H

#include "core/error.h"

typedef struct bfdi_watchdog bfdi_watchdog;

/* Runs on the watchdog's thread with the name passed to arm; may not return
 * (MPI_Abort). The watchdog is disarmed before it runs. */
typedef void (*bfdi_watchdog_fire_fn)(void *ctx, const char *op, double timeout_s);

bfd_status bfdi_watchdog_start(double timeout_s, bfdi_watchdog_fire_fn fire, void *ctx, bfdi_watchdog **out);
/* Joins the thread; a fire callback in progress finishes first. NULL is fine. */
void bfdi_watchdog_stop(bfdi_watchdog *w);

/* op: a static string naming the call, for the fire callback. */
void bfdi_watchdog_arm(bfdi_watchdog *w, const char *op);
void bfdi_watchdog_disarm(bfdi_watchdog *w);

#endif
