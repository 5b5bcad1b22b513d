#include "common/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

static void *std_malloc(size_t size, void *user) { (void)user; return malloc(size); }
static void *std_calloc(size_t n, size_t size, void *user) { (void)user; return calloc(n, size); }
static void *std_realloc(void *p, size_t size, void *user) { (void)user; return realloc(p, size); }
static void std_free(void *p, void *user) { (void)user; free(p); }

void firn_alloc_init(firn_allocator *out, const firn_allocator *in) {
  if (in && in->malloc && in->free) {
    *out = *in;
  } else {
    out->malloc = std_malloc;
    out->calloc = std_calloc;
    out->realloc = std_realloc;
    out->free = std_free;
    out->user = NULL;
  }
}

void *firn_malloc(const firn_allocator *a, size_t size) {
  if (size == 0) size = 1;
  return a->malloc(size, a->user);
}

void *firn_calloc(const firn_allocator *a, size_t nmemb, size_t size) {
  if (nmemb && size > SIZE_MAX / nmemb) return NULL;
  if (a->calloc) return a->calloc(nmemb ? nmemb : 1, size ? size : 1, a->user);
  void *p = firn_malloc(a, nmemb * size);
  if (p) memset(p, 0, nmemb * size);
  return p;
}

void *firn_realloc(const firn_allocator *a, void *ptr, size_t size) {
  if (size == 0) size = 1;
  if (a->realloc) return a->realloc(ptr, size, a->user);
  return NULL; /* an allocator without realloc cannot grow buffers */
}

void firn_free(const firn_allocator *a, void *ptr) {
  if (ptr) a->free(ptr, a->user);
}

void firn_wipe(void *p, size_t len) {
  if (p && len) OPENSSL_cleanse(p, len);
}

void *firn_memdup(const firn_allocator *a, const void *p, size_t len) {
  void *q = firn_malloc(a, len);
  if (q && len) memcpy(q, p, len);
  return q;
}
