/*
 * Shared by the fuzz targets, the replay driver and the corpus generator.
 */
#ifndef FIRN_FUZZ_H
#define FIRN_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry point (also driven by replay.c). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Credentials the fuzz target verifies with, and the generator signs with, so that the seed
 * corpus reaches the "integrity verifies" paths. They are the RFC 5769 credentials, so the RFC
 * vectors verify too. */
#define FUZZ_SHORT_TERM_PASSWORD "VOkJxbRl1RmTxUk/WvJxBt"
/* U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9 in UTF-8 (RFC 5769 2.4, RFC 8489 B.1). */
#define FUZZ_LT_USERNAME \
  "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9"
#define FUZZ_LT_REALM "example.org"
/* "The<U+00AD>M<U+00AA>tr<U+2168>" after OpaqueString/SASLprep. */
#define FUZZ_LT_PASSWORD "TheMatrIX"

#endif /* FIRN_FUZZ_H */
