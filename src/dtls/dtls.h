/* DTLS-SRTP layer (RFC 5763, RFC 5764, RFC 8122, RFC 8842): internal API.
 *
 * A firn_dtls is one DTLS 1.2 endpoint run over in-memory datagrams. It performs no I/O and
 * reads no clock itself: the driver (the ICE agent) feeds received datagrams with
 * firn_dtls_handle_datagram(), drains datagrams to send with firn_dtls_poll_transmit(),
 * asks firn_dtls_expiry() when it next needs to be called and calls
 * firn_dtls_handle_expiry() then. Every entry point takes the caller's `now` (ns).
 *
 * Timers and the clock (OpenSSL 3.0 limitation): OpenSSL's DTLS retransmission timer stores
 * an absolute deadline taken from gettimeofday() and DTLSv1_handle_timeout() only
 * retransmits once that wall-clock deadline has passed (minus a 15 ms slack); it also checks
 * the same deadline on every read. There is no API to inject time. This layer therefore:
 * - chooses the timeout durations itself (DTLS_set_timer_cb: initial RTO, doubling, capped),
 * - learns when OpenSSL starts and stops its timer from the BIO control
 *   BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT on its own BIO, and places the deadline in the
 *   caller's `now` time (start `now` + duration), which firn_dtls_expiry() reports,
 * - calls DTLSv1_handle_timeout() from firn_dtls_handle_expiry() at that deadline.
 * When the caller's clock runs with the wall clock (the libuv runtime), both deadlines
 * agree and retransmission happens on the `now` schedule. When `now` runs ahead of the
 * wall clock (a simulation), OpenSSL declines; the layer then reschedules itself at
 * `now` + the wall time OpenSSL still wants (at most the current RTO), so it never
 * busy-loops, but retransmission waits for real time. A wall clock stepped backwards
 * delays retransmission the same way; one stepped forwards makes OpenSSL retransmit early
 * (from inside handle_datagram too). The handshake timeout (config.handshake_timeout) is
 * pure `now` time, so a stuck handshake always ends on the caller's schedule.
 *
 * Threading: one object must not be used from two threads at once; distinct objects are
 * independent. Nothing here includes OpenSSL or libsrtp2 headers.
 */
#ifndef FIRN_DTLS_DTLS_H
#define FIRN_DTLS_DTLS_H

#include <stdbool.h>

#include "firn/common.h"
#include "firn/dtls.h"

/* ---------------------------------------------------------------------------------------
 * Fingerprints (RFC 8122)
 * ------------------------------------------------------------------------------------- */

/** Largest fingerprint (SHA-512). */
#define FIRN_FINGERPRINT_MAX 64

/** A certificate fingerprint: hash function and digest bytes. */
typedef struct firn_fingerprint {
  firn_fingerprint_alg alg;
  uint8_t len;                        /* digest length for alg */
  uint8_t bytes[FIRN_FINGERPRINT_MAX];
} firn_fingerprint;

/** Digest length in bytes for a hash, 0 if unknown. */
size_t firn_fingerprint_alg_len(firn_fingerprint_alg alg);

/** Parse the value of an `a=fingerprint:` attribute: "<hash-func> <hex:hex:...>", e.g.
 *  "sha-256 AB:CD:...". Hash names (sha-1, sha-224, sha-256, sha-384, sha-512) and hex
 *  digits are case-insensitive; one or more spaces/tabs separate them; trailing spaces, CR
 *  and LF are ignored. `len` is the length of `str` (it need not be NUL-terminated).
 *  @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_UNSUPPORTED (unknown hash name) or
 *          FIRN_ERR_PARSE (anything else malformed, or the wrong number of bytes). */
int firn_fingerprint_parse(firn_fingerprint *fp, const char *str, size_t len);

/** Format as "<hash-func> AB:CD:..." (uppercase), NUL-terminated.
 *  @return characters written without the NUL, FIRN_ERR_INVALID_ARG or FIRN_ERR_NOBUF. */
int firn_fingerprint_format(const firn_fingerprint *fp, char *buf, size_t size);

