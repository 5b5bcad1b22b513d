#include "common/timerq.h"
#include "common/alloc.h"

#include <string.h>

void firn_timerq_init(firn_timerq *q, const firn_allocator *alloc) {
  memset(q, 0, sizeof *q);
  firn_alloc_init(&q->alloc, alloc);
}

void firn_timerq_free(firn_timerq *q) {
  for (size_t i = 0; i < q->len; i++) q->heap[i]->index = (size_t)-1;
  firn_free(&q->alloc, q->heap);
  q->heap = NULL;
  q->len = q->cap = 0;
}

static int before(const firn_timer *a, const firn_timer *b) {
  return a->expiry < b->expiry || (a->expiry == b->expiry && a->seq < b->seq);
}

static void place(firn_timerq *q, size_t i, firn_timer *t) {
  q->heap[i] = t;
  t->index = i;
}

static void sift_up(firn_timerq *q, size_t i) {
  firn_timer *t = q->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(t, q->heap[parent])) break;
    place(q, i, q->heap[parent]);
    i = parent;
  }
  place(q, i, t);
}

static void sift_down(firn_timerq *q, size_t i) {
  firn_timer *t = q->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const firn_timer *best = t;
    if (l < q->len && before(q->heap[l], best)) { m = l; best = q->heap[l]; }
    if (r < q->len && before(q->heap[r], best)) { m = r; }
    if (m == i) break;
    place(q, i, q->heap[m]);
    i = m;
  }
  place(q, i, t);
}

static void remove_at(firn_timerq *q, size_t i) {
  firn_timer *t = q->heap[i];
  t->index = (size_t)-1;
  q->len--;
  if (i == q->len) return;
  place(q, i, q->heap[q->len]);
  if (i > 0 && before(q->heap[i], q->heap[(i - 1) / 2])) sift_up(q, i);
  else sift_down(q, i);
}

int firn_timerq_arm(firn_timerq *q, firn_timer *t, uint64_t expiry) {
  if (firn_timer_armed(t)) remove_at(q, t->index);
  if (q->len == q->cap) {
    size_t ncap = q->cap ? q->cap * 2 : 16;
    firn_timer **nh = firn_realloc(&q->alloc, q->heap, ncap * sizeof *nh);
    if (!nh) return FIRN_ERR_NOMEM;
    q->heap = nh;
    q->cap = ncap;
  }
  t->expiry = expiry;
  t->seq = q->next_seq++;
  q->heap[q->len] = t;
  t->index = q->len;
  q->len++;
  sift_up(q, t->index);
  return FIRN_OK;
}

void firn_timerq_cancel(firn_timerq *q, firn_timer *t) {
  if (firn_timer_armed(t) && t->index < q->len && q->heap[t->index] == t) remove_at(q, t->index);
}

uint64_t firn_timerq_expiry(const firn_timerq *q) {
  return q->len ? q->heap[0]->expiry : FIRN_TIME_NEVER;
}

firn_timer *firn_timerq_pop_expired(firn_timerq *q, uint64_t now) {
  if (!q->len || q->heap[0]->expiry > now) return NULL;
  firn_timer *t = q->heap[0];
  remove_at(q, 0);
  return t;
}
