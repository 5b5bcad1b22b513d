/**
 * @file media.h
 * @brief A secure media session: one ICE stream (one component, rtcp-mux) keyed with
 *        DTLS-SRTP on its selected pair, a small RTP/RTCP API, and an SDP helper for the
 *        whole media description a softphone exchanges.
 *
 * Like the agent, a session does no I/O and reads no clock. It owns its ICE agent
 * (firn_session_agent()) and is driven the same way:
 * - received datagrams go in with their path: firn_session_handle_datagram();
 * - datagrams to send (ICE checks, DTLS flights, SRTP) come out of
 *   firn_session_poll_transmit() with the path to send on;
 * - firn_session_expiry() says when to call firn_session_handle_expiry().
 * The libuv runtime drives a session for you: firn_uv_session_new() in firn/uv.h.
 *
 * Lifecycle: create with firn_session_new() as offerer or answerer, add local addresses
 * and gather on the agent (firn_session_agent()), exchange descriptions
 * (firn_session_get_local_description(), firn_sdp_media_format(), firn_sdp_media_parse(),
 * firn_session_set_remote_description()). Once ICE selects a pair the session reports
 * FIRN_SESSION_EV_CONNECTED, runs the DTLS handshake on that pair (role from a=setup,
 * the peer's certificate checked against the remote a=fingerprint) and reports
 * FIRN_SESSION_EV_SECURE with the negotiated SRTP profile. From then on
 * firn_session_send_rtp()/_rtcp() protect and queue media on the selected pair and
 * on_media delivers what arrives, decrypted. When ICE switches pair or restarts, DTLS and
 * SRTP carry on without a new handshake.
 *
 * Rules that protect users: DTLS and SRTP are accepted only from the selected, validated
 * pair (demultiplexed by first byte, RFC 7983); a certificate that does not match the SDP
 * fingerprint fails the session and no keys are ever exported; packets that fail SRTP
 * authentication or replay checks are dropped and counted, never delivered.
 *
 * With `dtls = 0` in the settings (ICE-only peers) media is plain RTP once ICE is
 * connected, and no SECURE event is reported.
 *
 * Threading: a session is not thread-safe. Inside a callback the application may call any
 * session function; firn_session_destroy() from a callback is deferred until the outermost
 * session call returns. Callbacks fired by calls made directly on firn_session_agent()
 * must not destroy the session.
 */
#ifndef FIRN_MEDIA_H
#define FIRN_MEDIA_H

#include "firn/common.h"
#include "firn/dtls.h"
#include "firn/ice.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Media description and SDP                                                                   */

/** Values of a=setup (RFC 4145, RFC 5763). */
typedef enum firn_media_setup {
  FIRN_MEDIA_SETUP_NONE = 0,    /**< absent (no DTLS) */
  FIRN_MEDIA_SETUP_ACTPASS = 1,
  FIRN_MEDIA_SETUP_ACTIVE = 2,  /**< we send the ClientHello */
  FIRN_MEDIA_SETUP_PASSIVE = 3
} firn_media_setup;

/** Most candidates a description holds. */
#define FIRN_MEDIA_MAX_CANDIDATES 32

/** Everything a softphone's offer or answer says about its one media stream. */
typedef struct firn_media_desc {
  uint64_t session_id;           /**< o= sess-id */
  uint64_t session_version;      /**< o= sess-version */
  char media[16];                /**< "audio" (default) or "video" */
  uint16_t port;                 /**< m= port (the default candidate's) */
  char proto[32];                /**< "RTP/SAVPF" (default), "UDP/TLS/RTP/SAVPF", "RTP/AVP" */
  uint8_t payload_type;          /**< 0 */
  char encoding[32];             /**< "PCMU" */
  uint32_t clock_rate;           /**< 8000 */
  unsigned ptime;                /**< ms, 20; 0: no a=ptime */
  firn_addr connection;          /**< c= address (the default candidate's) */
  char mid[33];                  /**< "0" */
  int rtcp_mux;                  /**< 1 when a=rtcp-mux is present (firn requires it) */
  int ice_lite;                  /**< session-level a=ice-lite */
  char ice_ufrag[FIRN_ICE_CRED_MAX + 1];
  char ice_pwd[FIRN_ICE_CRED_MAX + 1];
  char fingerprint[FIRN_DTLS_FINGERPRINT_STRLEN]; /**< "sha-256 AB:..."; "" when absent */
  firn_media_setup setup;
  firn_candidate candidates[FIRN_MEDIA_MAX_CANDIDATES];
  size_t n_candidates;
  int end_of_candidates;
  unsigned skipped_candidates;   /**< parse only: candidate lines ignored (mDNS names, other
                                      components, unsupported transports, over the limit) */
} firn_media_desc;