/** Compute a certificate's fingerprint. @return 0, FIRN_ERR_INVALID_ARG or FIRN_ERR_CRYPTO. */
int firn_dtls_cert_get_fingerprint(const firn_dtls_cert *cert, firn_fingerprint_alg alg,
                                   firn_fingerprint *fp);

/** Constant-time equality of two fingerprints (same algorithm and bytes). */
bool firn_fingerprint_equal(const firn_fingerprint *a, const firn_fingerprint *b);

/* ---------------------------------------------------------------------------------------
 * a=setup and roles (RFC 4145, RFC 5763 section 5, RFC 8842 section 5)
 * ------------------------------------------------------------------------------------- */

/** Values of the `a=setup` attribute. */
typedef enum firn_dtls_setup {
  FIRN_SETUP_ACTPASS = 0,
  FIRN_SETUP_ACTIVE = 1,
  FIRN_SETUP_PASSIVE = 2,
  FIRN_SETUP_HOLDCONN = 3
} firn_dtls_setup;

/** DTLS role: the client sends the ClientHello. */
typedef enum firn_dtls_role { FIRN_DTLS_CLIENT = 0, FIRN_DTLS_SERVER = 1 } firn_dtls_role;

/** Parse "actpass", "active", "passive" or "holdconn" (case-insensitive, `len` bytes).
 *  @return 0, FIRN_ERR_INVALID_ARG or FIRN_ERR_PARSE. */
int firn_dtls_setup_parse(const char *str, size_t len, firn_dtls_setup *out);

/** The attribute token for a value, NULL if out of range. */
const char *firn_dtls_setup_name(firn_dtls_setup setup);

/** What an answerer puts in its answer for the offer's value: actpass -> active (RFC 8842
 *  says the answerer SHOULD be active), active -> passive, passive -> active.
 *  @return 0, FIRN_ERR_INVALID_ARG, or FIRN_ERR_UNSUPPORTED for holdconn. */
int firn_dtls_setup_answer(firn_dtls_setup offer, firn_dtls_setup *answer);

/** The local DTLS role from the local and remote `a=setup` values once offer and answer are
 *  both known. Exactly one side must end up active: active/passive and active/actpass make
 *  the active side the client; passive/actpass makes the passive side the server.
 *  @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_PARSE (both actpass, both active, both
 *          passive: an invalid offer/answer) or FIRN_ERR_UNSUPPORTED (holdconn). */
int firn_dtls_role_from_setup(firn_dtls_setup local, firn_dtls_setup remote,
                              firn_dtls_role *role);

/* ---------------------------------------------------------------------------------------
 * SRTP keys and profiles
 * ------------------------------------------------------------------------------------- */

/** Largest master key and salt over all supported profiles. */
#define FIRN_SRTP_MAX_KEY 32
#define FIRN_SRTP_MAX_SALT 14

/** Room libsrtp2 may write after a packet: SRTP_MAX_TRAILER_LEN plus the 4-byte SRTCP
 *  index. Every protect call requires `cap >= len + FIRN_SRTP_MAX_TRAILER`. */
#define FIRN_SRTP_MAX_TRAILER 148

/** Master key and salt lengths of a profile. @return 0 or FIRN_ERR_UNSUPPORTED. */
int firn_srtp_profile_lengths(firn_srtp_profile p, size_t *key_len, size_t *salt_len);

/** The keying material for one SRTP session pair, split by direction. Wipe with
 *  firn_srtp_keys_wipe() once used. */
typedef struct firn_srtp_keys {
  firn_srtp_profile profile;
  uint8_t local_key[FIRN_SRTP_MAX_KEY];   /* what we protect with (outbound) */
  uint8_t local_salt[FIRN_SRTP_MAX_SALT];
  uint8_t remote_key[FIRN_SRTP_MAX_KEY];  /* what we unprotect with (inbound) */
  uint8_t remote_salt[FIRN_SRTP_MAX_SALT];
} firn_srtp_keys;

/** Zero a key struct in a way the compiler cannot elide. */
void firn_srtp_keys_wipe(firn_srtp_keys *keys);

/** Split the RFC 5764 section 4.2 exporter output (client_key | server_key | client_salt |
 *  server_salt) into local and remote keys for `role`. `len` must be exactly
 *  2 * (key_len + salt_len). @return 0, FIRN_ERR_INVALID_ARG or FIRN_ERR_UNSUPPORTED. */
