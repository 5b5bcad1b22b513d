/* SRTP sessions on libsrtp2: one inbound and one outbound session per DTLS association. */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <srtp2/srtp.h>

#include "common/alloc.h"
#include "dtls/dtls.h"

_Static_assert(FIRN_SRTP_MAX_TRAILER >= SRTP_MAX_TRAILER_LEN + 4,
               "FIRN_SRTP_MAX_TRAILER must cover libsrtp2's RTCP trailer");
_Static_assert(FIRN_SRTP_MAX_KEY + FIRN_SRTP_MAX_SALT >= SRTP_AES_GCM_256_KEY_LEN_WSALT,
               "key buffers too small");

/* Replay window (packets); libsrtp2 accepts 64..32767. */
#define FIRN_SRTP_WINDOW 1024

struct firn_srtp {
  firn_allocator alloc;
  firn_srtp_profile profile;
  srtp_t in;  /* unprotect with the remote key */
  srtp_t out; /* protect with the local key */
  firn_srtp_stats stats;
};

static pthread_once_t srtp_once = PTHREAD_ONCE_INIT;
static srtp_err_status_t srtp_init_status = srtp_err_status_fail;

static void srtp_init_once(void) { srtp_init_status = srtp_init(); }

int firn_srtp_global_init(void) {
  if (pthread_once(&srtp_once, srtp_init_once) != 0) return FIRN_ERR_SRTP;
  return srtp_init_status == srtp_err_status_ok ? FIRN_OK : FIRN_ERR_SRTP;
}

const char *firn_srtp_version(void) { return srtp_get_version_string(); }

/* Crypto policies for RTP and RTCP per profile (RFC 5764 section 4.1.2, RFC 7714). */
static int set_policies(firn_srtp_profile p, srtp_crypto_policy_t *rtp, srtp_crypto_policy_t *rtcp) {
  switch (p) {
  case FIRN_SRTP_AES128_CM_SHA1_80:
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtcp);
    return FIRN_OK;
  case FIRN_SRTP_AES128_CM_SHA1_32:
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtcp); /* SRTCP keeps the 80-bit tag */
    return FIRN_OK;
  case FIRN_SRTP_AEAD_AES_128_GCM:
    srtp_crypto_policy_set_aes_gcm_128_16_auth(rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(rtcp);
    return FIRN_OK;
  case FIRN_SRTP_AEAD_AES_256_GCM:
    srtp_crypto_policy_set_aes_gcm_256_16_auth(rtp);
    srtp_crypto_policy_set_aes_gcm_256_16_auth(rtcp);
    return FIRN_OK;
  case FIRN_SRTP_NONE:
    break;
  }
  return FIRN_ERR_UNSUPPORTED;
}

static int map_create_err(srtp_err_status_t st) {
  return st == srtp_err_status_alloc_fail ? FIRN_ERR_NOMEM : FIRN_ERR_SRTP;
}

static int create_session(srtp_t *out, firn_srtp_profile p, srtp_ssrc_type_t type,
                          const uint8_t *key, const uint8_t *salt) {
  size_t kl, sl;
  if (firn_srtp_profile_lengths(p, &kl, &sl) < 0) return FIRN_ERR_UNSUPPORTED;
  uint8_t master[FIRN_SRTP_MAX_KEY + FIRN_SRTP_MAX_SALT];
  memcpy(master, key, kl);
  memcpy(master + kl, salt, sl);
  srtp_policy_t pol;
  memset(&pol, 0, sizeof pol);
  int rc = set_policies(p, &pol.rtp, &pol.rtcp);
  if (rc == FIRN_OK) {
    pol.ssrc.type = type;
    pol.key = master;
    pol.window_size = FIRN_SRTP_WINDOW;
    pol.allow_repeat_tx = 0; /* never reuse a keystream for a different packet */
    pol.next = NULL;
    srtp_err_status_t st = srtp_create(out, &pol);
    if (st != srtp_err_status_ok) {
      *out = NULL;
      rc = map_create_err(st);
    }
  }
  firn_wipe(master, sizeof master);
  return rc;
}

int firn_srtp_new(firn_srtp **out, const firn_allocator *alloc, const firn_srtp_keys *keys) {
  if (!out || !keys) return FIRN_ERR_INVALID_ARG;
  *out = NULL;
  if (firn_srtp_profile_lengths(keys->profile, NULL, NULL) < 0) return FIRN_ERR_UNSUPPORTED;
  int rc = firn_srtp_global_init();
  if (rc < 0) return rc;
  firn_allocator a;
  firn_alloc_init(&a, alloc);
  firn_srtp *s = firn_calloc(&a, 1, sizeof *s);
  if (!s) return FIRN_ERR_NOMEM;
  s->alloc = a;
  s->profile = keys->profile;
  rc = create_session(&s->out, keys->profile, ssrc_any_outbound, keys->local_key,
                      keys->local_salt);
  if (rc == FIRN_OK)
    rc = create_session(&s->in, keys->profile, ssrc_any_inbound, keys->remote_key,
                        keys->remote_salt);
  if (rc != FIRN_OK) {
    firn_srtp_free(s);
    return rc;
  }
  *out = s;
  return FIRN_OK;
}