/** Fill `d` with the defaults: audio, RTP/SAVPF, PCMU/8000 PT 0, ptime 20, mid "0",
 *  rtcp-mux, no credentials, no candidates. */
FIRN_API void firn_media_desc_default(firn_media_desc *d);

/**
 * Write a complete SDP (RFC 8866, CRLF line ends) for `d`: v=, o=, s=-, t=0 0, optional
 * a=ice-lite, one m= line, c=, a=mid, a=sendrecv, a=rtcp-mux, a=rtpmap, a=ptime,
 * a=ice-ufrag, a=ice-pwd, a=fingerprint and a=setup (when set), the a=candidate lines and
 * a=end-of-candidates (when set). NUL-terminated.
 * @return the length written (without the NUL), FIRN_ERR_NOBUF or FIRN_ERR_INVALID_ARG
 *         (missing or invalid credentials, bad candidate, no connection address).
 */
FIRN_API int firn_sdp_media_format(const firn_media_desc *d, char *buf, size_t size);

/**
 * Parse an SDP blob (CRLF or LF line ends) into `d`. Strict about what matters: it must
 * start with v=0, hold an m= line whose formats include the first one read, a c= line (at
 * session or media level), ice-ufrag and ice-pwd (either level) of valid form, a
 * well-formed fingerprint and setup when present. Tolerant of everything else: unknown
 * lines and attributes are ignored, only the first m= section is used, candidate lines it
 * cannot use (mDNS names, other components, unsupported transports) are skipped and
 * counted. On failure `*reason` (may be NULL) points to a static English message, e.g.
 * "missing a=ice-pwd".
 * @return 0, FIRN_ERR_PARSE, FIRN_ERR_INVALID_ARG.
 */
FIRN_API int firn_sdp_media_parse(firn_media_desc *d, const char *sdp, size_t len,
                                  const char **reason);

/** "actpass", "active", "passive"; NULL for FIRN_MEDIA_SETUP_NONE. */
FIRN_API const char *firn_media_setup_name(firn_media_setup setup);

/* ------------------------------------------------------------------------------------------ */
/* Session                                                                                     */

typedef struct firn_session firn_session;

/** Session states. */
typedef enum firn_session_state {
  FIRN_SESSION_NEW = 0,        /**< waiting for ICE */
  FIRN_SESSION_CONNECTED = 1,  /**< ICE has a selected pair; DTLS handshaking */
  FIRN_SESSION_SECURE = 2,     /**< SRTP keys in place (or, without DTLS, media allowed) */
  FIRN_SESSION_CLOSED = 3,
  FIRN_SESSION_FAILED = 4
} firn_session_state;

FIRN_API const char *firn_session_state_name(firn_session_state st);

/** Events reported through on_event. */
typedef enum firn_session_event_type {
  FIRN_SESSION_EV_CONNECTED = 1, /**< ICE selected a pair (first time only) */
  FIRN_SESSION_EV_SECURE = 2,    /**< DTLS-SRTP established; `profile` says which */
  FIRN_SESSION_EV_CLOSED = 3,    /**< closed by us or by the peer (DTLS close_notify) */
  FIRN_SESSION_EV_FAILED = 4,    /**< `error` says why, `message` in words */
  FIRN_SESSION_EV_PAIR_CHANGED = 5 /**< the selected pair changed after CONNECTED */
} firn_session_event_type;

typedef struct firn_session_event {
  firn_session_event_type type;
  int error;                     /**< FAILED: FIRN_ERR_ICE_FAILED, FIRN_ERR_DTLS_FINGERPRINT,
                                      FIRN_ERR_DTLS_HANDSHAKE, FIRN_ERR_CLOSED, ... */
  const char *message;           /**< static text for FAILED/CLOSED, else NULL */
  firn_srtp_profile profile;     /**< SECURE: the negotiated profile */
} firn_session_event;

/** Kinds of media packets. */
typedef enum firn_media_kind { FIRN_MEDIA_RTP = 0, FIRN_MEDIA_RTCP = 1 } firn_media_kind;

