/* STUN message parsing (RFC 8489, RFC 5389 compatible) and typed attribute accessors.
 *
 * firn_stun_msg_parse() makes one pass over the datagram: every length is checked before it
 * is used and every known attribute's value is validated, so the accessors below only have
 * to locate an attribute and decode it. Nothing is copied or allocated. */
#include <string.h>

#include "common/bytes.h"
#include "stun/stun_internal.h"

uint16_t firn_stun_type(uint16_t method, firn_stun_class cls) {
  unsigned m = method & 0x0FFFu, c = (unsigned)cls & 3u;
  return (uint16_t)((m & 0x000Fu) | ((m & 0x0070u) << 1) | ((m & 0x0F80u) << 2) |
                    ((c & 1u) << 4) | ((c & 2u) << 7));
}

int firn_stun_is_stun(const uint8_t *data, size_t len) {
  if (!data || len < FIRN_STUN_HEADER_SIZE) return 0;
  /* RFC 7983 (9443) demultiplexing: first byte 0..3 is STUN; 4..63 is reserved, although a
   * message of method 0x100..0xFFF starts there (firn_stun_msg_parse() still takes those). */
  if (data[0] > 3) return 0;
  if (firn_get_u32(data + 4) != FIRN_STUN_MAGIC_COOKIE) return 0;
  size_t blen = firn_get_u16(data + 2);
  return (blen & 3) == 0 && blen + FIRN_STUN_HEADER_SIZE <= len;
}

/* ---------------------------------------------------------------------------------------- */
/* Validation of known attribute values                                                      */

static int check_addr(const uint8_t *v, size_t len) {
  if (len < 4) return FIRN_ERR_STUN_BAD_ADDR_FAMILY;
  if (v[1] == 0x01) return len == 8 ? 0 : FIRN_ERR_STUN_BAD_ADDR_FAMILY;
  if (v[1] == 0x02) return len == 20 ? 0 : FIRN_ERR_STUN_BAD_ADDR_FAMILY;
  return FIRN_ERR_STUN_BAD_ADDR_FAMILY;
}

static int check_error(const uint8_t *v, size_t len) {
  if (len < 4) return FIRN_ERR_STUN_BAD_ERROR_CODE;
  unsigned cls = v[2] & 7u;
  if (cls < 3 || cls > 6 || v[3] > 99) return FIRN_ERR_STUN_BAD_ERROR_CODE;
  if (len - 4 > FIRN_STUN_PARSE_MAX_REASON) return FIRN_ERR_STUN_ATTR_TOO_LONG;
  return 0;
}

/* PASSWORD-ALGORITHMS: a list of {alg(2), param len(2), params padded to 4}. `single` for
 * PASSWORD-ALGORITHM, which holds exactly one entry. */
static int check_password_algs(const uint8_t *v, size_t len, int single) {
  size_t pos = 0;
  if (len < 4) return FIRN_ERR_STUN_BAD_ATTR;
  while (pos < len) {
    if (len - pos < 4) return FIRN_ERR_STUN_BAD_ATTR;
    size_t plen = firn_get_u16(v + pos + 2);
    size_t step = 4 + ((plen + 3) & ~(size_t)3);
    /* PASSWORD-ALGORITHM holds exactly one entry: its parameters, padded or not, and
     * nothing after them. */
    if (single) return (len == 4 + plen || len == step) ? 0 : FIRN_ERR_STUN_BAD_ATTR;
    if (step > len - pos) return FIRN_ERR_STUN_BAD_ATTR;
    pos += step;
  }
  return 0;
}

/* Validate a comprehension-required (< 0x8000) attribute. Returns 0, 1 for an unknown type,
 * or an error. */