int firn_srtp_keys_from_material(firn_srtp_keys *keys, firn_srtp_profile profile,
                                 firn_dtls_role role, const uint8_t *material, size_t len);

/* ---------------------------------------------------------------------------------------
 * DTLS endpoint
 * ------------------------------------------------------------------------------------- */

/** Endpoint state. */
typedef enum firn_dtls_state {
  FIRN_DTLS_NEW = 0,         /* created, firn_dtls_start() not called yet */
  FIRN_DTLS_HANDSHAKING = 1, /* handshake in progress */
  FIRN_DTLS_CONNECTED = 2,   /* handshake done, peer fingerprint verified, keys exportable */
  FIRN_DTLS_FAILED = 3,      /* handshake or session failed; see firn_dtls_error() */
  FIRN_DTLS_CLOSED = 4       /* closed by us or the peer's close_notify (error 0), or by a
                                fatal alert from the connected peer (FIRN_ERR_CLOSED) */
} firn_dtls_state;

/** Most profiles an endpoint can be configured with. */
#define FIRN_DTLS_MAX_PROFILES 4

typedef struct firn_dtls firn_dtls;

/** Callbacks (optional). `size` must be sizeof(firn_dtls_callbacks) (set by
 *  firn_dtls_config_default()). Called from inside the firn_dtls_* call that caused the
 *  change; the callback may call firn_dtls_state/error/poll_transmit/export but must not
 *  destroy the endpoint. */
typedef struct firn_dtls_callbacks {
  size_t size;
  /* State changed to `state`; `err` is 0 or the reason for FAILED. */
  void (*on_state)(void *user, firn_dtls *d, firn_dtls_state state, int err);
  void *user;
} firn_dtls_callbacks;

/** Endpoint settings. Initialise with firn_dtls_config_default(), then override. */
typedef struct firn_dtls_config {
  size_t size;                       /* sizeof(firn_dtls_config), set by the initialiser */
  firn_dtls_role role;               /* from firn_dtls_role_from_setup() */
  const firn_dtls_cert *cert;        /* local identity (required) */
  firn_fingerprint remote_fingerprint; /* from the remote SDP (required, alg != 0) */
  /* SRTP profiles to offer (client) or accept (server), most preferred first. The server
   * picks its most preferred profile among those the client offers. Default:
   * AEAD_AES_256_GCM, AEAD_AES_128_GCM, AES128_CM_SHA1_80, AES128_CM_SHA1_32. */
  firn_srtp_profile profiles[FIRN_DTLS_MAX_PROFILES];
  size_t num_profiles;
  size_t mtu;                        /* largest datagram payload, default 1200, >= 256 */
  uint64_t initial_rto;              /* first retransmission timeout, ns, default 1 s */
  uint64_t max_rto;                  /* retransmission timeout cap, ns, default 60 s */
  uint64_t handshake_timeout;        /* fail a handshake not done after this, ns (`now`
                                        time from firn_dtls_start); default 30 s; 0 = none */
  firn_dtls_callbacks callbacks;
  firn_log_fn log_fn;                /* NULL: no logging */
  void *log_user;
  firn_log_level log_level;
} firn_dtls_config;

/** Fill `cfg` with defaults (no cert, no fingerprint). */
void firn_dtls_config_default(firn_dtls_config *cfg);

/** Counters. */
typedef struct firn_dtls_stats {
  uint64_t datagrams_in;        /* datagrams given to handle_datagram */
  uint64_t datagrams_out;       /* datagrams returned by poll_transmit */
  uint64_t datagrams_dropped;   /* outgoing datagrams dropped because the queue was full */
  uint64_t retransmissions;     /* OpenSSL retransmission timeouts handled */
  uint64_t renegotiations_refused; /* no_renegotiation alerts we sent (keys never change) */
  uint64_t keys_exported;       /* successful firn_dtls_export_srtp_keys calls */
} firn_dtls_stats;

/**
 * Create an endpoint. The certificate's OpenSSL objects are referenced, not copied.
 * @return 0, FIRN_ERR_INVALID_ARG (no cert, no remote fingerprint, bad profile list or
 *         MTU), FIRN_ERR_NOMEM or FIRN_ERR_CRYPTO.
 */
