/*
 * libFuzzer target for the STUN codec: parse, every typed accessor, integrity and
 * FINGERPRINT verification, and a round trip through the builder.
 *
 * For every input that parses, the target checks invariants the header promises (offsets in
 * bounds, values in range, FINGERPRINT equal to the CRC of what precedes it), then rebuilds the
 * message attribute by attribute with the builder (typed adders for the first occurrence of
 * each known attribute, raw copies otherwise), re-signs it with MESSAGE-INTEGRITY(-SHA256) and
 * FINGERPRINT when the original had them, parses the result again and requires the same
 * content and a verifying signature. The rebuild is then repeated into a buffer that is one or
 * more bytes too small, which must fail cleanly with FIRN_ERR_NOBUF.
 *
 * A random mutation almost never produces a valid CRC, so when an input ends in something that
 * looks like a FINGERPRINT attribute, a copy with the CRC fixed up is run as well: that lets
 * the fuzzer explore everything behind the FINGERPRINT check.
 *
 * Any broken invariant calls abort() with a message on stderr, which libFuzzer reports as a
 * crash and the replay test as a failure.
 */
#include "fuzz.h"

#include "firn/stun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "fuzz_stun: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                       \
    }                                                                                \
  } while (0)

/* Room for the longest UNKNOWN-ATTRIBUTES / PASSWORD-ALGORITHMS list a 64 KiB message holds. */
#define LIST_MAX (FIRN_STUN_MAX_MESSAGE / 2)

static firn_stun_key *g_short;   /* short-term: the RFC 5769 ICE password */
static firn_stun_key *g_lt_md5;  /* long-term, MD5 (RFC 5389 / RFC 5769 2.4) */
static firn_stun_key *g_lt_sha;  /* long-term, SHA-256 (RFC 8489 B.1) */
static uint16_t g_list_a[LIST_MAX];
static uint16_t g_list_b[LIST_MAX];

static void free_keys(void) {
  firn_stun_key_free(g_short);
  firn_stun_key_free(g_lt_md5);
  firn_stun_key_free(g_lt_sha);
  g_short = g_lt_md5 = g_lt_sha = NULL;
}

static void init_keys(void) {
  static int done;
  if (done)
    return;
  done = 1;
  CHECK(firn_stun_key_new_short_term(&g_short, NULL, FUZZ_SHORT_TERM_PASSWORD,
                                     strlen(FUZZ_SHORT_TERM_PASSWORD)) == 0);
  CHECK(firn_stun_key_new_long_term(&g_lt_md5, NULL, FIRN_STUN_PASSWORD_ALG_MD5, FUZZ_LT_USERNAME,
                                    strlen(FUZZ_LT_USERNAME), FUZZ_LT_REALM, strlen(FUZZ_LT_REALM),
                                    FUZZ_LT_PASSWORD, strlen(FUZZ_LT_PASSWORD)) == 0);
  CHECK(firn_stun_key_new_long_term(&g_lt_sha, NULL, FIRN_STUN_PASSWORD_ALG_SHA256,
                                    FUZZ_LT_USERNAME, strlen(FUZZ_LT_USERNAME), FUZZ_LT_REALM,
                                    strlen(FUZZ_LT_REALM), FUZZ_LT_PASSWORD,
                                    strlen(FUZZ_LT_PASSWORD)) == 0);
  atexit(free_keys);
}