static int check_required(uint16_t type, const uint8_t *v, size_t len) {
  switch (type) {
  case FIRN_STUN_ATTR_MAPPED_ADDRESS:
  case FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS:
  case FIRN_STUN_ATTR_XOR_PEER_ADDRESS:
  case FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS:
    return check_addr(v, len);
  case FIRN_STUN_ATTR_USERNAME:
    return len <= FIRN_STUN_PARSE_MAX_USERNAME ? 0 : FIRN_ERR_STUN_ATTR_TOO_LONG;
  case FIRN_STUN_ATTR_REALM:
    return len <= FIRN_STUN_PARSE_MAX_REALM ? 0 : FIRN_ERR_STUN_ATTR_TOO_LONG;
  case FIRN_STUN_ATTR_NONCE:
    return len <= FIRN_STUN_PARSE_MAX_NONCE ? 0 : FIRN_ERR_STUN_ATTR_TOO_LONG;
  case FIRN_STUN_ATTR_MESSAGE_INTEGRITY:
    return len == 20 ? 0 : FIRN_ERR_STUN_BAD_ATTR;
  case FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
    return (len >= 16 && len <= 32 && (len & 3) == 0) ? 0 : FIRN_ERR_STUN_BAD_ATTR;
  case FIRN_STUN_ATTR_ERROR_CODE:
    return check_error(v, len);
  case FIRN_STUN_ATTR_UNKNOWN_ATTRIBUTES:
    return (len & 1) == 0 ? 0 : FIRN_ERR_STUN_BAD_ATTR;
  case FIRN_STUN_ATTR_CHANNEL_NUMBER:
  case FIRN_STUN_ATTR_LIFETIME:
  case FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
  case FIRN_STUN_ATTR_REQUESTED_TRANSPORT:
  case FIRN_STUN_ATTR_PRIORITY:
  case FIRN_STUN_ATTR_CONNECTION_ID:
    return len == 4 ? 0 : FIRN_ERR_STUN_BAD_ATTR;
  case FIRN_STUN_ATTR_RESERVATION_TOKEN:
    return len == 8 ? 0 : FIRN_ERR_STUN_BAD_ATTR;
  case FIRN_STUN_ATTR_EVEN_PORT:
    return len == 1 ? 0 : FIRN_ERR_STUN_BAD_ATTR;
  case FIRN_STUN_ATTR_DONT_FRAGMENT:
  case FIRN_STUN_ATTR_USE_CANDIDATE:
    return len == 0 ? 0 : FIRN_ERR_STUN_BAD_ATTR;
  case FIRN_STUN_ATTR_USERHASH:
    return len == 32 ? 0 : FIRN_ERR_STUN_BAD_ATTR;
  case FIRN_STUN_ATTR_PASSWORD_ALGORITHM:
    return check_password_algs(v, len, 1);
  case FIRN_STUN_ATTR_DATA:
    return 0;
  default:
    return 1;
  }
}

/* Validate a comprehension-optional (>= 0x8000) attribute; unknown ones are fine. */
static int check_optional(uint16_t type, const uint8_t *v, size_t len) {
  switch (type) {
  case FIRN_STUN_ATTR_FINGERPRINT:
  case FIRN_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY:
    return len == 4 ? 0 : FIRN_ERR_STUN_BAD_ATTR;
  case FIRN_STUN_ATTR_ICE_CONTROLLED:
  case FIRN_STUN_ATTR_ICE_CONTROLLING:
  case FIRN_STUN_ATTR_ICMP:
    return len == 8 ? 0 : FIRN_ERR_STUN_BAD_ATTR;
  case FIRN_STUN_ATTR_SOFTWARE:
    return len <= FIRN_STUN_PARSE_MAX_SOFTWARE ? 0 : FIRN_ERR_STUN_ATTR_TOO_LONG;
  case FIRN_STUN_ATTR_ALTERNATE_SERVER:
    return check_addr(v, len);
  case FIRN_STUN_ATTR_ALTERNATE_DOMAIN:
    return len <= FIRN_STUN_MAX_ALTERNATE_DOMAIN ? 0 : FIRN_ERR_STUN_ATTR_TOO_LONG;
  case FIRN_STUN_ATTR_PASSWORD_ALGORITHMS:
    return check_password_algs(v, len, 0);
  case FIRN_STUN_ATTR_ADDRESS_ERROR_CODE:
    if (len < 4) return FIRN_ERR_STUN_BAD_ERROR_CODE;
    if (v[0] != 0x01 && v[0] != 0x02) return FIRN_ERR_STUN_BAD_ADDR_FAMILY;
    return check_error(v, len);
  default:
    return 0;
  }
}

