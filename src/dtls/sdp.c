/* SDP-facing helpers of the DTLS-SRTP layer: fingerprints (RFC 8122), a=setup roles
 * (RFC 4145, RFC 5763, RFC 8842), SRTP profile names and key layout (RFC 5764). */
#include <string.h>

#include <openssl/crypto.h>

#include "common/alloc.h"
#include "dtls/dtls.h"

static const struct {
  firn_fingerprint_alg alg;
  const char *name;
  size_t len;
} fp_algs[] = {
    {FIRN_FP_SHA1, "sha-1", 20},     {FIRN_FP_SHA224, "sha-224", 28},
    {FIRN_FP_SHA256, "sha-256", 32}, {FIRN_FP_SHA384, "sha-384", 48},
    {FIRN_FP_SHA512, "sha-512", 64},
};

const char *firn_fingerprint_alg_name(firn_fingerprint_alg alg) {
  for (size_t i = 0; i < sizeof fp_algs / sizeof fp_algs[0]; i++)
    if (fp_algs[i].alg == alg) return fp_algs[i].name;
  return NULL;
}

size_t firn_fingerprint_alg_len(firn_fingerprint_alg alg) {
  for (size_t i = 0; i < sizeof fp_algs / sizeof fp_algs[0]; i++)
    if (fp_algs[i].alg == alg) return fp_algs[i].len;
  return 0;
}

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

static bool token_eq(const char *a, size_t alen, const char *lit) {
  size_t n = strlen(lit);
  if (alen != n) return false;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lit[i]) return false;
  return true;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

int firn_fingerprint_parse(firn_fingerprint *fp, const char *str, size_t len) {
  if (!fp || !str) return FIRN_ERR_INVALID_ARG;
  /* trailing blanks and line ends are not part of the value */
  while (len > 0 && (is_blank(str[len - 1]) || str[len - 1] == '\r' || str[len - 1] == '\n'))
    len--;
  size_t i = 0;
  while (i < len && !is_blank(str[i])) i++;
  size_t name_len = i;
  if (name_len == 0 || i == len) return FIRN_ERR_PARSE;
  firn_fingerprint_alg alg = 0;
  size_t want = 0;
  for (size_t k = 0; k < sizeof fp_algs / sizeof fp_algs[0]; k++)
    if (token_eq(str, name_len, fp_algs[k].name)) {
      alg = fp_algs[k].alg;
      want = fp_algs[k].len;
    }
  if (!alg) {
    /* a well-formed but unknown hash-func token (e.g. "md5", "sha-3") is unsupported */
    for (size_t k = 0; k < name_len; k++) {
      unsigned char c = (unsigned char)str[k];
      if (c <= ' ' || c >= 0x7f) return FIRN_ERR_PARSE;
    }
    return FIRN_ERR_UNSUPPORTED;
  }
  while (i < len && is_blank(str[i])) i++;
  /* exactly `want` groups of two hex digits separated by single colons */
  const char *p = str + i;
  size_t rest = len - i;
  if (rest != want * 3 - 1) return FIRN_ERR_PARSE;
  firn_fingerprint out;
  memset(&out, 0, sizeof out);
  for (size_t b = 0; b < want; b++) {
    int hi = hexval((unsigned char)p[b * 3]);
    int lo = hexval((unsigned char)p[b * 3 + 1]);
    if (hi < 0 || lo < 0) return FIRN_ERR_PARSE;
    if (b + 1 < want && p[b * 3 + 2] != ':') return FIRN_ERR_PARSE;
    out.bytes[b] = (uint8_t)(hi << 4 | lo);
  }
  out.alg = alg;
  out.len = (uint8_t)want;
  *fp = out;
  return FIRN_OK;
}

int firn_fingerprint_format(const firn_fingerprint *fp, char *buf, size_t size) {
  if (!fp || !buf) return FIRN_ERR_INVALID_ARG;
  const char *name = firn_fingerprint_alg_name(fp->alg);
  if (!name || fp->len != firn_fingerprint_alg_len(fp->alg)) return FIRN_ERR_INVALID_ARG;
  size_t nlen = strlen(name);
  size_t need = nlen + 1 + (size_t)fp->len * 3 - 1;
  if (size < need + 1) return FIRN_ERR_NOBUF;
  static const char hex[] = "0123456789ABCDEF";
  memcpy(buf, name, nlen);
  char *o = buf + nlen;
  *o++ = ' ';
  for (size_t b = 0; b < fp->len; b++) {
    if (b) *o++ = ':';
    *o++ = hex[fp->bytes[b] >> 4];
    *o++ = hex[fp->bytes[b] & 15];
  }
  *o = '\0';
  return (int)need;
}

bool firn_fingerprint_equal(const firn_fingerprint *a, const firn_fingerprint *b) {
  if (!a || !b || a->alg != b->alg || a->len != b->len || a->len > FIRN_FINGERPRINT_MAX)
    return false;
  return CRYPTO_memcmp(a->bytes, b->bytes, a->len) == 0;
}

/* ---- a=setup ---- */

static const char *const setup_names[] = {"actpass", "active", "passive", "holdconn"};

int firn_dtls_setup_parse(const char *str, size_t len, firn_dtls_setup *out) {
  if (!str || !out) return FIRN_ERR_INVALID_ARG;
  for (size_t i = 0; i < 4; i++)
    if (token_eq(str, len, setup_names[i])) {
      *out = (firn_dtls_setup)i;
      return FIRN_OK;
    }
  return FIRN_ERR_PARSE;
}