/* Every attribute type stun.h names, plus one unknown of each comprehension range. */
static const uint16_t k_all_types[] = {
  FIRN_STUN_ATTR_MAPPED_ADDRESS, FIRN_STUN_ATTR_USERNAME, FIRN_STUN_ATTR_MESSAGE_INTEGRITY,
  FIRN_STUN_ATTR_ERROR_CODE, FIRN_STUN_ATTR_UNKNOWN_ATTRIBUTES, FIRN_STUN_ATTR_CHANNEL_NUMBER,
  FIRN_STUN_ATTR_LIFETIME, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, FIRN_STUN_ATTR_DATA,
  FIRN_STUN_ATTR_REALM, FIRN_STUN_ATTR_NONCE, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS,
  FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, FIRN_STUN_ATTR_EVEN_PORT,
  FIRN_STUN_ATTR_REQUESTED_TRANSPORT, FIRN_STUN_ATTR_DONT_FRAGMENT,
  FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256, FIRN_STUN_ATTR_PASSWORD_ALGORITHM,
  FIRN_STUN_ATTR_USERHASH, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, FIRN_STUN_ATTR_RESERVATION_TOKEN,
  FIRN_STUN_ATTR_PRIORITY, FIRN_STUN_ATTR_USE_CANDIDATE, FIRN_STUN_ATTR_CONNECTION_ID,
  FIRN_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, FIRN_STUN_ATTR_ADDRESS_ERROR_CODE,
  FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, FIRN_STUN_ATTR_ALTERNATE_DOMAIN, FIRN_STUN_ATTR_ICMP,
  FIRN_STUN_ATTR_SOFTWARE, FIRN_STUN_ATTR_ALTERNATE_SERVER, FIRN_STUN_ATTR_FINGERPRINT,
  FIRN_STUN_ATTR_ICE_CONTROLLED, FIRN_STUN_ATTR_ICE_CONTROLLING,
  0x7ff0, 0xfff0,
};
#define N_ALL_TYPES (sizeof k_all_types / sizeof k_all_types[0])

static const uint16_t k_u32_types[] = {FIRN_STUN_ATTR_PRIORITY, FIRN_STUN_ATTR_LIFETIME,
                                       FIRN_STUN_ATTR_CONNECTION_ID};
static const uint16_t k_u64_types[] = {FIRN_STUN_ATTR_ICE_CONTROLLING,
                                       FIRN_STUN_ATTR_ICE_CONTROLLED,
                                       FIRN_STUN_ATTR_RESERVATION_TOKEN};
static const uint16_t k_addr_types[] = {FIRN_STUN_ATTR_MAPPED_ADDRESS,
                                        FIRN_STUN_ATTR_ALTERNATE_SERVER};
static const uint16_t k_xor_types[] = {FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS,
                                       FIRN_STUN_ATTR_XOR_PEER_ADDRESS,
                                       FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS};
static const uint16_t k_string_types[] = {FIRN_STUN_ATTR_USERNAME, FIRN_STUN_ATTR_REALM,
                                          FIRN_STUN_ATTR_NONCE, FIRN_STUN_ATTR_SOFTWARE,
                                          FIRN_STUN_ATTR_ALTERNATE_DOMAIN};
