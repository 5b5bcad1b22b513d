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

/* fuzz_agent programs (format in fuzz_agent.c). */
enum {
  FUZZ_AGENT_OP_RAW = 0,           /* u8 path, u8 via|conn, u16 len, bytes */
  FUZZ_AGENT_OP_REQUEST = 1,       /* an authenticated Binding request built by the harness */
  FUZZ_AGENT_OP_RESPONSE = 2,      /* a response to a request the agent sent */
  FUZZ_AGENT_OP_ADVANCE = 3,       /* u16 milliseconds, then handle_expiry */
  FUZZ_AGENT_OP_TO_EXPIRY = 4,
  FUZZ_AGENT_OP_POLL = 5,
  FUZZ_AGENT_OP_WRITE = 6,         /* u8 component, u8 len, bytes */
  FUZZ_AGENT_OP_RESTART = 7,       /* u8: bit 0 set the remote credentials again, bit 1 new ones */
  FUZZ_AGENT_OP_CANDIDATE = 8,     /* u8 len, text for firn_candidate_parse */
  FUZZ_AGENT_OP_TCP = 9,           /* u8 what (accept, connected, closed, unknown), u8 arg */
  FUZZ_AGENT_OP_END_OF_CANDIDATES = 10,
  FUZZ_AGENT_OP_DESTROY_IN_CALLBACK = 11,
  FUZZ_AGENT_OP_CLOSE = 12,
  FUZZ_AGENT_N_OPS = 13
};

/* fuzz_turn programs (format in fuzz_turn.c). */
enum {
  FUZZ_TURN_OP_RAW = 0,          /* u8 source|split, u16 len, bytes */
  FUZZ_TURN_OP_RESPONSE = 1,     /* u8 record, u8 flags, u8 pick, u8 nattrs, attrs */
  FUZZ_TURN_OP_PEER_DATA = 2,    /* u8 peer|kind, u8 len, bytes */
  FUZZ_TURN_OP_ADVANCE = 3,      /* u16 x 10 ms, then handle_expiry */
  FUZZ_TURN_OP_TO_EXPIRY = 4,
  FUZZ_TURN_OP_POLL = 5,
  FUZZ_TURN_OP_PERMIT = 6,       /* u8 peer */
  FUZZ_TURN_OP_BIND = 7,         /* u8 peer */
  FUZZ_TURN_OP_REMOVE = 8,       /* u8 peer */
  FUZZ_TURN_OP_WRAP = 9,         /* u8 peer|small buffer, u8 len, bytes */
  FUZZ_TURN_OP_FRAME_LENGTH = 10, /* u16 max, u8 len, bytes */
  FUZZ_TURN_OP_CONNECTION = 11,  /* u8: bit 0 closed, else connected(ok = bit 1) */
  FUZZ_TURN_OP_CLOSE = 12,
  FUZZ_TURN_OP_FREE_ON_READY = 13,
  FUZZ_TURN_OP_RESIGNED = 14,    /* u8 record, u8 flags, u16 len, a server message: given the
                                    record's TID and signed again (captured coturn answers) */
  FUZZ_TURN_N_OPS = 15
};

/* fuzz_dtls programs (format in fuzz_dtls.c). */
enum {
  FUZZ_DTLS_OP_START = 0,        /* u8 endpoint (0 A, 1 B) */
  FUZZ_DTLS_OP_RUN = 1,          /* u8 rounds: exchange datagrams between A and B */
  FUZZ_DTLS_OP_INJECT = 2,       /* u8 endpoint, u16 len, bytes */
  FUZZ_DTLS_OP_MUTATE = 3,       /* u8 datagram, u16 pos, u8 xor, u8 cut: a changed copy */
  FUZZ_DTLS_OP_REPLAY = 4,       /* u8 datagram: a genuine one again */
  FUZZ_DTLS_OP_ADVANCE = 5,      /* u16 x 10 ms, handle_expiry on both */
  FUZZ_DTLS_OP_CLOSE = 6,        /* u8 endpoint */
  FUZZ_DTLS_OP_KEYS = 7,         /* export and compare keys when both are connected */
  FUZZ_DTLS_OP_FINGERPRINT = 8,  /* u8 len, text */
  FUZZ_DTLS_OP_SETUP = 9,        /* u8 len, text, u8 remote setup */
  FUZZ_DTLS_OP_SRTP = 10,        /* u8 kind, u16 len, bytes, [u16 pos, u8 xor] */
  FUZZ_DTLS_N_OPS = 11
};

#endif /* FIRN_FUZZ_H */
