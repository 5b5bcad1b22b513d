/*
 * libFuzzer target for the STUN builder driven by arbitrary arguments.
 *
 * fuzz_stun.c feeds the builder only values that came out of a parsed message. This target
 * reads the input as a small program instead (header, then up to 128 builder calls with
 * argument values taken from the input, including out-of-range ones, calls after
 * FINGERPRINT, keys, buffer size) and checks what the builder promises:
 *   - finish() returns the message length or one of the documented errors;
 *   - a message is 4-byte aligned, within the buffer, with a correct length field;
 *   - a message made only with the typed adders used for their own attribute types parses
 *     with firn_stun_msg_parse(), and its MESSAGE-INTEGRITY(-SHA256) verifies with the key
 *     used (the builder never makes what the parser refuses);
 *   - the same program into a buffer of exactly the message's size gives the same bytes,
 *     and into any smaller buffer fails with FIRN_ERR_NOBUF, without writing past it.
 * Any input is a valid program, so the replay test runs it over the STUN seed corpus.
 */
#include "fuzz.h"

#include "firn/stun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "fuzz_stun_build: check failed at %s:%d: %s\n", __FILE__, __LINE__, \
              #cond);                                                                \
      abort();                                                                       \
    }                                                                                \
  } while (0)

#define MAX_OPS 128
#define BIG_CAP 8192

static firn_stun_key *g_keys[3];

static void free_keys(void) {
  for (int i = 0; i < 3; i++) {
    firn_stun_key_free(g_keys[i]);
    g_keys[i] = NULL;
  }
}

static void init_keys(void) {
  static int done;
  if (done)
    return;
  done = 1;
  CHECK(firn_stun_key_new_short_term(&g_keys[0], NULL, FUZZ_SHORT_TERM_PASSWORD,
                                     strlen(FUZZ_SHORT_TERM_PASSWORD)) == 0);
  CHECK(firn_stun_key_new_long_term(&g_keys[1], NULL, FIRN_STUN_PASSWORD_ALG_MD5,
                                    FUZZ_LT_USERNAME, strlen(FUZZ_LT_USERNAME), FUZZ_LT_REALM,
                                    strlen(FUZZ_LT_REALM), FUZZ_LT_PASSWORD,
                                    strlen(FUZZ_LT_PASSWORD)) == 0);
  static const uint8_t raw[64] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  CHECK(firn_stun_key_new_raw(&g_keys[2], NULL, raw, sizeof raw) == 0);
  atexit(free_keys);
}

/* Input reader: past the end everything reads as zero. */
typedef struct reader {
  const uint8_t *p;
  size_t left;
} reader;

static uint8_t get8(reader *r) {
  if (!r->left)
    return 0;
  r->left--;
  return *r->p++;
}

static uint16_t get16(reader *r) {
  uint16_t hi = get8(r);
  return (uint16_t)((hi << 8) | get8(r));
}

static uint32_t get32(reader *r) {
  uint32_t hi = get16(r);
  return (hi << 16) | get16(r);
}

static uint64_t get64(reader *r) {
  uint64_t hi = get32(r);
  return (hi << 32) | get32(r);
}

/* Fill `out` with `len` bytes: input bytes while they last, then a pattern. */
static void get_bytes(reader *r, uint8_t *out, size_t len) {
  for (size_t i = 0; i < len; i++)
    out[i] = r->left ? get8(r) : (uint8_t)('a' + i % 26);
}

/* Attribute types: mostly the right ones for an adder, sometimes anything. */
static uint16_t pick_type(reader *r, const uint16_t *good, size_t n, int *semantic) {
  uint8_t sel = get8(r);
  if (sel < 224) {
    return good[sel % n];
  }
  *semantic = 0;
  return get16(r);
}

static const uint16_t k_flag_types[] = {FIRN_STUN_ATTR_USE_CANDIDATE,
                                        FIRN_STUN_ATTR_DONT_FRAGMENT};
static const uint16_t k_u32_types[] = {FIRN_STUN_ATTR_PRIORITY, FIRN_STUN_ATTR_LIFETIME,
                                       FIRN_STUN_ATTR_CONNECTION_ID};
static const uint16_t k_u64_types[] = {FIRN_STUN_ATTR_ICE_CONTROLLING,
                                       FIRN_STUN_ATTR_ICE_CONTROLLED,
                                       FIRN_STUN_ATTR_RESERVATION_TOKEN};
static const uint16_t k_string_types[] = {FIRN_STUN_ATTR_USERNAME, FIRN_STUN_ATTR_REALM,
                                          FIRN_STUN_ATTR_NONCE, FIRN_STUN_ATTR_SOFTWARE,
                                          FIRN_STUN_ATTR_ALTERNATE_DOMAIN};
static const uint16_t k_addr_types[] = {FIRN_STUN_ATTR_MAPPED_ADDRESS,
                                        FIRN_STUN_ATTR_ALTERNATE_SERVER};
static const uint16_t k_xor_types[] = {FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS,
                                       FIRN_STUN_ATTR_XOR_PEER_ADDRESS,
                                       FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS};