int firn_dtls_new(firn_dtls **out, const firn_allocator *alloc, const firn_dtls_config *cfg);

/** Destroy an endpoint (no close_notify is sent; call firn_dtls_close first for that).
 *  NULL is ignored. Queued datagrams are discarded. */
void firn_dtls_free(firn_dtls *d);

/** Begin the handshake at `now`. A client queues its ClientHello; a server waits for one.
 *  @return 0, FIRN_ERR_STATE (already started) or a failure code (state becomes FAILED). */
int firn_dtls_start(firn_dtls *d, uint64_t now);

/**
 * Process one received DTLS datagram (first byte 20..63 per RFC 7983; the caller demuxes
 * and accepts DTLS only from the selected, validated ICE pair). Invalid records (bad
 * version, length, epoch, MAC, replayed sequence numbers) are dropped silently as RFC 6347
 * requires and never tear a session down. Application data records are discarded
 * (DTLS-SRTP carries none). A server in NEW starts on its first datagram (the peer's
 * ClientHello may arrive before the driver called firn_dtls_start).
 * Note that DTLS 1.2 handshake records in epoch 0 are not authenticated: a forged
 * plaintext fatal alert injected on the path during the handshake can abort it. That is
 * inherent to the protocol and why only the validated pair may feed this function.
 * @return 0 (also for dropped input), FIRN_ERR_INVALID_ARG, FIRN_ERR_STATE (a client not
 *         started, or already failed/closed: the datagram is ignored),
 *         FIRN_ERR_DTLS_FINGERPRINT or FIRN_ERR_DTLS_HANDSHAKE (this datagram made the
 *         handshake fail: state FAILED), FIRN_ERR_NOMEM (state FAILED), or FIRN_ERR_CLOSED
 *         (the connected peer sent a fatal alert: state CLOSED with that error; a
 *         close_notify gives CLOSED with error 0 and returns 0).
 */
int firn_dtls_handle_datagram(firn_dtls *d, const uint8_t *data, size_t len, uint64_t now);

/**
 * Copy the next datagram to send into `buf`.
 * @return its length, FIRN_ERR_WOULDBLOCK (nothing queued), FIRN_ERR_NOBUF (`cap` is too
 *         small; the datagram stays queued) or FIRN_ERR_INVALID_ARG.
 */
firn_ssize firn_dtls_poll_transmit(firn_dtls *d, uint8_t *buf, size_t cap);

/** When firn_dtls_handle_expiry() must next be called, in `now` time, or FIRN_TIME_NEVER. */
uint64_t firn_dtls_expiry(const firn_dtls *d);

/** Handle timers due at `now`: retransmissions and the handshake timeout. Harmless to call
 *  early. @return 0 or the failure code if the handshake failed (state FAILED). */
int firn_dtls_handle_expiry(firn_dtls *d, uint64_t now);

/** Send close_notify (queued for poll_transmit) and enter CLOSED. @return 0 or
 *  FIRN_ERR_STATE if not started. Closing a FAILED/CLOSED endpoint is a no-op. */
int firn_dtls_close(firn_dtls *d, uint64_t now);

/** Current state. */
firn_dtls_state firn_dtls_get_state(const firn_dtls *d);

/** Why the endpoint failed (FIRN_ERR_DTLS_FINGERPRINT, FIRN_ERR_DTLS_HANDSHAKE, ...), 0 if
 *  it did not. */
int firn_dtls_error(const firn_dtls *d);

/** The configured role. */
firn_dtls_role firn_dtls_get_role(const firn_dtls *d);

/** The negotiated SRTP profile (FIRN_SRTP_NONE before CONNECTED). */
firn_srtp_profile firn_dtls_srtp_profile(const firn_dtls *d);

/** Counters. */
void firn_dtls_get_stats(const firn_dtls *d, firn_dtls_stats *stats);

/**
 * Export the SRTP keys (RFC 5764 section 4.2, label "EXTRACTOR-dtls_srtp") split by this
 * endpoint's role. Only in CONNECTED, i.e. after the peer's certificate matched the
 * expected fingerprint. The caller wipes `keys` (firn_srtp_keys_wipe) after use.
 * @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_STATE (not connected), FIRN_ERR_CRYPTO.
 */
