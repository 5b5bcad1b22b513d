/* STUN message builder: writes into a caller-provided buffer. Errors are sticky: the first
 * one is kept in b->err, later calls do nothing, firn_stun_builder_finish() reports it.
 * The header's length field is kept current after every attribute, so MESSAGE-INTEGRITY
 * and FINGERPRINT are computed over the buffer in place, without a copy. */
#include <string.h>

#include "common/bytes.h"
#include "stun/stun_internal.h"

static void fail(firn_stun_builder *b, int err) {
  if (!b->err) b->err = err;
}

void firn_stun_builder_init(firn_stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
                            firn_stun_class cls, const uint8_t tid[FIRN_STUN_TID_SIZE]) {
  if (!b) return;
  b->buf = buf;
  b->cap = cap;
  b->len = 0;
  b->err = 0;
  b->integrity_added = 0;
  b->nattrs = 0;
  if (!buf || !tid || method > 0x0FFF || (unsigned)cls > 3) {
    fail(b, FIRN_ERR_INVALID_ARG);
    return;
  }
  if (cap < FIRN_STUN_HEADER_SIZE) {
    fail(b, FIRN_ERR_NOBUF);
    return;
  }
  firn_put_u16(buf, firn_stun_type(method, cls));
  firn_put_u16(buf + 2, 0);
  firn_put_u32(buf + 4, FIRN_STUN_MAGIC_COOKIE);
  memcpy(buf + 8, tid, FIRN_STUN_TID_SIZE);
  b->len = FIRN_STUN_HEADER_SIZE;
}

/* RFC 8489 encoding limits on variable-length values (stun.h, FIRN_STUN_BUILD_MAX_*): a
 * sender stays within them, below the parser's decoding limits. */
static size_t value_limit(uint16_t type) {
  switch (type) {
  case FIRN_STUN_ATTR_USERNAME: return FIRN_STUN_BUILD_MAX_USERNAME;
  case FIRN_STUN_ATTR_REALM: return FIRN_STUN_BUILD_MAX_REALM;
  case FIRN_STUN_ATTR_NONCE: return FIRN_STUN_BUILD_MAX_NONCE;
  case FIRN_STUN_ATTR_SOFTWARE: return FIRN_STUN_BUILD_MAX_SOFTWARE;
  case FIRN_STUN_ATTR_ERROR_CODE: return 4 + FIRN_STUN_BUILD_MAX_REASON;
  case FIRN_STUN_ATTR_ALTERNATE_DOMAIN: return FIRN_STUN_MAX_ALTERNATE_DOMAIN;
  default: return 0xFFFF;
  }
}

/* Reserve an attribute of `type` with a `len`-byte value: writes the attribute header and
 * zero padding, updates the message length, returns where the value goes (NULL on error).
 * `kind` is 0 for an ordinary attribute, else the FIRN_STUN_B_* bit being added. */
static uint8_t *reserve(firn_stun_builder *b, uint16_t type, size_t len, unsigned kind) {
  if (!b || b->err) return NULL;
  unsigned st = b->integrity_added;
  /* Order: ordinary attributes, MI, MI-SHA256, FINGERPRINT; each at most once. */
  int bad = (st & FIRN_STUN_B_FP) ||
            (kind == 0 && st) ||
            (kind == FIRN_STUN_B_MI && (st & (FIRN_STUN_B_MI | FIRN_STUN_B_MI256))) ||
            (kind == FIRN_STUN_B_MI256 && (st & FIRN_STUN_B_MI256));
  if (bad) {
    fail(b, FIRN_ERR_STATE);
    return NULL;
  }
  if (!b->buf || b->len < FIRN_STUN_HEADER_SIZE) {
    fail(b, FIRN_ERR_INVALID_ARG);
    return NULL;
  }
  if (len > 0xFFFF) {
    fail(b, FIRN_ERR_INVALID_ARG);
    return NULL;
  }
  /* MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT are computed, never copied in: only
   * add_integrity*() and add_fingerprint() write them (and keep the order rules). */
  if (kind == 0 && (type == FIRN_STUN_ATTR_MESSAGE_INTEGRITY ||
                    type == FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
                    type == FIRN_STUN_ATTR_FINGERPRINT)) {
    fail(b, FIRN_ERR_INVALID_ARG);
    return NULL;
  }
  if (len > value_limit(type)) {
    fail(b, FIRN_ERR_STUN_ATTR_TOO_LONG);
    return NULL;
  }
  if (b->nattrs >= FIRN_STUN_MAX_ATTRS) {
    fail(b, FIRN_ERR_STUN_TOO_MANY_ATTRS);
    return NULL;
  }
  size_t padded = (len + 3) & ~(size_t)3;
  size_t need = 4 + padded;
  /* Never build what firn_stun_msg_parse() would refuse (FIRN_STUN_MAX_MESSAGE), which
   * also keeps the body within the 16-bit length field. */
  if (need > b->cap - b->len || need > FIRN_STUN_MAX_MESSAGE - b->len) {
    fail(b, FIRN_ERR_NOBUF);
    return NULL;
  }
  uint8_t *p = b->buf + b->len;
  firn_put_u16(p, type);
  firn_put_u16(p + 2, (uint16_t)len);
  if (padded != len) memset(p + 4 + len, 0, padded - len);
  b->len += need;
  b->nattrs++;
  firn_put_u16(b->buf + 2, (uint16_t)(b->len - FIRN_STUN_HEADER_SIZE));
  return p + 4;
}