static const uint16_t k_family_types[] = {FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY,
                                          FIRN_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static size_t string_limit(uint16_t type) {
  switch (type) {
  /* the builder's encoding limits (stun.h FIRN_STUN_BUILD_MAX_*), below the parse limits */
  case FIRN_STUN_ATTR_USERNAME: return FIRN_STUN_BUILD_MAX_USERNAME;
  case FIRN_STUN_ATTR_REALM: return FIRN_STUN_BUILD_MAX_REALM;
  case FIRN_STUN_ATTR_NONCE: return FIRN_STUN_BUILD_MAX_NONCE;
  case FIRN_STUN_ATTR_SOFTWARE: return FIRN_STUN_BUILD_MAX_SOFTWARE;
  case FIRN_STUN_ATTR_ALTERNATE_DOMAIN: return FIRN_STUN_MAX_ALTERNATE_DOMAIN; /* RFC 8489 14.16 */
  default: return FIRN_STUN_MAX_MESSAGE;
  }
}

/* What a program did, for the checks after finish(). */
typedef struct prog_info {
  int semantic;        /* only typed adders, each for its own attribute types */
  int over_limit;      /* a typed string longer than its RFC limit */
  unsigned nattrs;     /* attributes successfully added */
  int mi_key, mi256_key; /* index of the key used, -1 if none */
} prog_info;

/* Run the program in `data` against a builder on buf/cap. Deterministic: the same input
 * gives the same calls whatever the buffer. */
static firn_ssize run_program(const uint8_t *data, size_t size, uint8_t *buf, size_t cap,
                              prog_info *info) {
  reader r = {data, size};
  static uint8_t scratch[2048];
  static char text[1100];
  static uint16_t list[64];
  firn_stun_builder b;

  info->semantic = 1;
  info->over_limit = 0;
  info->nattrs = 0;
  info->mi_key = info->mi256_key = -1;

  uint16_t method = get16(&r);
  uint8_t cls = get8(&r);
  if ((method & 0xc000) == 0xc000) /* sometimes more than 12 bits: refused */
    method &= 0x3fff;
  else if (method & 0x8000)
    method &= 0x0fff;
  else
    method &= 0x000f;
  cls %= 5; /* 4 is out of range */
  uint8_t tid[FIRN_STUN_TID_SIZE];
  get_bytes(&r, tid, sizeof tid);
  firn_stun_builder_init(&b, buf, cap, method, (firn_stun_class)cls, tid);

  for (int op = 0; op < MAX_OPS && r.left; op++) {
    int err_before = b.err;
    int sem = 1;
    switch (get8(&r) % 16) {
    case 0: { /* raw */
      uint16_t type = get16(&r);
      size_t len = get16(&r) % sizeof scratch;
      get_bytes(&r, scratch, len);
      firn_stun_add_raw(&b, type, scratch, len);
      sem = 0;
      break;
    }
    case 1:
      firn_stun_add_flag(&b, pick_type(&r, k_flag_types, COUNT(k_flag_types), &sem));
      break;
    case 2: {
      uint16_t type = pick_type(&r, k_u32_types, COUNT(k_u32_types), &sem);
      firn_stun_add_u32(&b, type, get32(&r));
      break;
    }
    case 3: {
      uint16_t type = pick_type(&r, k_u64_types, COUNT(k_u64_types), &sem);
      firn_stun_add_u64(&b, type, get64(&r));
      break;
    }
    case 4: {
      uint16_t type = pick_type(&r, k_string_types, COUNT(k_string_types), &sem);
      size_t len = get16(&r) % 1024;
      get_bytes(&r, scratch, len);
      if (sem && len > string_limit(type))
        info->over_limit = 1;
      firn_stun_add_string(&b, type, (const char *)scratch, len);
      break;
    }
    case 5:
    case 6: {
      int xor = get8(&r) & 1;
      uint16_t type = xor ? pick_type(&r, k_xor_types, COUNT(k_xor_types), &sem)
                          : pick_type(&r, k_addr_types, COUNT(k_addr_types), &sem);
      firn_addr a;
      memset(&a, 0, sizeof a);
      uint8_t fam = get8(&r);
      a.family = fam < 100 ? FIRN_AF_INET : fam < 250 ? FIRN_AF_INET6 : fam;
      a.port = get16(&r);
      get_bytes(&r, a.addr, a.family == FIRN_AF_INET ? 4 : 16);
      if (xor)
        firn_stun_add_xor_addr(&b, type, &a);
      else
        firn_stun_add_addr(&b, type, &a);
      break;
    }
    case 7: { /* ERROR-CODE, any code, a reason up to past the limit or NULL */
      int code = (int)(get16(&r) % 800);
      size_t len = get16(&r) % (sizeof text - 1);
      get_bytes(&r, (uint8_t *)text, len);
      text[len] = '\0';
      firn_stun_add_error(&b, code, (len & 7) == 7 ? NULL : text);
      break;
    }
    case 8: {
      size_t n = get8(&r) % (COUNT(list) + 1);
      for (size_t i = 0; i < n; i++)
        list[i] = get16(&r);
      firn_stun_add_unknown_attrs(&b, list, n);
      break;
    }
    case 9:
      firn_stun_add_requested_transport(&b, get8(&r));
      break;
    case 10: {
      uint16_t type = pick_type(&r, k_family_types, COUNT(k_family_types), &sem);
      uint8_t fam = get8(&r);
      firn_stun_add_family(&b, type, fam < 100 ? FIRN_AF_INET : fam < 250 ? FIRN_AF_INET6
                                                                             : (firn_family)fam);
      break;
    }
    case 11:
      firn_stun_add_channel(&b, get16(&r));
      break;
    case 12:
      firn_stun_add_password_alg(&b, (firn_stun_password_alg)(get8(&r) % 4));
      break;
    case 13: {
      int k = get8(&r) % 3;
      firn_stun_add_integrity(&b, g_keys[k]);
      if (!b.err && !err_before)
        info->mi_key = k;
      break;
    }
    case 14: {
      int k = get8(&r) % 3;
      firn_stun_add_integrity_sha256(&b, g_keys[k]);
      if (!b.err && !err_before)
        info->mi256_key = k;
      break;
    }
    default:
      firn_stun_add_fingerprint(&b);
      break;
    }
    if (!b.err) {
      info->nattrs++;
      if (!sem)
        info->semantic = 0;
    }
  }
  return firn_stun_builder_finish(&b);
}

/* The attributes of a message, for the report when a check fails. */
static void dump(const uint8_t *m, size_t len) {
  fprintf(stderr, "  header %02x%02x length %zu\n", m[0], m[1], len);
  for (size_t off = FIRN_STUN_HEADER_SIZE; off + 4 <= len;) {
    size_t alen = (size_t)((m[off + 2] << 8) | m[off + 3]);
    fprintf(stderr, "  attribute %02x%02x length %zu:", m[off], m[off + 1], alen);
    for (size_t i = 0; i < alen && i < 24 && off + 4 + i < len; i++)
      fprintf(stderr, " %02x", m[off + 4 + i]);
    fprintf(stderr, "%s\n", alen > 24 ? " ..." : "");
    off += 4 + ((alen + 3) & ~(size_t)3);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_keys();
  /* The first byte picks the buffer size: mostly roomy, sometimes tight. */
  size_t cap = size ? (data[0] < 200 ? BIG_CAP : (size_t)data[0] * 4u) : BIG_CAP;
  uint8_t *buf = malloc(cap);
  CHECK(buf != NULL);
  prog_info info;
  firn_ssize n = run_program(data, size, buf, cap, &info);

  if (n < 0) {
    /* the builder also refuses what the parser would (its value checks, same codes) */
    CHECK(n == FIRN_ERR_NOBUF || n == FIRN_ERR_INVALID_ARG || n == FIRN_ERR_STATE ||
          n == FIRN_ERR_STUN_ATTR_TOO_LONG || n == FIRN_ERR_STUN_TOO_MANY_ATTRS ||
          n == FIRN_ERR_STUN_BAD_ATTR || n == FIRN_ERR_STUN_BAD_ADDR_FAMILY ||
          n == FIRN_ERR_STUN_BAD_ERROR_CODE);
    free(buf);
    return 0;
  }
  size_t len = (size_t)n;
  CHECK(len >= FIRN_STUN_HEADER_SIZE && len <= cap && len <= FIRN_STUN_MAX_MESSAGE);
  CHECK(len % 4 == 0);
  CHECK((size_t)((buf[2] << 8) | buf[3]) == len - FIRN_STUN_HEADER_SIZE);
  CHECK(firn_stun_is_stun(buf, len) == (buf[0] <= 3)); /* RFC 7983: methods up to 0xFF */

  firn_stun_msg m;
  int rc = firn_stun_msg_parse(&m, buf, len);
  /* The builder refuses over-limit strings and too many attributes, so whatever it built
   * from well-formed values must parse. */
  CHECK(!info.over_limit && info.nattrs <= FIRN_STUN_MAX_ATTRS);
  if (info.semantic) {
    if (rc != 0) {
      fprintf(stderr, "fuzz_stun_build: built message does not parse: %d (%s)\n", rc,
              firn_strerror(rc));
      dump(buf, len);
      abort();
    }
    if (info.mi_key >= 0)
      CHECK(firn_stun_msg_verify_sha1(&m, g_keys[info.mi_key]) == 0);
    if (info.mi256_key >= 0)
      CHECK(firn_stun_msg_verify_sha256(&m, g_keys[info.mi256_key]) == 0);
  }

  /* Exactly the size needed: same bytes. */
  uint8_t *exact = malloc(len);
  CHECK(exact != NULL);
  prog_info again;
  CHECK(run_program(data, size, exact, len, &again) == n);
  CHECK(memcmp(exact, buf, len) == 0);
  free(exact);

  /* Smaller: FIRN_ERR_NOBUF, nothing written past the allocation. */
  size_t small = ((size ? data[size / 2] : 0) * 31u + size) % len;
  uint8_t *tight = malloc(small ? small : 1);
  CHECK(tight != NULL);
  CHECK(run_program(data, size, tight, small, &again) == FIRN_ERR_NOBUF);
  free(tight);
  free(buf);
  return 0;
}
