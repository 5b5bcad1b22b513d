/* Timer queue: an intrusive binary min-heap keyed by expiry time (ns).
 * Objects embed a firn_timer; the queue stores pointers to them and keeps each timer's
 * heap index, so re-arming and cancelling are O(log n) without searching. The queue
 * never reads a clock: callers pass `now` to firn_timerq_pop_expired(). */
#ifndef FIRN_COMMON_TIMERQ_H
#define FIRN_COMMON_TIMERQ_H

#include "firn/common.h"

typedef struct firn_timer {
  uint64_t expiry;  /* absolute ns */
  uint64_t seq;     /* insertion order: equal expiries fire first-armed first */
  size_t index;     /* position in the heap, SIZE_MAX when not armed */
} firn_timer;

typedef struct firn_timerq {
  firn_timer **heap;
  size_t len, cap;
  uint64_t next_seq;
  firn_allocator alloc;
} firn_timerq;

void firn_timerq_init(firn_timerq *q, const firn_allocator *alloc);
void firn_timerq_free(firn_timerq *q);
static inline void firn_timer_init(firn_timer *t) { t->expiry = 0; t->seq = 0; t->index = (size_t)-1; }
static inline int firn_timer_armed(const firn_timer *t) { return t->index != (size_t)-1; }
/* Arm (or re-arm) `t` to fire at `expiry`. FIRN_ERR_NOMEM if the heap cannot grow. */
int firn_timerq_arm(firn_timerq *q, firn_timer *t, uint64_t expiry);
/* Disarm `t` if armed. */
void firn_timerq_cancel(firn_timerq *q, firn_timer *t);
/* Earliest expiry, or FIRN_TIME_NEVER when empty. */
uint64_t firn_timerq_expiry(const firn_timerq *q);
/* Remove and return the earliest timer with expiry <= now, or NULL. */
firn_timer *firn_timerq_pop_expired(firn_timerq *q, uint64_t now);

#endif
