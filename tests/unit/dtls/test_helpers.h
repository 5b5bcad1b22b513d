/* Shared helpers for the DTLS-SRTP tests: a counting allocator that can fail the Nth call,
 * and RTP/RTCP packet builders. Header-only; each test includes it once. */
#ifndef FIRN_TEST_DTLS_HELPERS_H
#define FIRN_TEST_DTLS_HELPERS_H

#include <stdlib.h>
#include <string.h>

#include "firn/common.h"

typedef struct failing_alloc {
  long calls;   /* allocations attempted */
  long fail_at; /* 1-based call that fails; 0 = never */
  long live;    /* outstanding blocks */
} failing_alloc;

static void *fa_malloc(size_t size, void *user) {
  failing_alloc *f = user;
  f->calls++;
  if (f->fail_at && f->calls == f->fail_at) return NULL;
  void *p = malloc(size);
  if (p) f->live++;
  return p;
}

static void *fa_calloc(size_t n, size_t size, void *user) {
  failing_alloc *f = user;
  f->calls++;
  if (f->fail_at && f->calls == f->fail_at) return NULL;
  void *p = calloc(n, size);
  if (p) f->live++;
  return p;
}

static void fa_free(void *p, void *user) {
  failing_alloc *f = user;
  if (p) f->live--;
  free(p);
}

static inline firn_allocator fa_allocator(failing_alloc *f) {
  firn_allocator a = {fa_malloc, fa_calloc, NULL, fa_free, f};
  return a;
}

/* An RTP packet: V=2, PT 0, given seq/ts/ssrc, payload byte i = (seed + i) & 0xff. */
static inline size_t build_rtp(uint8_t *p, uint16_t seq, uint32_t ts, uint32_t ssrc,
                               size_t payload, uint8_t seed) {
  p[0] = 0x80;
  p[1] = 0x00;
  p[2] = (uint8_t)(seq >> 8), p[3] = (uint8_t)seq;
  p[4] = (uint8_t)(ts >> 24), p[5] = (uint8_t)(ts >> 16), p[6] = (uint8_t)(ts >> 8), p[7] = (uint8_t)ts;
  p[8] = (uint8_t)(ssrc >> 24), p[9] = (uint8_t)(ssrc >> 16), p[10] = (uint8_t)(ssrc >> 8);
  p[11] = (uint8_t)ssrc;
  for (size_t i = 0; i < payload; i++) p[12 + i] = (uint8_t)(seed + i);
  return 12 + payload;
}

/* An RTCP receiver report with one report block (32 bytes) from `ssrc`. */
static inline size_t build_rtcp_rr(uint8_t *p, uint32_t ssrc, uint8_t seed) {
  p[0] = 0x81; /* V=2, RC=1 */
  p[1] = 201;  /* RR */
  p[2] = 0, p[3] = 7; /* length in words - 1 */
  p[4] = (uint8_t)(ssrc >> 24), p[5] = (uint8_t)(ssrc >> 16), p[6] = (uint8_t)(ssrc >> 8);
  p[7] = (uint8_t)ssrc;
  for (size_t i = 8; i < 32; i++) p[i] = (uint8_t)(seed + i);
  return 32;
}

#endif
