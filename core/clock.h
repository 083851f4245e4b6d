#ifndef DW_CORE_CLOCK_H
#define DW_CORE_CLOCK_H

#include <stdint.h>

/*
 * The one place that reads the clock (STYLE: time is a parameter). Logic takes 'now' as an
 * argument; only cli/ (the agent's loop, the commands) calls these.
 */

/* Wall-clock time in milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_now_ms(void);
/* Monotonic time in nanoseconds (CLOCK_MONOTONIC), for durations and deadlines. */
int64_t clock_mono_ns(void);
/* CPU time the calling thread has used, in nanoseconds (CLOCK_THREAD_CPUTIME_ID). */
int64_t clock_thread_cpu_ns(void);

#endif