/* Run the parser's validation on the value just written at `v` (reserve()'s return, filled
 * in). On failure the attribute is taken back out and the parser's error code kept, so the
 * builder never produces a message firn_stun_msg_parse() would refuse. */
static void validate(firn_stun_builder *b, uint8_t *v) {
  uint16_t type = firn_get_u16(v - 4);
  size_t len = firn_get_u16(v - 2);
  int rc = firn_stun_check_attr(type, v, len);
  if (rc >= 0) return; /* 1: unknown comprehension-required, which parses (and is reported) */
  b->len = (size_t)(v - 4 - b->buf);
  b->nattrs--;
  firn_put_u16(b->buf + 2, (uint16_t)(b->len - FIRN_STUN_HEADER_SIZE));
  fail(b, rc);
}

void firn_stun_add_raw(firn_stun_builder *b, uint16_t type, const void *value, size_t len) {
  if (b && !b->err && !value && len) {
    fail(b, FIRN_ERR_INVALID_ARG);
    return;
  }
  uint8_t *v = reserve(b, type, len, 0);
  if (!v) return;
  if (len) memcpy(v, value, len);
  validate(b, v);
}

void firn_stun_add_flag(firn_stun_builder *b, uint16_t type) {
  uint8_t *v = reserve(b, type, 0, 0);
  if (v) validate(b, v);
}

void firn_stun_add_u32(firn_stun_builder *b, uint16_t type, uint32_t value) {
  uint8_t *v = reserve(b, type, 4, 0);
  if (!v) return;
  firn_put_u32(v, value);
  validate(b, v);
}

void firn_stun_add_u64(firn_stun_builder *b, uint16_t type, uint64_t value) {
  uint8_t *v = reserve(b, type, 8, 0);
  if (!v) return;
  firn_put_u64(v, value);
  validate(b, v);
}

void firn_stun_add_string(firn_stun_builder *b, uint16_t type, const char *s, size_t len) {
  firn_stun_add_raw(b, type, s, len);
}

static void add_address(firn_stun_builder *b, uint16_t type, const firn_addr *a, int xor) {
  if (b && !b->err && (!a || (a->family != FIRN_AF_INET && a->family != FIRN_AF_INET6))) {
    fail(b, FIRN_ERR_INVALID_ARG);
    return;
  }
  size_t alen = a && a->family == FIRN_AF_INET6 ? 16 : 4;
  uint8_t *v = reserve(b, type, 4 + alen, 0);
  if (!v) return;
  uint16_t port = a->port;
  v[0] = 0;
  v[1] = alen == 4 ? 0x01 : 0x02;
  memcpy(v + 4, a->addr, alen);
  if (xor) {
    port ^= (uint16_t)(FIRN_STUN_MAGIC_COOKIE >> 16);
    /* The header holds the cookie then the transaction ID: exactly the XOR pad. */
    for (size_t i = 0; i < alen; i++) v[4 + i] ^= b->buf[4 + i];
  }
  firn_put_u16(v + 2, port);
  validate(b, v); /* an address under a fixed-size type (PRIORITY, ...) is refused */
}

void firn_stun_add_addr(firn_stun_builder *b, uint16_t type, const firn_addr *a) {
  add_address(b, type, a, 0);
}

void firn_stun_add_xor_addr(firn_stun_builder *b, uint16_t type, const firn_addr *a) {
  add_address(b, type, a, 1);
}

void firn_stun_add_error(firn_stun_builder *b, int code, const char *reason) {
  if (!b || b->err) return;
  if (code < 300 || code > 699) {
    fail(b, FIRN_ERR_INVALID_ARG);
    return;
  }
  if (!reason) reason = firn_stun_reason_phrase(code);
  size_t rlen = strlen(reason);
  if (rlen > FIRN_STUN_BUILD_MAX_REASON) {
    fail(b, FIRN_ERR_STUN_ATTR_TOO_LONG);
    return;
  }
  uint8_t *v = reserve(b, FIRN_STUN_ATTR_ERROR_CODE, 4 + rlen, 0);
  if (!v) return;
  v[0] = 0;
  v[1] = 0;
  v[2] = (uint8_t)(code / 100);
  v[3] = (uint8_t)(code % 100);
  memcpy(v + 4, reason, rlen);
  validate(b, v);
}

void firn_stun_add_unknown_attrs(firn_stun_builder *b, const uint16_t *types, size_t n) {
  if (b && !b->err && ((!types && n) || n > 0x7FFF)) {
    fail(b, FIRN_ERR_INVALID_ARG);
    return;
  }
  uint8_t *v = reserve(b, FIRN_STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n, 0);
  if (!v) return;
  for (size_t i = 0; i < n; i++) firn_put_u16(v + 2 * i, types[i]);
  validate(b, v);
}

