/* Internal helpers shared by the STUN codec files (msg.c, build.c, integrity.c) and the
 * transaction layer. Not installed; tests reach it through the internal static library. */
#ifndef FIRN_STUN_INTERNAL_H
#define FIRN_STUN_INTERNAL_H

#include "firn/stun.h"

/* Builder state bits kept in firn_stun_builder.integrity_added (non-zero once any
 * integrity attribute or FINGERPRINT is in, which is what the public field promises). */
#define FIRN_STUN_B_MI 0x01u     /* MESSAGE-INTEGRITY written */
#define FIRN_STUN_B_MI256 0x02u  /* MESSAGE-INTEGRITY-SHA256 written */
#define FIRN_STUN_B_FP 0x04u     /* FINGERPRINT written: nothing may follow */

#define FIRN_STUN_FINGERPRINT_XOR UINT32_C(0x5354554E)

/* Plain CRC-32 (ISO-HDLC, reflected 0xEDB88320, init/xorout 0xFFFFFFFF) of `data`. */
uint32_t firn_stun_crc32(const uint8_t *data, size_t len);

/* HMAC over a STUN message prefix `msg[0..prefix_len)` with the header's 16-bit length field
 * replaced by `hdr_len` (RFC 8489 14.5/14.6), without copying the message. `sha256` selects
 * HMAC-SHA256 (32-byte output) instead of HMAC-SHA1 (20 bytes). prefix_len >= 20.
 * No allocation. HMAC-SHA1 only reads the key (precomputed pad states); HMAC-SHA256 (and
 * HMAC-SHA1 in FIRN_STUN_NO_FAST_HMAC builds) re-initialises the key's EVP_MAC_CTX, so a
 * key must not be used for those from two threads at once. Returns 0 or FIRN_ERR_CRYPTO. */
int firn_stun_hmac(const firn_stun_key *key, int sha256, const uint8_t *msg, size_t prefix_len,
                   uint16_t hdr_len, uint8_t out[32]);

/* The parser's validation of one attribute value (msg.c), shared with the builder so it
 * never writes what the parser would refuse. Returns 0 (valid, or an unknown
 * comprehension-optional type), 1 (unknown comprehension-required type: parses, reported in
 * msg->unknown), or the parser's error (FIRN_ERR_STUN_BAD_ATTR, _BAD_ADDR_FAMILY,
 * _BAD_ERROR_CODE, _ATTR_TOO_LONG). A switch and a length compare for the fixed-size types. */
int firn_stun_check_attr(uint16_t type, const uint8_t *value, size_t len);

/* Take a reference to `key`: firn_stun_key_free() then only drops one, and the last one
 * frees (and wipes). Not atomic: for keys one object owns, like the client's long-term keys,
 * which each transaction attempt keeps for verifying the answer to what it signed. */
firn_stun_key *firn_stun_key_ref(firn_stun_key *key);

/* Decode the message type into method and class. */
static inline void firn_stun_split_type(uint16_t t, uint16_t *method, uint8_t *cls) {
  *method = (uint16_t)((t & 0x000Fu) | ((t & 0x00E0u) >> 1) | ((t & 0x3E00u) >> 2));
  *cls = (uint8_t)(((t >> 4) & 1u) | ((t >> 7) & 2u));
}

#endif
