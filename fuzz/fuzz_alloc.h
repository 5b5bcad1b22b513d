/*
 * The counting allocator the fuzz harnesses plug into firn's allocator hooks: it tracks live
 * bytes, live blocks and the peak (so a harness can assert that nothing leaks and that no
 * input grows memory past a cap), and can fail the n-th allocation after it is armed (and,
 * with fail_after, every one after it). Header-only: each harness gets its own copy.
 */
#ifndef FIRN_FUZZ_ALLOC_H
#define FIRN_FUZZ_ALLOC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firn/common.h"

typedef struct counting_alloc {
  size_t live, peak;
  long blocks;
  unsigned calls;     /* allocations since failures were armed */
  unsigned fail_at;   /* 0: never; n: the n-th allocation after setup fails */
  int fail_after;     /* ... and every one after it */
  int armed;
} counting_alloc;

#define FUZZ_ALLOC_HDR 16

static int ca_fail(counting_alloc *a) {
  if (!a->armed || !a->fail_at)
    return 0;
  a->calls++;
  return a->calls == a->fail_at || (a->fail_after && a->calls > a->fail_at);
}

static void *ca_malloc(size_t size, void *user) {
  counting_alloc *a = user;
  if (ca_fail(a))
    return NULL;
  uint8_t *p = malloc(size + FUZZ_ALLOC_HDR);
  if (!p)
    return NULL;
  memcpy(p, &size, sizeof size);
  a->live += size;
  a->blocks++;
  if (a->live > a->peak)
    a->peak = a->live;
  return p + FUZZ_ALLOC_HDR;
}

static void *ca_calloc(size_t n, size_t size, void *user) {
  if (size && n > SIZE_MAX / size)
    return NULL;
  void *p = ca_malloc(n * size, user);
  if (p)
    memset(p, 0, n * size);
  return p;
}

static void ca_free(void *ptr, void *user) {
  counting_alloc *a = user;
  if (!ptr)
    return;
  uint8_t *p = (uint8_t *)ptr - FUZZ_ALLOC_HDR;
  size_t size;
  memcpy(&size, p, sizeof size);
  a->live -= size;
  a->blocks--;
  free(p);
}

static void *ca_realloc(void *ptr, size_t size, void *user) {
  if (!ptr)
    return ca_malloc(size, user);
  counting_alloc *a = user;
  if (ca_fail(a))
    return NULL;
  uint8_t *old = (uint8_t *)ptr - FUZZ_ALLOC_HDR;
  size_t old_size;
  memcpy(&old_size, old, sizeof old_size);
  uint8_t *p = realloc(old, size + FUZZ_ALLOC_HDR);
  if (!p)
    return NULL;
  memcpy(p, &size, sizeof size);
  a->live = a->live - old_size + size;
  if (a->live > a->peak)
    a->peak = a->live;
  return p + FUZZ_ALLOC_HDR;
}

/* Point `al` at the counting allocator `a` (zero it first to start counting from nothing). */
static inline void fuzz_alloc_hooks(firn_allocator *al, counting_alloc *a) {
  al->malloc = ca_malloc;
  al->calloc = ca_calloc;
  al->realloc = ca_realloc;
  al->free = ca_free;
  al->user = a;
}

#endif