static const uint16_t k_family_types[] = {FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY,
                                          FIRN_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int in_list(uint16_t t, const uint16_t *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (list[i] == t)
      return 1;
  return 0;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

/* A pointer the codec returned must lie inside the message; touching every byte lets ASan
 * catch anything that does not. */
static volatile uint8_t g_sink;
static void check_span(const firn_stun_msg *m, const void *ptr, size_t len) {
  const uint8_t *p = ptr;
  if (len == 0)
    return;
  CHECK(p != NULL);
  CHECK(p >= m->data && p + len <= m->data + m->len);
  uint8_t acc = 0;
  for (size_t i = 0; i < len; i++)
    acc ^= p[i];
  g_sink = acc;
}

static void check_addr(const firn_addr *a) {
  CHECK(a->family == FIRN_AF_INET || a->family == FIRN_AF_INET6);
  char text[FIRN_ADDR_STRLEN];
  CHECK(firn_addr_format(a, 1, text, sizeof text) > 0);
}

static size_t string_limit(uint16_t type) {
  switch (type) {
  case FIRN_STUN_ATTR_USERNAME: return FIRN_STUN_MAX_USERNAME;
  case FIRN_STUN_ATTR_REALM: return FIRN_STUN_MAX_REALM;
  case FIRN_STUN_ATTR_NONCE: return FIRN_STUN_MAX_NONCE;
  case FIRN_STUN_ATTR_SOFTWARE: return FIRN_STUN_MAX_SOFTWARE;
  case FIRN_STUN_ATTR_ALTERNATE_DOMAIN: return 255; /* a DNS name (RFC 8489 14.16) */
  default: return FIRN_STUN_MAX_MESSAGE;
  }
}

/* Structural invariants of a successfully parsed message. */
static void check_structure(const firn_stun_msg *m, const uint8_t *data, size_t size) {
  CHECK(m->data == data);
  CHECK(m->len == size);
  CHECK(size >= FIRN_STUN_HEADER_SIZE && size <= FIRN_STUN_MAX_MESSAGE);
  CHECK(size % 4 == 0);
  CHECK(firn_stun_is_stun(data, size) == (data[0] <= 3)); /* RFC 7983: first byte 0..3 */
  CHECK(firn_stun_type(m->method, (firn_stun_class)m->cls) == rd16(data));
  CHECK(m->cls <= FIRN_STUN_ERROR);
  CHECK(m->method <= 0xfff);
  CHECK(memcmp(m->tid, data + 8, FIRN_STUN_TID_SIZE) == 0);
  CHECK(m->nattrs <= FIRN_STUN_MAX_ATTRS);
  size_t prev = 0;
  for (unsigned i = 0; i < m->nattrs; i++) {
    size_t off = m->attr_off[i];
    CHECK(off >= FIRN_STUN_HEADER_SIZE && off % 4 == 0 && off + 4 <= size);
    CHECK(off > prev);
    prev = off;
    size_t alen = rd16(data + off + 2);
    CHECK(off + 4 + ((alen + 3) & ~(size_t)3) <= size);
  }
  if (m->mi_off) {
    CHECK(m->mi_off >= FIRN_STUN_HEADER_SIZE && (size_t)m->mi_off + 24 <= size);
    CHECK(rd16(data + m->mi_off) == FIRN_STUN_ATTR_MESSAGE_INTEGRITY);
  }
  if (m->mi256_off) {
    CHECK(m->mi256_off >= FIRN_STUN_HEADER_SIZE && (size_t)m->mi256_off + 4 + 16 <= size);
    CHECK(rd16(data + m->mi256_off) == FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256);
  }
  if (m->fp_off) {
    CHECK((size_t)m->fp_off + 8 == size);
    CHECK(rd16(data + m->fp_off) == FIRN_STUN_ATTR_FINGERPRINT);
    uint32_t fp = 0;
    CHECK(firn_stun_msg_get_u32(m, FIRN_STUN_ATTR_FINGERPRINT, &fp) == 0);
    CHECK(fp == firn_stun_fingerprint(data, m->fp_off));
  }
  CHECK(m->n_unknown <= FIRN_STUN_MAX_UNKNOWN);
  for (unsigned i = 0; i < m->n_unknown; i++)
    CHECK(m->unknown[i] < 0x8000);
}

/* Call every accessor; check what they return against the header's promises. */
static void exercise_accessors(const firn_stun_msg *m) {
  for (size_t i = 0; i < N_ALL_TYPES; i++) {
    const uint8_t *v = NULL;
    size_t len = 0;
    int has = firn_stun_msg_has(m, k_all_types[i]);
    int rc = firn_stun_msg_find(m, k_all_types[i], &v, &len);
    CHECK(rc == 0 || rc == FIRN_ERR_NOT_FOUND);
    CHECK((rc == 0) == (has == 1));
    if (rc == 0)
      check_span(m, v, len);
    /* Wrong-type reads must fail cleanly or succeed in bounds, never crash. */
    uint32_t u32;
    uint64_t u64;
    (void)firn_stun_msg_get_u32(m, k_all_types[i], &u32);
    (void)firn_stun_msg_get_u64(m, k_all_types[i], &u64);
  }
  for (size_t i = 0; i < COUNT(k_addr_types); i++) {
    firn_addr a;
    if (firn_stun_msg_get_addr(m, k_addr_types[i], &a) == 0)
      check_addr(&a);
  }
  for (size_t i = 0; i < COUNT(k_xor_types); i++) {
    for (unsigned idx = 0; idx < 3; idx++) {
      firn_addr a;
      int rc = firn_stun_msg_get_xor_addr(m, k_xor_types[i], idx, &a);
      if (rc == 0)
        check_addr(&a);
      else if (idx == 0)
        CHECK(!firn_stun_msg_has(m, k_xor_types[i]));
    }
  }
  /* A plain and an XOR address read of the other kind must not crash. */
  firn_addr tmp;
  (void)firn_stun_msg_get_addr(m, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &tmp);
  (void)firn_stun_msg_get_xor_addr(m, FIRN_STUN_ATTR_MAPPED_ADDRESS, 0, &tmp);

  int code = 0;
  const char *reason = NULL;
  size_t reason_len = 0;
  if (firn_stun_msg_get_error(m, &code, &reason, &reason_len) == 0) {
    CHECK(code >= 300 && code <= 699);
    CHECK(reason_len <= FIRN_STUN_MAX_REASON);
    check_span(m, reason, reason_len);
    CHECK(firn_stun_reason_phrase(code) != NULL);
    CHECK(firn_stun_msg_get_error(m, &code, NULL, NULL) == 0);
  } else {
    CHECK(!firn_stun_msg_has(m, FIRN_STUN_ATTR_ERROR_CODE));
  }

  for (size_t i = 0; i < COUNT(k_string_types); i++) {
    const char *s = NULL;
    size_t len = 0;
    if (firn_stun_msg_get_string(m, k_string_types[i], &s, &len) == 0) {
      CHECK(len <= string_limit(k_string_types[i]));
      check_span(m, s, len);
    }
  }

  size_t count = 0;
  if (firn_stun_msg_get_unknown_attrs(m, g_list_a, LIST_MAX, &count) == 0)
    CHECK(count <= LIST_MAX);
  uint16_t few[2];
  (void)firn_stun_msg_get_unknown_attrs(m, few, 2, &count);
  (void)firn_stun_msg_get_unknown_attrs(m, few, 0, &count);
  if (firn_stun_msg_get_password_algs(m, g_list_a, LIST_MAX, &count) == 0)
    CHECK(count <= LIST_MAX);
  (void)firn_stun_msg_get_password_algs(m, few, 1, &count);

  uint16_t channel;
  if (firn_stun_msg_get_channel(m, &channel) == 0)
    CHECK(channel >= 0x4000 && channel <= 0x4fff);
  uint8_t proto;
  (void)firn_stun_msg_get_requested_transport(m, &proto);
  for (size_t i = 0; i < COUNT(k_family_types); i++) {
    firn_family fam;
    if (firn_stun_msg_get_family(m, k_family_types[i], &fam) == 0)
      CHECK(fam == FIRN_AF_INET || fam == FIRN_AF_INET6);
  }
  firn_family fam;
  if (firn_stun_msg_get_address_error(m, &fam, &code, &reason, &reason_len) == 0) {
    CHECK(reason_len <= FIRN_STUN_MAX_REASON);
    check_span(m, reason, reason_len);
    (void)firn_stun_msg_get_address_error(m, &fam, &code, NULL, NULL);
  }
  uint8_t itype, icode;
  uint32_t idata;
  (void)firn_stun_msg_get_icmp(m, &itype, &icode, &idata);
  int reserve;
  if (firn_stun_msg_get_even_port(m, &reserve) == 0)
    CHECK(reserve == 0 || reserve == 1);

  const char *user = NULL, *realm = NULL;
  size_t user_len = 0, realm_len = 0;
  if (firn_stun_msg_get_string(m, FIRN_STUN_ATTR_USERNAME, &user, &user_len) == 0 &&
      firn_stun_msg_get_string(m, FIRN_STUN_ATTR_REALM, &realm, &realm_len) == 0) {
    uint8_t hash[32];
    CHECK(firn_stun_userhash(user, user_len, realm, realm_len, hash) == 0);
  }
}

static void exercise_integrity(const firn_stun_msg *m) {
  const firn_stun_key *keys[] = {g_short, g_lt_md5, g_lt_sha};
  for (size_t i = 0; i < COUNT(keys); i++) {
    int r1 = firn_stun_msg_verify_sha1(m, keys[i]);
    int r2 = firn_stun_msg_verify_sha256(m, keys[i]);
    int r = firn_stun_msg_verify(m, keys[i]);
    CHECK(r1 == 0 || r1 == FIRN_ERR_STUN_BAD_INTEGRITY || r1 == FIRN_ERR_STUN_NO_INTEGRITY);
    CHECK(r2 == 0 || r2 == FIRN_ERR_STUN_BAD_INTEGRITY || r2 == FIRN_ERR_STUN_NO_INTEGRITY);
    CHECK((r1 == FIRN_ERR_STUN_NO_INTEGRITY) == (m->mi_off == 0));
    CHECK((r2 == FIRN_ERR_STUN_NO_INTEGRITY) == (m->mi256_off == 0));
    /* verify() prefers SHA-256 and falls back to SHA-1. */
    CHECK(r == (m->mi256_off ? r2 : r1));
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Rebuild                                                                                   */

/* Where the visible attributes end: the first of MI, MI-SHA256, FINGERPRINT. */
static size_t visible_end(const firn_stun_msg *m) {
  size_t end = m->len;
  if (m->mi_off && m->mi_off < end)
    end = m->mi_off;
  if (m->mi256_off && m->mi256_off < end)
    end = m->mi256_off;
  if (m->fp_off && m->fp_off < end)
    end = m->fp_off;
  return end;
}

/* Index of the occurrence of `type` at offset `off` among those before it. */
static unsigned occurrence(const firn_stun_msg *m, uint16_t type, size_t off) {
  unsigned n = 0;
  for (unsigned i = 0; i < m->nattrs && m->attr_off[i] < off; i++)
    if (rd16(m->data + m->attr_off[i]) == type)
      n++;
  return n;
}

/* Attributes whose validation the issue spells out: a parsed message must have them readable
 * through their accessor. For the others a failing accessor only means "copy it raw". */
static int strict_type(uint16_t type) {
  return type == FIRN_STUN_ATTR_PRIORITY || type == FIRN_STUN_ATTR_LIFETIME ||
         type == FIRN_STUN_ATTR_ICE_CONTROLLING || type == FIRN_STUN_ATTR_ICE_CONTROLLED;
}

/* Add one visible attribute of `m` to `b`, with its typed adder where there is one. Returns 1
 * if a typed adder was used. */
static int rebuild_attr(firn_stun_builder *b, const firn_stun_msg *m, size_t off) {
  uint16_t type = rd16(m->data + off);
  size_t len = rd16(m->data + off + 2);
  const uint8_t *value = m->data + off + 4;
  unsigned nth = occurrence(m, type, off);

  if (in_list(type, k_xor_types, COUNT(k_xor_types))) {
    firn_addr a;
    CHECK(firn_stun_msg_get_xor_addr(m, type, nth, &a) == 0);
    firn_stun_add_xor_addr(b, type, &a);
    return 1;
  }
  if (nth == 0) {
    if (in_list(type, k_u32_types, COUNT(k_u32_types))) {
      uint32_t v;
      int rc = firn_stun_msg_get_u32(m, type, &v);
      CHECK(rc == 0 || !strict_type(type));
      if (rc == 0) {
        firn_stun_add_u32(b, type, v);
        return 1;
      }
    }
    if (in_list(type, k_u64_types, COUNT(k_u64_types))) {
      uint64_t v;
      int rc = firn_stun_msg_get_u64(m, type, &v);
      CHECK(rc == 0 || !strict_type(type));
      if (rc == 0) {
        firn_stun_add_u64(b, type, v);
        return 1;
      }
    }
    if (in_list(type, k_addr_types, COUNT(k_addr_types))) {
      firn_addr a;
      CHECK(firn_stun_msg_get_addr(m, type, &a) == 0);
      firn_stun_add_addr(b, type, &a);
      return 1;
    }
    if (in_list(type, k_string_types, COUNT(k_string_types))) {
      const char *s;
      size_t slen;
      CHECK(firn_stun_msg_get_string(m, type, &s, &slen) == 0);
      firn_stun_add_string(b, type, s, slen);
      return 1;
    }
    if (in_list(type, k_family_types, COUNT(k_family_types))) {
      firn_family fam;
      if (firn_stun_msg_get_family(m, type, &fam) == 0) {
        firn_stun_add_family(b, type, fam);
        return 1;
      }
    }
    switch (type) {
    case FIRN_STUN_ATTR_ERROR_CODE: {
      int code;
      const char *reason;
      size_t reason_len;
      CHECK(firn_stun_msg_get_error(m, &code, &reason, &reason_len) == 0);
      if (memchr(reason, 0, reason_len) != NULL)
        break; /* add_error takes a C string: copy this one raw */
      char text[FIRN_STUN_MAX_REASON + 1];
      CHECK(reason_len < sizeof text);
      memcpy(text, reason, reason_len);
      text[reason_len] = '\0';
      firn_stun_add_error(b, code, text);
      return 1;
    }
    case FIRN_STUN_ATTR_UNKNOWN_ATTRIBUTES: {
      size_t count = 0;
      if (firn_stun_msg_get_unknown_attrs(m, g_list_b, LIST_MAX, &count) == 0) {
        CHECK(count <= LIST_MAX);
        firn_stun_add_unknown_attrs(b, g_list_b, count);
        return 1;
      }
      break;
    }
    case FIRN_STUN_ATTR_CHANNEL_NUMBER: {
      uint16_t ch;
      if (firn_stun_msg_get_channel(m, &ch) == 0) {
        firn_stun_add_channel(b, ch);
        return 1;
      }
      break;
    }
    case FIRN_STUN_ATTR_REQUESTED_TRANSPORT: {
      uint8_t proto;
      if (firn_stun_msg_get_requested_transport(m, &proto) == 0) {
        firn_stun_add_requested_transport(b, proto);
        return 1;
      }
      break;
    }
    case FIRN_STUN_ATTR_USE_CANDIDATE:
    case FIRN_STUN_ATTR_DONT_FRAGMENT:
      if (len == 0) {
        firn_stun_add_flag(b, type);
        return 1;
      }
      break;
    default:
      break;
    }
  }
  firn_stun_add_raw(b, type, value, len);
  return 0;
}

/* Rebuild `m` into buf/cap; returns what firn_stun_builder_finish() returns. */
static firn_ssize rebuild(const firn_stun_msg *m, uint8_t *buf, size_t cap) {
  firn_stun_builder b;
  size_t end = visible_end(m);
  firn_stun_builder_init(&b, buf, cap, m->method, (firn_stun_class)m->cls, m->tid);
  for (unsigned i = 0; i < m->nattrs && m->attr_off[i] < end; i++)
    (void)rebuild_attr(&b, m, m->attr_off[i]);
  if (m->mi_off)
    firn_stun_add_integrity(&b, g_short);
  if (m->mi256_off)
    firn_stun_add_integrity_sha256(&b, g_short);
  if (m->fp_off)
    firn_stun_add_fingerprint(&b);
  return firn_stun_builder_finish(&b);
}

static void same_value(const firn_stun_msg *a, const firn_stun_msg *b, uint16_t type) {
  const uint8_t *va, *vb;
  size_t la, lb;
  int ra = firn_stun_msg_find(a, type, &va, &la);
  int rb = firn_stun_msg_find(b, type, &vb, &lb);
  CHECK(ra == rb);
  if (ra == 0) {
    CHECK(la == lb);
    CHECK(la == 0 || memcmp(va, vb, la) == 0);
  }
}

/* The rebuilt message `r` must carry what the original `m` carried. */
static void compare(const firn_stun_msg *m, const firn_stun_msg *r) {
  CHECK(r->method == m->method && r->cls == m->cls);
  CHECK(memcmp(r->tid, m->tid, FIRN_STUN_TID_SIZE) == 0);
  CHECK(r->n_unknown == m->n_unknown);
  CHECK(memcmp(r->unknown, m->unknown, m->n_unknown * sizeof m->unknown[0]) == 0);
  CHECK((r->mi_off != 0) == (m->mi_off != 0));
  CHECK((r->mi256_off != 0) == (m->mi256_off != 0));
  CHECK((r->fp_off != 0) == (m->fp_off != 0));

  for (size_t i = 0; i < N_ALL_TYPES; i++) {
    uint16_t t = k_all_types[i];
    CHECK(firn_stun_msg_has(r, t) == firn_stun_msg_has(m, t));
    /* Values with reserved bits or padding the builder normalises are compared typed below;
     * the others must be byte-identical. */
    if (t == FIRN_STUN_ATTR_MESSAGE_INTEGRITY || t == FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
        t == FIRN_STUN_ATTR_FINGERPRINT || t == FIRN_STUN_ATTR_ERROR_CODE ||
        t == FIRN_STUN_ATTR_UNKNOWN_ATTRIBUTES || t == FIRN_STUN_ATTR_CHANNEL_NUMBER ||
        t == FIRN_STUN_ATTR_REQUESTED_TRANSPORT ||
        in_list(t, k_family_types, COUNT(k_family_types)) ||
        in_list(t, k_addr_types, COUNT(k_addr_types)) ||
        in_list(t, k_xor_types, COUNT(k_xor_types)))
      continue;
    same_value(m, r, t);
  }
  for (size_t i = 0; i < COUNT(k_addr_types); i++) {
    firn_addr x, y;
    int rx = firn_stun_msg_get_addr(m, k_addr_types[i], &x);
    CHECK(rx == firn_stun_msg_get_addr(r, k_addr_types[i], &y));
    if (rx == 0)
      CHECK(firn_addr_equal(&x, &y));
  }
  for (size_t i = 0; i < COUNT(k_xor_types); i++) {
    for (unsigned idx = 0; idx < 3; idx++) {
      firn_addr x, y;
      int rx = firn_stun_msg_get_xor_addr(m, k_xor_types[i], idx, &x);
      CHECK(rx == firn_stun_msg_get_xor_addr(r, k_xor_types[i], idx, &y));
      if (rx == 0)
        CHECK(firn_addr_equal(&x, &y));
    }
  }
  int ca = 0, cb = 0;
  const char *sa = NULL, *sb = NULL;
  size_t la = 0, lb = 0;
  int rc = firn_stun_msg_get_error(m, &ca, &sa, &la);
  CHECK(rc == firn_stun_msg_get_error(r, &cb, &sb, &lb));
  if (rc == 0)
    CHECK(ca == cb && la == lb && (la == 0 || memcmp(sa, sb, la) == 0));
  size_t na = 0, nb = 0;
  rc = firn_stun_msg_get_unknown_attrs(m, g_list_a, LIST_MAX, &na);
  CHECK(rc == firn_stun_msg_get_unknown_attrs(r, g_list_b, LIST_MAX, &nb));
  if (rc == 0)
    CHECK(na == nb && memcmp(g_list_a, g_list_b, na * sizeof g_list_a[0]) == 0);
  uint16_t cha = 0, chb = 0;
  rc = firn_stun_msg_get_channel(m, &cha);
  CHECK(rc == firn_stun_msg_get_channel(r, &chb));
  CHECK(rc != 0 || cha == chb);
  uint8_t pa = 0, pb = 0;
  rc = firn_stun_msg_get_requested_transport(m, &pa);
  CHECK(rc == firn_stun_msg_get_requested_transport(r, &pb));
  CHECK(rc != 0 || pa == pb);
  for (size_t i = 0; i < COUNT(k_family_types); i++) {
    firn_family fa = FIRN_AF_NONE, fb = FIRN_AF_NONE;
    rc = firn_stun_msg_get_family(m, k_family_types[i], &fa);
    CHECK(rc == firn_stun_msg_get_family(r, k_family_types[i], &fb));
    CHECK(rc != 0 || fa == fb);
  }
}

/* 1 if `m` holds a string the parser accepts (RFC 8489 decoding limit, 763 bytes) but the
 * builder must not write (encoding limit, stun.h FIRN_STUN_BUILD_MAX_*). */
static int over_build_limit(const firn_stun_msg *m) {
  static const struct { uint16_t type; size_t max; } lim[] = {
      {FIRN_STUN_ATTR_USERNAME, FIRN_STUN_BUILD_MAX_USERNAME},
      {FIRN_STUN_ATTR_REALM, FIRN_STUN_BUILD_MAX_REALM},
      {FIRN_STUN_ATTR_NONCE, FIRN_STUN_BUILD_MAX_NONCE},
      {FIRN_STUN_ATTR_SOFTWARE, FIRN_STUN_BUILD_MAX_SOFTWARE}};
  for (size_t i = 0; i < COUNT(lim); i++) {
    const char *s;
    size_t len;
    if (firn_stun_msg_get_string(m, lim[i].type, &s, &len) == 0 && len > lim[i].max)
      return 1;
  }
  int code;
  const char *reason;
  size_t reason_len;
  return firn_stun_msg_get_error(m, &code, &reason, &reason_len) == 0 &&
         reason_len > FIRN_STUN_BUILD_MAX_REASON;
}

static void exercise_builder(const firn_stun_msg *m, const uint8_t *data, size_t size) {
  size_t cap = size + 128;
  uint8_t *buf = malloc(cap);
  CHECK(buf != NULL);
  firn_ssize n = rebuild(m, buf, cap);
  if (n == FIRN_ERR_STUN_ATTR_TOO_LONG && over_build_limit(m)) {
    free(buf);
    return;
  }
  if (n < 0) {
    fprintf(stderr, "fuzz_stun: rebuild failed: %d (%s)\n", (int)n, firn_strerror((int)n));
    abort();
  }
  CHECK((size_t)n <= cap);
  firn_stun_msg r;
  int rc = firn_stun_msg_parse(&r, buf, (size_t)n);
  if (rc != 0) {
    fprintf(stderr, "fuzz_stun: rebuilt message does not parse: %d (%s)\n", rc,
            firn_strerror(rc));
    abort();
  }
  check_structure(&r, buf, (size_t)n);
  compare(m, &r);
  if (r.mi_off) {
    CHECK(firn_stun_msg_verify_sha1(&r, g_short) == 0);
    CHECK(firn_stun_msg_verify_sha1(&r, g_lt_md5) == FIRN_ERR_STUN_BAD_INTEGRITY);
  }
  if (r.mi256_off) {
    CHECK(firn_stun_msg_verify_sha256(&r, g_short) == 0);
    CHECK(firn_stun_msg_verify_sha256(&r, g_lt_sha) == FIRN_ERR_STUN_BAD_INTEGRITY);
  }
  if (r.mi_off || r.mi256_off)
    CHECK(firn_stun_msg_verify(&r, g_short) == 0);
  else
    CHECK(firn_stun_msg_verify(&r, g_short) == FIRN_ERR_STUN_NO_INTEGRITY);

  /* The same into a buffer that is too small, allocated to the byte so ASan sees overruns. */
  size_t small = (size_t)(data[size - 1] ^ data[size / 2]) * 131u % (size_t)n;
  uint8_t *tight = malloc(small ? small : 1);
  CHECK(tight != NULL);
  firn_ssize t = rebuild(m, tight, small);
  CHECK(t == FIRN_ERR_NOBUF);
  free(tight);
  free(buf);
}

static void run_one(const uint8_t *data, size_t size) {
  firn_stun_msg m;
  (void)firn_stun_is_stun(data, size);
  int rc = firn_stun_msg_parse(&m, data, size);
  if (rc != 0) {
    CHECK(rc < 0);
    CHECK(firn_strerror(rc) != NULL);
    return;
  }
  check_structure(&m, data, size);
  exercise_accessors(&m);
  exercise_integrity(&m);
  exercise_builder(&m, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_keys();
  run_one(data, size);

  /* If the input ends like a FINGERPRINT attribute with a wrong CRC, try it with the right
   * one, so mutations are not all stopped at the CRC check. */
  if (size >= FIRN_STUN_HEADER_SIZE + 8 && size <= FIRN_STUN_MAX_MESSAGE &&
      rd16(data + size - 8) == FIRN_STUN_ATTR_FINGERPRINT && rd16(data + size - 6) == 4) {
    uint32_t crc = firn_stun_fingerprint(data, size - 8);
    const uint8_t *p = data + size - 4;
    uint32_t have = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    if (have != crc) {
      uint8_t *copy = malloc(size);
      CHECK(copy != NULL);
      memcpy(copy, data, size);
      copy[size - 4] = (uint8_t)(crc >> 24);
      copy[size - 3] = (uint8_t)(crc >> 16);
      copy[size - 2] = (uint8_t)(crc >> 8);
      copy[size - 1] = (uint8_t)crc;
      run_one(copy, size);
      free(copy);
    }
  }
  return 0;
}