int firn_dtls_export_srtp_keys(firn_dtls *d, firn_srtp_keys *keys);

/** For tests only: the underlying SSL object (an `SSL *`). */
void *firn_dtls_test_ssl(firn_dtls *d);

/* ---------------------------------------------------------------------------------------
 * SRTP sessions (libsrtp2)
 * ------------------------------------------------------------------------------------- */

typedef struct firn_srtp firn_srtp;

/** Counters. Failures are counted per kind and the packet is never delivered. */
typedef struct firn_srtp_stats {
  uint64_t rtp_protected, rtcp_protected;
  uint64_t rtp_unprotected, rtcp_unprotected;
  uint64_t auth_failures;   /* FIRN_ERR_SRTP_AUTH on unprotect */
  uint64_t replays;         /* FIRN_ERR_SRTP_REPLAY on unprotect */
  uint64_t other_failures;  /* other unprotect failures (malformed, too short) */
} firn_srtp_stats;

/** Initialise libsrtp2 once per process (thread-safe; later calls return the first
 *  result). Called by firn_srtp_new; exposed for tests and early checks.
 *  @return 0 or FIRN_ERR_SRTP. */
int firn_srtp_global_init(void);

/** The libsrtp2 version string, e.g. "libsrtp2 2.5.0". (libsrtp2 does not report its crypto
 *  backend; Debian's build uses NSS, see tests/unit/dtls.) */
const char *firn_srtp_version(void);

/**
 * Create inbound and outbound SRTP sessions from `keys` (any SSRC, replay window 1024,
 * RTCP keyed from the same master key; AES128_CM_SHA1_32 uses an 80-bit SRTCP tag as
 * RFC 5764 requires). The key material is copied into libsrtp2; the caller wipes `keys`.
 * @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_UNSUPPORTED, FIRN_ERR_NOMEM or FIRN_ERR_SRTP.
 */
int firn_srtp_new(firn_srtp **out, const firn_allocator *alloc, const firn_srtp_keys *keys);

/** Export keys from a CONNECTED endpoint and create the sessions; keys are wiped.
 *  @return as firn_dtls_export_srtp_keys() and firn_srtp_new(). */
int firn_srtp_new_from_dtls(firn_srtp **out, const firn_allocator *alloc, firn_dtls *d);

/** Free the sessions (libsrtp2 wipes its keys). NULL is ignored. */
void firn_srtp_free(firn_srtp *s);

/** The profile the sessions use. */
firn_srtp_profile firn_srtp_get_profile(const firn_srtp *s);

/**
 * Protect an RTP (or RTCP) packet in place. `buf` holds `len` bytes of plaintext and has
 * room for `cap` bytes; `cap` must be at least len + FIRN_SRTP_MAX_TRAILER, whatever the
 * profile, so libsrtp2 can never write past the buffer. On success `*out_len` is the
 * protected length.
 * @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_NOBUF, FIRN_ERR_SRTP_REPLAY (this sequence
 *         number was already protected) or FIRN_ERR_SRTP.
 */
int firn_srtp_protect_rtp(firn_srtp *s, uint8_t *buf, size_t len, size_t cap, size_t *out_len);
int firn_srtp_protect_rtcp(firn_srtp *s, uint8_t *buf, size_t len, size_t cap, size_t *out_len);

/**
 * Verify and decrypt an SRTP (or SRTCP) packet in place; `*out_len` is the plaintext
 * length. Failures are counted in the stats.
 * @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_SRTP_AUTH (bad tag), FIRN_ERR_SRTP_REPLAY
 *         (replayed or too old) or FIRN_ERR_SRTP (malformed).
 */
int firn_srtp_unprotect_rtp(firn_srtp *s, uint8_t *buf, size_t len, size_t *out_len);
int firn_srtp_unprotect_rtcp(firn_srtp *s, uint8_t *buf, size_t len, size_t *out_len);

/** Counters. */
void firn_srtp_get_stats(const firn_srtp *s, firn_srtp_stats *stats);

#endif /* FIRN_DTLS_DTLS_H */