void firn_stun_add_requested_transport(firn_stun_builder *b, uint8_t proto) {
  firn_stun_add_u32(b, FIRN_STUN_ATTR_REQUESTED_TRANSPORT, (uint32_t)proto << 24);
}

void firn_stun_add_family(firn_stun_builder *b, uint16_t type, firn_family family) {
  if (b && !b->err && family != FIRN_AF_INET && family != FIRN_AF_INET6) {
    fail(b, FIRN_ERR_INVALID_ARG);
    return;
  }
  firn_stun_add_u32(b, type, (uint32_t)(family == FIRN_AF_INET ? 0x01 : 0x02) << 24);
}

void firn_stun_add_channel(firn_stun_builder *b, uint16_t channel) {
  if (b && !b->err && (channel < 0x4000 || channel > 0x4FFF)) {
    fail(b, FIRN_ERR_INVALID_ARG);
    return;
  }
  firn_stun_add_u32(b, FIRN_STUN_ATTR_CHANNEL_NUMBER, (uint32_t)channel << 16);
}

void firn_stun_add_password_alg(firn_stun_builder *b, firn_stun_password_alg alg) {
  if (b && !b->err && alg != FIRN_STUN_PASSWORD_ALG_MD5 && alg != FIRN_STUN_PASSWORD_ALG_SHA256) {
    fail(b, FIRN_ERR_INVALID_ARG);
    return;
  }
  firn_stun_add_u32(b, FIRN_STUN_ATTR_PASSWORD_ALGORITHM, (uint32_t)alg << 16);
}

/* MESSAGE-INTEGRITY(-SHA256): reserve() has already set the header length to include this
 * attribute, which is exactly the adjusted length RFC 8489 14.5/14.6 ask for, so the HMAC
 * runs over the buffer in place. */
static void add_mac(firn_stun_builder *b, const firn_stun_key *key, int sha256) {
  if (b && !b->err && !key) {
    fail(b, FIRN_ERR_INVALID_ARG);
    return;
  }
  size_t vlen = sha256 ? 32 : 20;
  uint16_t type = sha256 ? FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 : FIRN_STUN_ATTR_MESSAGE_INTEGRITY;
  uint8_t *v = reserve(b, type, vlen, sha256 ? FIRN_STUN_B_MI256 : FIRN_STUN_B_MI);
  if (!v) return;
  size_t prefix = (size_t)(v - 4 - b->buf);
  uint8_t mac[32];
  if (firn_stun_hmac(key, sha256, b->buf, prefix, firn_get_u16(b->buf + 2), mac)) {
    fail(b, FIRN_ERR_CRYPTO);
    return;
  }
  memcpy(v, mac, vlen);
  b->integrity_added |= (uint8_t)(sha256 ? FIRN_STUN_B_MI256 : FIRN_STUN_B_MI);
}

void firn_stun_add_integrity(firn_stun_builder *b, const firn_stun_key *key) { add_mac(b, key, 0); }

void firn_stun_add_integrity_sha256(firn_stun_builder *b, const firn_stun_key *key) {
  add_mac(b, key, 1);
}

void firn_stun_add_fingerprint(firn_stun_builder *b) {
  uint8_t *v = reserve(b, FIRN_STUN_ATTR_FINGERPRINT, 4, FIRN_STUN_B_FP);
  if (!v) return;
  size_t prefix = (size_t)(v - 4 - b->buf);
  firn_put_u32(v, firn_stun_crc32(b->buf, prefix) ^ FIRN_STUN_FINGERPRINT_XOR);
  b->integrity_added |= FIRN_STUN_B_FP;
}

firn_ssize firn_stun_builder_finish(firn_stun_builder *b) {
  if (!b) return FIRN_ERR_INVALID_ARG;
  if (b->err) return b->err;
  if (!b->buf || b->len < FIRN_STUN_HEADER_SIZE) return FIRN_ERR_INVALID_ARG;
  return (firn_ssize)b->len;
}

const char *firn_stun_reason_phrase(int code) {
  switch (code) {
  case 300: return "Try Alternate";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 405: return "Mobility Forbidden";
  case 420: return "Unknown Attribute";
  case 437: return "Allocation Mismatch";
  case 438: return "Stale Nonce";
  case 440: return "Address Family not Supported";
  case 441: return "Wrong Credentials";
  case 442: return "Unsupported Transport Protocol";
  case 443: return "Peer Address Family Mismatch";
  case 446: return "Connection Already Exists";
  case 447: return "Connection Timeout or Failure";
  case 486: return "Allocation Quota Reached";
  case 487: return "Role Conflict";
  case 500: return "Server Error";
  case 508: return "Insufficient Capacity";
  default: break;
  }
  if (code >= 300 && code < 400) return "Redirect";
  if (code >= 400 && code < 500) return "Client Error";
  if (code >= 500 && code < 600) return "Server Error";
  return "Error";
}
