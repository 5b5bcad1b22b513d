/**
 * @file uv.h
 * @brief The libuv runtime: runs a firn ICE agent, or a media session, over real sockets on a
 *        uv_loop_t.
 *
 * One call creates an agent bound to a loop. The runtime enumerates interfaces, binds one
 * UDP socket per (stream, component, local address), resolves STUN/TURN server names,
 * keeps one timer armed at the core's expiry, and moves datagrams between the sockets and
 * the core. Time comes from uv_hrtime(), read once per event.
 *
 * Threading: everything runs on the loop's thread. Call these functions only from that
 * thread (libuv handles are not thread-safe). Callbacks run on the loop thread.
 *
 * Ownership: firn_uv_agent_close() is asynchronous: it closes the handles and frees the
 * agent in a later loop iteration, then calls the close callback. It is safe to call from
 * inside any of the agent's callbacks. Do not use the agent after calling it.
 *
 * After calling a core function directly on firn_uv_agent_core() (for example
 * firn_agent_add_remote_candidate()), call firn_uv_agent_update() so queued datagrams are
 * sent and the timer is re-armed; the convenience wrappers below do this themselves.
 */
#ifndef FIRN_UV_H
#define FIRN_UV_H

#include <uv.h>

#include "firn/common.h"
#include "firn/ice.h"
#include "firn/media.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A parsed STUN/TURN server URI (RFC 7064, RFC 7065). */
typedef struct firn_server_uri {
  int turn;                 /**< 0 for stun:/stuns:, 1 for turn:/turns: */
  uint8_t transport;        /**< firn_transport: UDP, TCP or TLS (stuns:/turns:) */
  char host[256];           /**< host name or address literal (brackets removed) */
  uint16_t port;            /**< explicit port, or the default (3478, 5349 for TLS) */
} firn_server_uri;

/** Parse "stun:host[:port]", "stuns:...", "turn:host[:port][?transport=udp|tcp]",
 *  "turns:host[:port][?transport=tcp]". Returns 0, FIRN_ERR_PARSE or FIRN_ERR_UNSUPPORTED
 *  (unknown scheme or transport). */
FIRN_API int firn_server_uri_parse(firn_server_uri *out, const char *uri);

/** A runtime-driven agent. */
typedef struct firn_uv_agent firn_uv_agent;

typedef struct firn_uv_settings {
  size_t size;                  /**< sizeof(firn_uv_settings), set by _default() */
  /** Core settings, including the application's callbacks and user pointer. */
  firn_agent_settings agent;
  /** Gather host candidates only on these addresses (e.g. {"192.0.2.10", "::1"});
   *  NULL/0: every usable interface. Naming 127.0.0.1 or ::1 here allows loopback. */
  const char *const *ips;
  size_t n_ips;
  /** Gather on loopback interfaces when no `ips` are given (default 0). */
  int include_loopback;
  /** Gather on IPv6 link-local addresses (default 0). */
  int include_link_local;
  /** Gather on IPv6 (default 1) and IPv4 (default 1). */
  int ipv4, ipv6;
  /** Only these interface names (NULL/0: all), and never these ones. */
  const char *const *allow_ifnames;
  size_t n_allow_ifnames;
  const char *const *deny_ifnames;
  size_t n_deny_ifnames;
  /** Local port range for host sockets (0/0: any). */
  uint16_t port_min, port_max;
  /** UDP host candidates (default 1) and ICE-TCP candidates (default 0; RFC 6544: a
   *  passive listener per address plus active candidates). */
  int udp, tcp;
  /** How to verify turns: servers (TURN over TLS): a CA bundle (PEM) and/or a CA directory;
   *  both NULL: the system's default store. `tls_insecure` 1 skips verification (tests
   *  only). Copied. */
  const char *tls_ca_file, *tls_ca_dir;
  int tls_insecure;
} firn_uv_settings;

FIRN_API void firn_uv_settings_default(firn_uv_settings *s);

/** Create an agent on `loop`. The core agent is created with s->agent. */
FIRN_API int firn_uv_agent_new(firn_uv_agent **out, uv_loop_t *loop, const firn_uv_settings *s);
/** The core agent, for the functions the runtime does not wrap. */
FIRN_API firn_agent *firn_uv_agent_core(firn_uv_agent *ua);
/** The loop the agent runs on. */
FIRN_API uv_loop_t *firn_uv_agent_loop(firn_uv_agent *ua);