/** Callbacks; any may be NULL. They run synchronously inside session calls. */
typedef struct firn_session_callbacks {
  size_t size; /**< sizeof(firn_session_callbacks) */
  void (*on_event)(void *user, firn_session *s, const firn_session_event *ev);
  /** A decrypted (or, without DTLS, plain) RTP or RTCP packet from the selected pair.
   *  `data` is valid only during the call. `component` is 1 (rtcp-mux). */
  void (*on_media)(void *user, firn_session *s, firn_media_kind kind, unsigned component,
                   const uint8_t *data, size_t len, uint64_t now);
} firn_session_callbacks;

/** Offer/answer role. The offerer is ICE-controlling and puts a=setup:actpass. */
typedef enum firn_session_role { FIRN_SESSION_OFFERER = 0, FIRN_SESSION_ANSWERER = 1 } firn_session_role;

/** Most SRTP profiles in a preference list. */
#define FIRN_SESSION_MAX_PROFILES 4

typedef struct firn_session_settings {
  size_t size;                   /**< sizeof(firn_session_settings), set by _default() */
  /** Settings of the owned agent (allocator, randomness, logging, lite, policy, Ta, ...).
   *  Its `role` is overridden from `role` below. Its callbacks still receive everything
   *  except on_data, which the session consumes. */
  firn_agent_settings agent;
  firn_session_role role;
  int dtls;                      /**< 1 (default): DTLS-SRTP; 0: plain RTP once connected */
  const firn_dtls_cert *cert;    /**< local identity; NULL: a fresh ECDSA P-256 one */
  /** SRTP profiles, most preferred first; num_profiles 0: AEAD_AES_256_GCM,
   *  AEAD_AES_128_GCM, AES128_CM_SHA1_80, AES128_CM_SHA1_32. */
  firn_srtp_profile profiles[FIRN_SESSION_MAX_PROFILES];
  size_t num_profiles;
  /** What the answerer puts in a=setup for an actpass offer: ACTIVE (default) or PASSIVE. */
  firn_media_setup answer_setup;
  size_t mtu;                    /**< DTLS datagram size, default 1200 */
  uint64_t dtls_timeout_ns;      /**< handshake must finish within this, default 30 s */
  unsigned tx_queue;             /**< media datagrams queued before FIRN_ERR_LIMIT, default 64 */
  firn_session_callbacks callbacks;
  void *user;                    /**< passed to the session callbacks */
} firn_session_settings;

FIRN_API void firn_session_settings_default(firn_session_settings *s);

/** Counters. */
typedef struct firn_session_stats {
  uint64_t rtp_sent, rtcp_sent;
  uint64_t rtp_received, rtcp_received;       /**< delivered to on_media */
  uint64_t srtp_auth_failures;                /**< dropped: bad authentication tag */
  uint64_t srtp_replays;                      /**< dropped: replayed or too old */
  uint64_t srtp_other_failures;               /**< dropped: malformed */
  uint64_t dropped_not_selected;              /**< DTLS/media from a pair that is not selected */
  uint64_t dropped_not_secure;                /**< media before keys existed */
  uint64_t dropped_other;                     /**< unknown first byte, oversize */
  uint64_t dropped_no_pair;                   /**< outgoing: no usable selected pair when due */
  uint64_t dtls_datagrams_in, dtls_datagrams_out;
} firn_session_stats;

/**
 * Create a session and its agent (one stream, one component). Generates a certificate when
 * none is given.
 * @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_NOMEM, FIRN_ERR_CRYPTO, or the agent's errors.
 */
FIRN_API int firn_session_new(firn_session **out, const firn_session_settings *s);
/** Free now (not from inside a callback: use firn_session_destroy()). NULL is ignored. */
FIRN_API void firn_session_free(firn_session *s);
/** Free, deferred until the outermost session call returns when called from a callback. */
FIRN_API void firn_session_destroy(firn_session *s);

/** The owned agent: add local addresses and servers, gather, read stats. The stream id is
 *  firn_session_stream(). After direct agent calls, drain firn_session_poll_transmit(). */
FIRN_API firn_agent *firn_session_agent(firn_session *s);
FIRN_API unsigned firn_session_stream(const firn_session *s);

/** Local description: credentials, fingerprint, a=setup, lite flag, the local candidates
 *  gathered so far, end-of-candidates once gathering is done, and the default candidate for
 *  m= and c=. An answerer's a=setup is derived from the remote offer once it is set.
 *  @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_STATE (no local candidate yet). */
FIRN_API int firn_session_get_local_description(firn_session *s, firn_media_desc *d);