const char *firn_dtls_setup_name(firn_dtls_setup setup) {
  return ((unsigned)setup < 4) ? setup_names[setup] : NULL;
}

int firn_dtls_setup_answer(firn_dtls_setup offer, firn_dtls_setup *answer) {
  if (!answer) return FIRN_ERR_INVALID_ARG;
  switch (offer) {
  case FIRN_SETUP_ACTPASS: *answer = FIRN_SETUP_ACTIVE; return FIRN_OK;
  case FIRN_SETUP_ACTIVE: *answer = FIRN_SETUP_PASSIVE; return FIRN_OK;
  case FIRN_SETUP_PASSIVE: *answer = FIRN_SETUP_ACTIVE; return FIRN_OK;
  case FIRN_SETUP_HOLDCONN: return FIRN_ERR_UNSUPPORTED;
  }
  return FIRN_ERR_INVALID_ARG;
}

int firn_dtls_role_from_setup(firn_dtls_setup local, firn_dtls_setup remote,
                              firn_dtls_role *role) {
  if (!role || (unsigned)local > FIRN_SETUP_HOLDCONN || (unsigned)remote > FIRN_SETUP_HOLDCONN)
    return FIRN_ERR_INVALID_ARG;
  if (local == FIRN_SETUP_HOLDCONN || remote == FIRN_SETUP_HOLDCONN) return FIRN_ERR_UNSUPPORTED;
  if (local == FIRN_SETUP_ACTIVE && remote != FIRN_SETUP_ACTIVE) {
    *role = FIRN_DTLS_CLIENT;
    return FIRN_OK;
  }
  if (local == FIRN_SETUP_PASSIVE && remote != FIRN_SETUP_PASSIVE) {
    *role = FIRN_DTLS_SERVER;
    return FIRN_OK;
  }
  if (local == FIRN_SETUP_ACTPASS && remote == FIRN_SETUP_ACTIVE) {
    *role = FIRN_DTLS_SERVER;
    return FIRN_OK;
  }
  if (local == FIRN_SETUP_ACTPASS && remote == FIRN_SETUP_PASSIVE) {
    *role = FIRN_DTLS_CLIENT;
    return FIRN_OK;
  }
  return FIRN_ERR_PARSE; /* actpass/actpass, active/active, passive/passive */
}

/* ---- SRTP profiles ---- */

static const struct {
  firn_srtp_profile p;
  const char *name;
  size_t key, salt;
} profiles[] = {
    {FIRN_SRTP_AES128_CM_SHA1_80, "SRTP_AES128_CM_SHA1_80", 16, 14},
    {FIRN_SRTP_AES128_CM_SHA1_32, "SRTP_AES128_CM_SHA1_32", 16, 14},
    {FIRN_SRTP_AEAD_AES_128_GCM, "SRTP_AEAD_AES_128_GCM", 16, 12},
    {FIRN_SRTP_AEAD_AES_256_GCM, "SRTP_AEAD_AES_256_GCM", 32, 12},
};

const char *firn_srtp_profile_name(firn_srtp_profile profile) {
  if (profile == FIRN_SRTP_NONE) return "none";
  for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
    if (profiles[i].p == profile) return profiles[i].name;
  return NULL;
}

int firn_srtp_profile_from_name(const char *name, firn_srtp_profile *out) {
  if (!name || !out) return FIRN_ERR_INVALID_ARG;
  for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
    if (strcmp(profiles[i].name, name) == 0) {
      *out = profiles[i].p;
      return FIRN_OK;
    }
  return FIRN_ERR_NOT_FOUND;
}

int firn_srtp_profile_lengths(firn_srtp_profile p, size_t *key_len, size_t *salt_len) {
  for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
    if (profiles[i].p == p) {
      if (key_len) *key_len = profiles[i].key;
      if (salt_len) *salt_len = profiles[i].salt;
      return FIRN_OK;
    }
  return FIRN_ERR_UNSUPPORTED;
}

void firn_srtp_keys_wipe(firn_srtp_keys *keys) {
  if (keys) firn_wipe(keys, sizeof *keys);
}

int firn_srtp_keys_from_material(firn_srtp_keys *keys, firn_srtp_profile profile,
                                 firn_dtls_role role, const uint8_t *material, size_t len) {
  size_t kl, sl;
  if (!keys || !material) return FIRN_ERR_INVALID_ARG;
  if (firn_srtp_profile_lengths(profile, &kl, &sl) < 0) return FIRN_ERR_UNSUPPORTED;
  if (len != 2 * (kl + sl)) return FIRN_ERR_INVALID_ARG;
  const uint8_t *client_key = material, *server_key = material + kl;
  const uint8_t *client_salt = material + 2 * kl, *server_salt = client_salt + sl;
  bool client = role == FIRN_DTLS_CLIENT;
  memset(keys, 0, sizeof *keys);
  keys->profile = profile;
  memcpy(keys->local_key, client ? client_key : server_key, kl);
  memcpy(keys->local_salt, client ? client_salt : server_salt, sl);
  memcpy(keys->remote_key, client ? server_key : client_key, kl);
  memcpy(keys->remote_salt, client ? server_salt : client_salt, sl);
  return FIRN_OK;
}
