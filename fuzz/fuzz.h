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

/* fuzz_stun_client programs (format in fuzz_stun_client.c). Transactions started first:
 * slot 0 ICE Binding (short-term), slot 1 TURN Allocate (long-term), slot 2 Binding over TCP. */
enum {
  FUZZ_CLIENT_OP_DATAGRAM = 0,   /* u16 len, u8 fixups, u8 slot, bytes */
  FUZZ_CLIENT_OP_ADVANCE = 1,    /* u16 milliseconds */
  FUZZ_CLIENT_OP_TRANSMIT = 2,
  FUZZ_CLIENT_OP_CANCEL = 3,     /* u8 slot */
  FUZZ_CLIENT_OP_START = 4,      /* u8 kind: 0 ICE, 1 TURN, 2 TCP */
  FUZZ_CLIENT_OP_FREE_IN_CALLBACK = 5,
  FUZZ_CLIENT_OP_TO_EXPIRY = 6,
  FUZZ_CLIENT_OP_MSG = 7,        /* as DATAGRAM, through firn_stun_client_handle_msg */
  FUZZ_CLIENT_N_OPS = 8
};
/* Datagram fixups, applied by the harness so responses can match and authenticate. */
#define FUZZ_CLIENT_FIX_TID 0x01        /* the TID of the slot's last transmission */
#define FUZZ_CLIENT_FIX_TYPE 0x02       /* a response to the slot's method (cookie, length too) */
#define FUZZ_CLIENT_FIX_ERROR 0x04      /* ... an error response, else a success */
#define FUZZ_CLIENT_FIX_SIGN 0x08       /* re-sign with the slot's credentials */
#define FUZZ_CLIENT_FIX_MI256 0x10      /* ... with MESSAGE-INTEGRITY-SHA256, else MI */
#define FUZZ_CLIENT_FIX_FP 0x20         /* add FINGERPRINT */
#define FUZZ_CLIENT_FIX_WRONG_SRC 0x40  /* from an address that is not the server's */
#define FUZZ_CLIENT_FIX_SHA256_KEY 0x80 /* long-term key with SHA-256, else MD5 */

#endif /* FIRN_FUZZ_H */