/**
 * Apply the remote description: credentials, candidates, end-of-candidates, ice-lite, and
 * (with DTLS) the fingerprint and a=setup that fix the DTLS role.
 * A later description with new ICE credentials is an ICE restart (the peer's, or the answer
 * to ours from firn_session_restart()): ICE restarts, the old pair carries media until a new
 * one is selected, and DTLS-SRTP continues without a new handshake. Its fingerprint must be
 * the one already in use.
 * @return 0, FIRN_ERR_INVALID_ARG (no fingerprint or setup with DTLS, an invalid setup
 *         combination, no rtcp-mux), FIRN_ERR_UNSUPPORTED (fingerprint hash, or a different
 *         fingerprint in a later description), FIRN_ERR_STATE (a later description with the
 *         same credentials: nothing to restart), or the agent's errors.
 */
FIRN_API int firn_session_set_remote_description(firn_session *s, const firn_media_desc *d,
                                                 uint64_t now);

/** Restart ICE (new local credentials; e.g. after a network change). Send the new local
 *  description; the answer goes to firn_session_set_remote_description(). Media keeps
 *  flowing on the old pair meanwhile; DTLS-SRTP is not renegotiated.
 *  @return 0, FIRN_ERR_STATE (no remote description yet), or the agent's errors. */
FIRN_API int firn_session_restart(firn_session *s, uint64_t now);

/** Feed a received UDP datagram with its path (see firn_agent_handle_datagram()). */
FIRN_API int firn_session_handle_datagram(firn_session *s, const firn_path *path,
                                          const uint8_t *data, size_t len, uint64_t now);
/** ICE-TCP plumbing, forwarded to the agent inside a session call. */
FIRN_API int firn_session_handle_stream(firn_session *s, uint32_t conn, const uint8_t *data,
                                        size_t len, uint64_t now);
FIRN_API int firn_session_tcp_connected(firn_session *s, uint32_t conn, int ok, uint64_t now);
FIRN_API int firn_session_tcp_accepted(firn_session *s, const firn_addr *local,
                                       const firn_addr *remote, uint32_t *conn, uint64_t now);
FIRN_API int firn_session_tcp_closed(firn_session *s, uint32_t conn, uint64_t now);
/** Start gathering (firn_agent_gather() inside a session call). */
FIRN_API int firn_session_gather(firn_session *s, uint64_t now);

/** The next datagram to send (agent, then DTLS, then media): copies it into `buf`, fills
 *  `*path`, returns its length; FIRN_ERR_WOULDBLOCK when nothing is due; FIRN_ERR_NOBUF
 *  (the datagram stays queued). Call until WOULDBLOCK after every input. */
FIRN_API firn_ssize firn_session_poll_transmit(firn_session *s, uint64_t now, uint8_t *buf,
                                               size_t cap, firn_path *path);
/** When the session next needs firn_session_handle_expiry(); FIRN_TIME_NEVER if never. */
FIRN_API uint64_t firn_session_expiry(const firn_session *s);
/** Run timers due at `now` (ICE, DTLS retransmission and handshake timeout). */
FIRN_API int firn_session_handle_expiry(firn_session *s, uint64_t now);

/**
 * Protect an RTP (RTCP) packet and queue it for the selected pair. `len` is the plaintext
 * length (at least 12 bytes for RTP, 8 for RTCP, at most 1400).
 * @return 0, FIRN_ERR_NOT_SECURE (no keys yet; without DTLS: ICE not connected),
 *         FIRN_ERR_CLOSED (closed or failed), FIRN_ERR_INVALID_ARG, FIRN_ERR_LIMIT (the
 *         transmit queue is full: drain poll_transmit), FIRN_ERR_SRTP.
 */
FIRN_API int firn_session_send_rtp(firn_session *s, const uint8_t *rtp, size_t len, uint64_t now);
FIRN_API int firn_session_send_rtcp(firn_session *s, const uint8_t *rtcp, size_t len, uint64_t now);

/** Send DTLS close_notify, close the agent, report CLOSED. */
FIRN_API int firn_session_close(firn_session *s, uint64_t now);

FIRN_API firn_session_state firn_session_get_state(const firn_session *s);
/** The reason for FAILED, else 0. */
FIRN_API int firn_session_error(const firn_session *s);
/** The negotiated SRTP profile, FIRN_SRTP_NONE before SECURE or without DTLS. */
FIRN_API firn_srtp_profile firn_session_srtp_profile(const firn_session *s);
/** The local certificate's SHA-256 fingerprint as an a=fingerprint value. */
FIRN_API const char *firn_session_local_fingerprint(const firn_session *s);
FIRN_API int firn_session_get_stats(const firn_session *s, firn_session_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* FIRN_MEDIA_H */
