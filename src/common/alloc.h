/* Allocator hooks: core code allocates only through these. */
#ifndef FIRN_COMMON_ALLOC_H
#define FIRN_COMMON_ALLOC_H

#include "firn/common.h"

/* Fill `out` from `in` (NULL means the C library's allocator). Always succeeds. */
void firn_alloc_init(firn_allocator *out, const firn_allocator *in);
void *firn_malloc(const firn_allocator *a, size_t size);
void *firn_calloc(const firn_allocator *a, size_t nmemb, size_t size);
void *firn_realloc(const firn_allocator *a, void *ptr, size_t size);
void firn_free(const firn_allocator *a, void *ptr);
/* Zero `len` bytes in a way the compiler cannot elide (for keys). */
void firn_wipe(void *p, size_t len);
/* Copy `len` bytes into new memory; NULL on failure. */
void *firn_memdup(const firn_allocator *a, const void *p, size_t len);

#endif