/** Add a stream: binds the sockets for its components on every selected local address and
 *  adds them to the core. Returns FIRN_ERR_IO when no socket could be bound. */
FIRN_API int firn_uv_agent_add_stream(firn_uv_agent *ua, unsigned components, unsigned *stream);
/** Add a STUN or TURN server by URI (names are resolved asynchronously before gathering).
 *  `username`/`password` are the TURN credentials (NULL for STUN). For an address literal
 *  the core's answer is returned (FIRN_ERR_UNSUPPORTED for a kind of server the core cannot
 *  use yet); for a name, failures after resolution are logged. */
FIRN_API int firn_uv_agent_add_server(firn_uv_agent *ua, const char *uri, const char *username,
                                      const char *password);
/** Start gathering once every server name is resolved. */
FIRN_API int firn_uv_agent_gather(firn_uv_agent *ua);

/** Convenience wrappers that pass `now` and flush. */
FIRN_API int firn_uv_agent_set_remote_credentials(firn_uv_agent *ua, unsigned stream, const char *ufrag,
                                                  const char *pwd);
/** Add a remote candidate from its SDP attribute text ("candidate:..." or "a=candidate:..."). */
FIRN_API int firn_uv_agent_add_remote_candidate(firn_uv_agent *ua, unsigned stream, const char *line);
FIRN_API int firn_uv_agent_end_of_remote_candidates(firn_uv_agent *ua, unsigned stream);
FIRN_API int firn_uv_agent_restart(firn_uv_agent *ua, unsigned stream);

/** Send application data on a component's selected pair. FIRN_ERR_STATE when no pair is
 *  selected yet; FIRN_ERR_IO when the socket refused it. */
FIRN_API int firn_uv_agent_send(firn_uv_agent *ua, unsigned stream, unsigned component,
                                const uint8_t *data, size_t len);
/** Send any queued datagrams and re-arm the timer (after direct core calls). */
FIRN_API void firn_uv_agent_update(firn_uv_agent *ua);

/**
 * Create a runtime that drives a media session (firn/media.h) instead of a bare agent: the
 * session's agent is created from `s->agent` (its callbacks receive the ICE events as with
 * firn_uv_agent_new(); `ms->agent` is ignored), the session's media settings and callbacks
 * come from `ms`. Sockets for the session's one stream and component are bound at once
 * (FIRN_ERR_IO when none could be). All firn_uv_agent_* functions work on the result,
 * except firn_uv_agent_add_stream() (FIRN_ERR_STATE). firn_uv_agent_close() sends DTLS
 * close_notify before closing the sockets.
 */
FIRN_API int firn_uv_session_new(firn_uv_agent **out, uv_loop_t *loop, const firn_uv_settings *s,
                                 const firn_session_settings *ms);
/** The session driven by the runtime, NULL for a bare agent. */
FIRN_API firn_session *firn_uv_agent_session(firn_uv_agent *ua);
/** firn_session_set_remote_description() with `now`, then flush. */
FIRN_API int firn_uv_session_set_remote_description(firn_uv_agent *ua, const firn_media_desc *d);
/** Protect and send an RTP (RTCP) packet on the selected pair: firn_session_send_rtp()
 *  then flush. Returns its errors (FIRN_ERR_NOT_SECURE before keys exist). */
FIRN_API int firn_uv_session_send_rtp(firn_uv_agent *ua, const uint8_t *rtp, size_t len);
FIRN_API int firn_uv_session_send_rtcp(firn_uv_agent *ua, const uint8_t *rtcp, size_t len);

/** Close asynchronously; `cb` (may be NULL) runs once everything is freed. */
FIRN_API void firn_uv_agent_close(firn_uv_agent *ua, void (*cb)(void *arg), void *arg);

/** The runtime's clock in ns (uv_hrtime()), for calls into the core. */
FIRN_API uint64_t firn_uv_now(void);

#ifdef __cplusplus
}
#endif
#endif /* FIRN_UV_H */
