/* Private declarations of libprotectlambda_monitor.so (see docs/monitor.md). */
#ifndef PL_MONITOR_INTERNAL_H
#define PL_MONITOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mon_util.h"

#define PL_MON_EXPORT __attribute__((visibility("default")))

enum pl_mon_pol { PL_MON_ALLOW, PL_MON_LOG, PL_MON_DENY };

/* event classes (cls in the wire format) */
#define PL_MON_CLS_PROCESS "process"
#define PL_MON_CLS_FILES "files"
#define PL_MON_CLS_TRAVERSAL "traversal"
#define PL_MON_CLS_WRITES "writes"
#define PL_MON_CLS_SOURCE "source_read"
#define PL_MON_CLS_NETWORK "network"
#define PL_MON_CLS_LIBRARY "library"

/* make sure the library is initialised (constructor, or lazily from an early hook);
 * false while the monitor is inactive or initialising (hooks then pass through) */
PL_MON_HIDDEN bool pl_mon_ready(void);

/* thread-local re-entrancy guard: hooks do their own work only at depth 0 */
PL_MON_HIDDEN bool pl_mon_enter(void);
PL_MON_HIDDEN void pl_mon_leave(void);

/* send one event (never blocks; counts drops). argv may be NULL. */
PL_MON_HIDDEN void pl_mon_emit(const char *type, const char *sev, const char *act,
                               const char *cls, const char *what, char *const *argv,
                               const char *why);

#endif