int firn_srtp_new_from_dtls(firn_srtp **out, const firn_allocator *alloc, firn_dtls *d) {
  if (!out) return FIRN_ERR_INVALID_ARG;
  *out = NULL;
  firn_srtp_keys keys;
  int rc = firn_dtls_export_srtp_keys(d, &keys);
  if (rc == FIRN_OK) rc = firn_srtp_new(out, alloc, &keys);
  firn_srtp_keys_wipe(&keys);
  return rc;
}

void firn_srtp_free(firn_srtp *s) {
  if (!s) return;
  if (s->in) srtp_dealloc(s->in);
  if (s->out) srtp_dealloc(s->out);
  firn_allocator a = s->alloc;
  firn_wipe(s, sizeof *s);
  firn_free(&a, s);
}

firn_srtp_profile firn_srtp_get_profile(const firn_srtp *s) { return s ? s->profile : FIRN_SRTP_NONE; }

void firn_srtp_get_stats(const firn_srtp *s, firn_srtp_stats *stats) {
  if (!stats) return;
  if (s)
    *stats = s->stats;
  else
    memset(stats, 0, sizeof *stats);
}

static int map_unprotect_err(firn_srtp *s, srtp_err_status_t st) {
  switch (st) {
  case srtp_err_status_auth_fail:
    s->stats.auth_failures++;
    return FIRN_ERR_SRTP_AUTH;
  case srtp_err_status_replay_fail:
  case srtp_err_status_replay_old:
    s->stats.replays++;
    return FIRN_ERR_SRTP_REPLAY;
  default:
    s->stats.other_failures++;
    return FIRN_ERR_SRTP;
  }
}

/* Smallest packets libsrtp2 is given: an RTP header, an RTCP header plus sender SSRC. */
#define RTP_MIN 12
#define RTCP_MIN 8

static int protect(firn_srtp *s, bool rtcp, uint8_t *buf, size_t len, size_t cap,
                   size_t *out_len) {
  if (!s || !buf || !out_len) return FIRN_ERR_INVALID_ARG;
  if (len < (rtcp ? RTCP_MIN : RTP_MIN) || len > INT_MAX - FIRN_SRTP_MAX_TRAILER)
    return FIRN_ERR_INVALID_ARG;
  if (cap < len + FIRN_SRTP_MAX_TRAILER) return FIRN_ERR_NOBUF;
  int n = (int)len;
  srtp_err_status_t st = rtcp ? srtp_protect_rtcp(s->out, buf, &n) : srtp_protect(s->out, buf, &n);
  if (st != srtp_err_status_ok) {
    if (st == srtp_err_status_replay_fail || st == srtp_err_status_replay_old)
      return FIRN_ERR_SRTP_REPLAY;
    return FIRN_ERR_SRTP;
  }
  if (n < 0 || (size_t)n > cap) return FIRN_ERR_SRTP; /* cannot happen: room was reserved */
  *out_len = (size_t)n;
  if (rtcp)
    s->stats.rtcp_protected++;
  else
    s->stats.rtp_protected++;
  return FIRN_OK;
}

static int unprotect(firn_srtp *s, bool rtcp, uint8_t *buf, size_t len, size_t *out_len) {
  if (!s || !buf || !out_len) return FIRN_ERR_INVALID_ARG;
  if (len > INT_MAX) return FIRN_ERR_INVALID_ARG;
  if (len < (rtcp ? RTCP_MIN : RTP_MIN)) {
    s->stats.other_failures++;
    return FIRN_ERR_SRTP;
  }
  int n = (int)len;
  srtp_err_status_t st = rtcp ? srtp_unprotect_rtcp(s->in, buf, &n) : srtp_unprotect(s->in, buf, &n);
  if (st != srtp_err_status_ok) return map_unprotect_err(s, st);
  if (n < 0 || (size_t)n > len) {
    s->stats.other_failures++;
    return FIRN_ERR_SRTP;
  }
  *out_len = (size_t)n;
  if (rtcp)
    s->stats.rtcp_unprotected++;
  else
    s->stats.rtp_unprotected++;
  return FIRN_OK;
}

int firn_srtp_protect_rtp(firn_srtp *s, uint8_t *buf, size_t len, size_t cap, size_t *out_len) {
  return protect(s, false, buf, len, cap, out_len);
}

int firn_srtp_protect_rtcp(firn_srtp *s, uint8_t *buf, size_t len, size_t cap, size_t *out_len) {
  return protect(s, true, buf, len, cap, out_len);
}

int firn_srtp_unprotect_rtp(firn_srtp *s, uint8_t *buf, size_t len, size_t *out_len) {
  return unprotect(s, false, buf, len, out_len);
}

int firn_srtp_unprotect_rtcp(firn_srtp *s, uint8_t *buf, size_t len, size_t *out_len) {
  return unprotect(s, true, buf, len, out_len);
}