int firn_stun_check_attr(uint16_t type, const uint8_t *value, size_t len) {
  return type < 0x8000 ? check_required(type, value, len) : check_optional(type, value, len);
}

/* ---------------------------------------------------------------------------------------- */
/* Parser                                                                                    */

int firn_stun_msg_parse(firn_stun_msg *msg, const uint8_t *data, size_t len) {
  if (!msg || !data) return FIRN_ERR_INVALID_ARG;
  msg->data = NULL; /* a failed parse leaves a message the accessors refuse */
  msg->nattrs = 0;
  if (len < FIRN_STUN_HEADER_SIZE) return FIRN_ERR_STUN_TRUNCATED;
  if (data[0] & 0xC0) return FIRN_ERR_STUN_NOT_STUN;
  /* Without the cookie: classic RFC 3489 only if it starts like one (types 0x0001..0x0112,
   * first byte 0..3 in RFC 7983's demultiplexing); anything else is not STUN at all. */
  if (firn_get_u32(data + 4) != FIRN_STUN_MAGIC_COOKIE)
    return data[0] > 3 ? FIRN_ERR_STUN_NOT_STUN : FIRN_ERR_STUN_RFC3489;
  if (len > FIRN_STUN_MAX_MESSAGE) return FIRN_ERR_STUN_BAD_LENGTH;
  size_t blen = firn_get_u16(data + 2);
  if (blen & 3) return FIRN_ERR_STUN_BAD_LENGTH;
  if (blen + FIRN_STUN_HEADER_SIZE > len) return FIRN_ERR_STUN_TRUNCATED;
  if (blen + FIRN_STUN_HEADER_SIZE < len) return FIRN_ERR_STUN_BAD_LENGTH;
  /* len <= 65535, so every offset below fits the uint16_t fields. */

  unsigned nattrs = 0, total = 0, n_unknown = 0;
  size_t mi_off = 0, mi256_off = 0, fp_off = 0;
  size_t off = FIRN_STUN_HEADER_SIZE;
  while (off < len) {
    /* off and len are multiples of 4, so a 4-byte attribute header always fits. */
    if (fp_off) return FIRN_ERR_STUN_AFTER_FINGERPRINT;
    if (++total > FIRN_STUN_MAX_ATTRS) return FIRN_ERR_STUN_TOO_MANY_ATTRS;
    const uint8_t *p = data + off;
    uint16_t type = firn_get_u16(p);
    size_t alen = firn_get_u16(p + 2);
    size_t padded = (alen + 3) & ~(size_t)3;
    if (padded > len - off - 4) return FIRN_ERR_STUN_ATTR_OVERRUN;
    size_t here = off;
    off += 4 + padded;

    /* Past MESSAGE-INTEGRITY only MI-SHA256 and FINGERPRINT count; past MI-SHA256 only
     * FINGERPRINT. Others are skipped (bounds-checked above, never exposed). */
    if (mi256_off) {
      if (type != FIRN_STUN_ATTR_FINGERPRINT) continue;
    } else if (mi_off) {
      if (type != FIRN_STUN_ATTR_FINGERPRINT && type != FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
        continue;
    }

    /* The checks are called directly (not through firn_stun_check_attr(), the builder's
     * entry point) so they inline here: this loop is on the ICE validate hot path. */
    int rc;
    if (type < 0x8000) {
      rc = check_required(type, p + 4, alen);
      if (rc == 1) {
        rc = 0;
        if (n_unknown < FIRN_STUN_MAX_UNKNOWN) msg->unknown[n_unknown++] = type;
      } else if (type == FIRN_STUN_ATTR_MESSAGE_INTEGRITY) {
        mi_off = here;
      } else if (type == FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256) {
        mi256_off = here;
      }
    } else {
      rc = check_optional(type, p + 4, alen);
      if (type == FIRN_STUN_ATTR_FINGERPRINT) fp_off = here;
    }
    if (rc) return rc;
    msg->attr_off[nattrs++] = (uint16_t)here;
  }

  if (fp_off) {
    uint32_t want = firn_get_u32(data + fp_off + 4);
    if ((firn_stun_crc32(data, fp_off) ^ FIRN_STUN_FINGERPRINT_XOR) != want)
      return FIRN_ERR_STUN_BAD_FINGERPRINT;
  }

  msg->data = data;
  msg->len = len;
  firn_stun_split_type(firn_get_u16(data), &msg->method, &msg->cls);
  memcpy(msg->tid, data + 8, FIRN_STUN_TID_SIZE);
  msg->nattrs = (uint16_t)nattrs;
  msg->mi_off = (uint16_t)mi_off;
  msg->mi256_off = (uint16_t)mi256_off;
  msg->fp_off = (uint16_t)fp_off;
  msg->n_unknown = (uint8_t)n_unknown;
  return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Accessors                                                                                 */

/* The n-th visible attribute of `type`. */
static int find_nth(const firn_stun_msg *msg, uint16_t type, unsigned index, const uint8_t **value,
                    size_t *len) {
  if (!msg || !msg->data) return FIRN_ERR_INVALID_ARG;
  for (unsigned i = 0; i < msg->nattrs; i++) {
    const uint8_t *p = msg->data + msg->attr_off[i];
    if (firn_get_u16(p) != type) continue;
    if (index--) continue;
    *value = p + 4;
    *len = firn_get_u16(p + 2);
    return 0;
  }
  return FIRN_ERR_NOT_FOUND;
}

int firn_stun_msg_find(const firn_stun_msg *msg, uint16_t type, const uint8_t **value, size_t *len) {
  const uint8_t *v;
  size_t l;
  int rc = find_nth(msg, type, 0, &v, &l);
  if (rc) return rc;
  if (value) *value = v;
  if (len) *len = l;
  return 0;
}

int firn_stun_msg_has(const firn_stun_msg *msg, uint16_t type) {
  const uint8_t *v;
  size_t l;
  return find_nth(msg, type, 0, &v, &l) == 0;
}

/* Find an attribute whose value must be exactly `want` bytes. */
static int find_fixed(const firn_stun_msg *msg, uint16_t type, size_t want, const uint8_t **v) {
  size_t l;
  int rc = find_nth(msg, type, 0, v, &l);
  if (rc) return rc;
  return l == want ? 0 : FIRN_ERR_STUN_BAD_ATTR;
}

int firn_stun_msg_get_u32(const firn_stun_msg *msg, uint16_t type, uint32_t *out) {
  const uint8_t *v;
  if (!out) return FIRN_ERR_INVALID_ARG;
  int rc = find_fixed(msg, type, 4, &v);
  if (rc) return rc;
  *out = firn_get_u32(v);
  return 0;
}

int firn_stun_msg_get_u64(const firn_stun_msg *msg, uint16_t type, uint64_t *out) {
  const uint8_t *v;
  if (!out) return FIRN_ERR_INVALID_ARG;
  int rc = find_fixed(msg, type, 8, &v);
  if (rc) return rc;
  *out = firn_get_u64(v);
  return 0;
}

static int decode_addr(const firn_stun_msg *msg, const uint8_t *v, size_t len, int xor,
                       firn_addr *out) {
  int rc = check_addr(v, len);
  if (rc) return rc;
  uint16_t port = firn_get_u16(v + 2);
  if (xor) port ^= (uint16_t)(FIRN_STUN_MAGIC_COOKIE >> 16);
  if (v[1] == 0x01) {
    uint8_t ip[4];
    memcpy(ip, v + 4, 4);
    if (xor) {
      for (int i = 0; i < 4; i++) ip[i] ^= msg->data[4 + i];
    }
    firn_addr_set_ipv4(out, ip, port);
  } else {
    uint8_t ip[16];
    memcpy(ip, v + 4, 16);
    if (xor) {
      for (int i = 0; i < 16; i++) ip[i] ^= msg->data[4 + i]; /* cookie, then transaction ID */
    }
    firn_addr_set_ipv6(out, ip, port);
  }
  return 0;
}

int firn_stun_msg_get_addr(const firn_stun_msg *msg, uint16_t type, firn_addr *out) {
  const uint8_t *v;
  size_t l;
  if (!out) return FIRN_ERR_INVALID_ARG;
  int rc = find_nth(msg, type, 0, &v, &l);
  if (rc) return rc;
  return decode_addr(msg, v, l, 0, out);
}

int firn_stun_msg_get_xor_addr(const firn_stun_msg *msg, uint16_t type, unsigned index,
                               firn_addr *out) {
  const uint8_t *v;
  size_t l;
  if (!out) return FIRN_ERR_INVALID_ARG;
  int rc = find_nth(msg, type, index, &v, &l);
  if (rc) return rc;
  return decode_addr(msg, v, l, 1, out);
}

int firn_stun_msg_get_error(const firn_stun_msg *msg, int *code, const char **reason,
                            size_t *reason_len) {
  const uint8_t *v;
  size_t l;
  if (!code) return FIRN_ERR_INVALID_ARG;
  int rc = find_nth(msg, FIRN_STUN_ATTR_ERROR_CODE, 0, &v, &l);
  if (rc) return rc;
  if ((rc = check_error(v, l)) != 0) return rc;
  *code = (v[2] & 7) * 100 + v[3];
  if (reason) *reason = (const char *)v + 4;
  if (reason_len) *reason_len = l - 4;
  return 0;
}

int firn_stun_msg_get_string(const firn_stun_msg *msg, uint16_t type, const char **str,
                             size_t *len) {
  const uint8_t *v;
  size_t l;
  if (!str || !len) return FIRN_ERR_INVALID_ARG;
  int rc = find_nth(msg, type, 0, &v, &l);
  if (rc) return rc;
  *str = (const char *)v;
  *len = l;
  return 0;
}

int firn_stun_msg_get_unknown_attrs(const firn_stun_msg *msg, uint16_t *types, size_t max,
                                    size_t *count) {
  const uint8_t *v;
  size_t l;
  if (!count || (max && !types)) return FIRN_ERR_INVALID_ARG;
  int rc = find_nth(msg, FIRN_STUN_ATTR_UNKNOWN_ATTRIBUTES, 0, &v, &l);
  if (rc) return rc;
  size_t n = l / 2;
  for (size_t i = 0; i < n && i < max; i++) types[i] = firn_get_u16(v + 2 * i);
  *count = n;
  return 0;
}

int firn_stun_msg_get_password_algs(const firn_stun_msg *msg, uint16_t *algs, size_t max,
                                    size_t *count) {
  const uint8_t *v;
  size_t l;
  if (!count || (max && !algs)) return FIRN_ERR_INVALID_ARG;
  int rc = find_nth(msg, FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, 0, &v, &l);
  if (rc) return rc;
  if ((rc = check_password_algs(v, l, 0)) != 0) return rc;
  size_t n = 0, pos = 0;
  while (pos < l) {
    if (n < max) algs[n] = firn_get_u16(v + pos);
    n++;
    pos += 4 + ((firn_get_u16(v + pos + 2) + 3u) & ~3u);
  }
  *count = n;
  return 0;
}

int firn_stun_msg_get_channel(const firn_stun_msg *msg, uint16_t *channel) {
  const uint8_t *v;
  if (!channel) return FIRN_ERR_INVALID_ARG;
  int rc = find_fixed(msg, FIRN_STUN_ATTR_CHANNEL_NUMBER, 4, &v);
  if (rc) return rc;
  uint16_t ch = firn_get_u16(v);
  if (ch < 0x4000 || ch > 0x4FFF) return FIRN_ERR_STUN_BAD_ATTR;
  *channel = ch;
  return 0;
}

int firn_stun_msg_get_requested_transport(const firn_stun_msg *msg, uint8_t *proto) {
  const uint8_t *v;
  if (!proto) return FIRN_ERR_INVALID_ARG;
  int rc = find_fixed(msg, FIRN_STUN_ATTR_REQUESTED_TRANSPORT, 4, &v);
  if (rc) return rc;
  *proto = v[0];
  return 0;
}

static int wire_family(uint8_t f, firn_family *out) {
  if (f == 0x01) *out = FIRN_AF_INET;
  else if (f == 0x02) *out = FIRN_AF_INET6;
  else return FIRN_ERR_STUN_BAD_ADDR_FAMILY;
  return 0;
}

int firn_stun_msg_get_family(const firn_stun_msg *msg, uint16_t type, firn_family *out) {
  const uint8_t *v;
  if (!out) return FIRN_ERR_INVALID_ARG;
  int rc = find_fixed(msg, type, 4, &v);
  if (rc) return rc;
  return wire_family(v[0], out);
}

int firn_stun_msg_get_address_error(const firn_stun_msg *msg, firn_family *family, int *code,
                                    const char **reason, size_t *reason_len) {
  const uint8_t *v;
  size_t l;
  if (!family || !code) return FIRN_ERR_INVALID_ARG;
  int rc = find_nth(msg, FIRN_STUN_ATTR_ADDRESS_ERROR_CODE, 0, &v, &l);
  if (rc) return rc;
  if ((rc = check_optional(FIRN_STUN_ATTR_ADDRESS_ERROR_CODE, v, l)) != 0) return rc;
  if ((rc = wire_family(v[0], family)) != 0) return rc;
  *code = (v[2] & 7) * 100 + v[3];
  if (reason) *reason = (const char *)v + 4;
  if (reason_len) *reason_len = l - 4;
  return 0;
}

int firn_stun_msg_get_icmp(const firn_stun_msg *msg, uint8_t *type, uint8_t *code, uint32_t *data) {
  const uint8_t *v;
  int rc = find_fixed(msg, FIRN_STUN_ATTR_ICMP, 8, &v);
  if (rc) return rc;
  /* RFC 8656 18.13: 16 reserved bits, a 7-bit ICMP type, a 9-bit ICMP code, then 32 bits
   * of error data. ICMPv4/v6 codes are 8-bit, so a code over 255 is malformed. */
  unsigned icmp_code = ((v[2] & 1u) << 8) | v[3];
  if (icmp_code > 0xFF) return FIRN_ERR_STUN_BAD_ATTR;
  if (type) *type = (uint8_t)(v[2] >> 1);
  if (code) *code = (uint8_t)icmp_code;
  if (data) *data = firn_get_u32(v + 4);
  return 0;
}

int firn_stun_msg_get_even_port(const firn_stun_msg *msg, int *reserve) {
  const uint8_t *v;
  if (!reserve) return FIRN_ERR_INVALID_ARG;
  int rc = find_fixed(msg, FIRN_STUN_ATTR_EVEN_PORT, 1, &v);
  if (rc) return rc;
  *reserve = (v[0] & 0x80) != 0;
  return 0;
}
