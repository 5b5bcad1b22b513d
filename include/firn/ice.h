/**
 * @file ice.h
 * @brief The ICE agent (RFC 8445) without I/O, plus the RFC 8839 SDP attribute helpers.
 *
 * The agent never opens a socket, reads a clock or draws its own randomness:
 * - the application (or the libuv runtime, include/firn/uv.h) tells it which local
 *   addresses it has bound (firn_agent_add_local_address());
 * - every datagram received goes in with its path and `now` (firn_agent_handle_datagram());
 * - datagrams to send come out with their path (firn_agent_poll_transmit());
 * - the agent says when it next needs to be woken (firn_agent_expiry()) and is called back
 *   then (firn_agent_handle_expiry());
 * - events (candidates, state changes, selected pair, application data) arrive through the
 *   callbacks in firn_agent_settings, synchronously from inside those calls.
 *
 * Threading: an agent is not thread-safe; call it from one thread at a time. Inside a
 * callback the application may call any agent function except firn_agent_free(); calling
 * firn_agent_destroy() from a callback is safe (the free is deferred until the outermost
 * agent call returns).
 */
#ifndef FIRN_ICE_H
#define FIRN_ICE_H

#include "firn/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Candidates and SDP attributes (RFC 8839)                                                    */

/** Candidate types (RFC 8445 5.1.1). */
typedef enum firn_cand_type {
  FIRN_CAND_HOST = 0,
  FIRN_CAND_SRFLX = 1,
  FIRN_CAND_PRFLX = 2,
  FIRN_CAND_RELAY = 3
} firn_cand_type;

/** ICE-TCP candidate kinds (RFC 6544). FIRN_TCP_NONE for UDP candidates. */
typedef enum firn_tcp_type {
  FIRN_TCP_NONE = 0,
  FIRN_TCP_ACTIVE = 1,
  FIRN_TCP_PASSIVE = 2,
  FIRN_TCP_SO = 3
} firn_tcp_type;

/** Longest foundation (RFC 8839: 1*32 ice-char) plus NUL. */
#define FIRN_ICE_FOUNDATION_MAX 33
/** Limits on credentials (RFC 8839 5.4: ufrag 4..256, pwd 22..256 ice-chars). */
#define FIRN_ICE_UFRAG_MIN 4
#define FIRN_ICE_PWD_MIN 22
#define FIRN_ICE_CRED_MAX 256
/** Longest candidate attribute value firn_candidate_format() writes, with the NUL. */
#define FIRN_CANDIDATE_STRLEN 256

/** One candidate, local or remote. */
typedef struct firn_candidate {
  char foundation[FIRN_ICE_FOUNDATION_MAX];
  uint16_t component;       /**< 1 = RTP, 2 = RTCP (1..256) */
  uint8_t transport;        /**< firn_transport: UDP or TCP */
  uint8_t type;             /**< firn_cand_type */
  uint8_t tcptype;          /**< firn_tcp_type */
  uint32_t priority;
  firn_addr addr;           /**< connection address and port */
  firn_addr related;        /**< raddr/rport; family FIRN_AF_NONE when absent */
} firn_candidate;

/**
 * Parse a candidate attribute: "candidate:..." with or without a leading "a=", with
 * optional trailing CR/LF. Tolerates unknown extension attributes (name/value pairs).
 * Host names (e.g. mDNS ".local" names) are not resolved: FIRN_ERR_UNSUPPORTED.
 * @return 0, FIRN_ERR_ICE_BAD_CANDIDATE, FIRN_ERR_UNSUPPORTED, FIRN_ERR_INVALID_ARG.
 * firn_candidate_parse_ex() in firn/sdp.h also returns a short reason for the failure.
 */
FIRN_API int firn_candidate_parse(firn_candidate *cand, const char *line, size_t len);
/** Format as "candidate:<foundation> <component> <udp|tcp> <prio> <addr> <port> typ <type>
 *  [raddr <a> rport <p>] [tcptype <t>]" (no "a=", no CRLF). Returns the length or
 *  FIRN_ERR_NOBUF / FIRN_ERR_INVALID_ARG. */
FIRN_API int firn_candidate_format(const firn_candidate *cand, char *buf, size_t size);
/** "host", "srflx", "prflx", "relay". */
FIRN_API const char *firn_cand_type_name(firn_cand_type type);
/** Validate an ice-ufrag (4..256 ice-chars) or ice-pwd (22..256): 0 or
 *  FIRN_ERR_ICE_BAD_CREDENTIALS. */
FIRN_API int firn_ice_check_ufrag(const char *ufrag, size_t len);
FIRN_API int firn_ice_check_pwd(const char *pwd, size_t len);
/** RFC 8445 5.1.2.1 priority: (2^24)*type_pref + (2^8)*local_pref + (256 - component). */
FIRN_API uint32_t firn_ice_priority(uint8_t type_pref, uint16_t local_pref, uint16_t component);

/* ------------------------------------------------------------------------------------------ */
/* Agent                                                                                       */

/** An ICE agent: one or more streams, each with one or two components. */
typedef struct firn_agent firn_agent;

/** States like WebRTC's RTCIceConnectionState, per stream. */
typedef enum firn_ice_state {
  FIRN_ICE_NEW = 0,
  FIRN_ICE_CHECKING = 1,
  FIRN_ICE_CONNECTED = 2,
  FIRN_ICE_COMPLETED = 3,
  FIRN_ICE_DISCONNECTED = 4,
  FIRN_ICE_FAILED = 5,
  FIRN_ICE_CLOSED = 6
} firn_ice_state;

FIRN_API const char *firn_ice_state_name(firn_ice_state state);

typedef enum firn_ice_role { FIRN_ICE_CONTROLLING = 0, FIRN_ICE_CONTROLLED = 1 } firn_ice_role;

/** Which candidates may be used (an administrator can force media through the relay). */
typedef enum firn_ice_policy { FIRN_ICE_POLICY_ALL = 0, FIRN_ICE_POLICY_RELAY = 1 } firn_ice_policy;

/** What to do with interfaces that look like VPN tunnels (tun, tap, wg, ppp, ipsec, utun). */
typedef enum firn_vpn_policy {
  FIRN_VPN_DEPRIORITIZE = 0, /**< default: lowest local preference, media bypasses the VPN */
  FIRN_VPN_EXCLUDE = 1,      /**< no candidates on tunnel interfaces */
  FIRN_VPN_ALLOW = 2         /**< treated like any other interface */
} firn_vpn_policy;

/** A path: the 5-tuple a datagram travels on, as the runtime's sockets see it. */
typedef struct firn_path {
  firn_addr local;          /**< the local socket's bound address (the base) */
  firn_addr remote;         /**< the remote address */
  uint8_t transport;        /**< firn_transport of the socket: UDP or TCP */
  uint32_t conn;            /**< TCP connection handle (from the agent), 0 for UDP */
} firn_path;

/** A local address the runtime has bound for the agent. */
typedef struct firn_local_address {
  firn_addr addr;           /**< bound address and port */
  uint8_t transport;        /**< FIRN_TRANSPORT_UDP, or TCP for an ICE-TCP listener */
  const char *ifname;       /**< interface name (copied), may be NULL */
  uint32_t ifindex;         /**< interface index, 0 if unknown */
} firn_local_address;

/** A STUN or TURN server for gathering, already resolved by the runtime. */
typedef struct firn_ice_server {
  firn_addr addr;
  uint8_t transport;        /**< UDP, TCP or TLS */
  int turn;                 /**< 0 STUN, 1 TURN */
  const char *username;     /**< TURN long-term credentials (copied) */
  const char *password;
  const char *server_name;  /**< for TLS: the name to verify (copied) */
  const char *tls_ca_file;  /**< for TLS: CA bundle (PEM) to verify the server; NULL with
                                 tls_ca_dir NULL means the system default store (copied) */
  const char *tls_ca_dir;   /**< for TLS: CA directory (hashed names), or NULL (copied) */
  int tls_insecure;         /**< for TLS: 1 skips certificate verification (tests only) */
} firn_ice_server;

/** Per-pair statistics. */
typedef struct firn_pair_stats {
  firn_candidate local, remote;
  uint8_t state;            /**< 0 frozen, 1 waiting, 2 in progress, 3 succeeded, 4 failed */
  uint8_t nominated;
  uint8_t selected;
  uint64_t rtt_last_ns, rtt_avg_ns;
  uint32_t requests_sent, requests_received, responses_sent, responses_received;
  uint64_t bytes_sent, bytes_received, packets_sent, packets_received;
} firn_pair_stats;

/** Per-agent statistics. */
typedef struct firn_agent_stats {
  uint64_t datagrams_received, datagrams_sent;
  uint64_t stun_dropped;      /**< unauthenticated / malformed / unmatched STUN dropped */
  uint64_t data_dropped;      /**< application data from unvalidated paths dropped */
  uint64_t role_conflicts;
  uint32_t pairs, remote_candidates;
} firn_agent_stats;

/** Callbacks; any may be NULL. They run synchronously inside agent calls. */
typedef struct firn_agent_callbacks {
  size_t size; /**< sizeof(firn_agent_callbacks) */
  /** A local candidate was found (trickle). */
  void (*on_candidate)(void *user, unsigned stream, const firn_candidate *cand);
  /** Gathering finished for a stream (end-of-candidates). */
  void (*on_gathering_done)(void *user, unsigned stream);
  /** The stream's ICE state changed. */
  void (*on_state)(void *user, unsigned stream, firn_ice_state state);
  /** A component's selected pair changed. */
  void (*on_selected_pair)(void *user, unsigned stream, unsigned component,
                           const firn_candidate *local, const firn_candidate *remote);
  /** Application data (anything not STUN) from a validated pair. `data` is valid only
   *  during the call. */
  void (*on_data)(void *user, unsigned stream, unsigned component, const uint8_t *data,
                  size_t len, const firn_path *path, uint64_t now);
  /** The agent wants a TCP connection from `path->local`'s address (port 0: an ephemeral
   *  port) to `path->remote`, for an ICE-TCP active candidate or a TURN server over TCP/TLS;
   *  the runtime opens it and reports with firn_agent_tcp_connected(path->conn, ...). The
   *  runtime may call firn_agent_tcp_connected() from inside this callback. */
  void (*on_tcp_connect)(void *user, const firn_path *path);
  /** The agent wants a TCP connection closed (a peer's connection that did not start with
   *  an authenticated check, one left unused, or all of them on close). The runtime does
   *  not report it back with firn_agent_tcp_closed(). */
  void (*on_tcp_close)(void *user, uint32_t conn);
} firn_agent_callbacks;

typedef struct firn_agent_settings {
  size_t size;                   /**< sizeof(firn_agent_settings), set by _default() */
  const firn_allocator *alloc;   /**< NULL: malloc */
  firn_random_fn random;         /**< NULL: OpenSSL RAND_bytes */
  void *random_user;
  firn_log_fn log;
  void *log_user;
  firn_log_level log_level;
  firn_ice_role role;            /**< initial role (default controlling) */
  int lite;                      /**< 1: we are an ICE-lite agent (host candidates, answer only) */
  firn_ice_policy policy;        /**< default ALL */
  firn_vpn_policy vpn;           /**< default DEPRIORITIZE */
  uint64_t ta_ns;                /**< check pacing, default 50 ms */
  uint64_t keepalive_ns;         /**< Tr, default 15 s */
  uint64_t consent_interval_ns;  /**< default 5 s (randomised +-20 %) */
  uint64_t consent_timeout_ns;   /**< default 30 s */
  uint64_t disconnected_ns;      /**< no response this long -> DISCONNECTED, default 5 s */
  unsigned max_pairs;            /**< default 100 */
  unsigned max_remote_candidates;/**< per stream, default 100 */
  unsigned max_triggered;        /**< triggered-check queue bound, default 100 */
  const char *software;          /**< SOFTWARE in checks, NULL for none */
  firn_agent_callbacks callbacks;
  void *user;                    /**< passed to every callback */
} firn_agent_settings;

FIRN_API void firn_agent_settings_default(firn_agent_settings *s);

/** Create an agent; local credentials are drawn from the random source. */
FIRN_API int firn_agent_new(firn_agent **out, const firn_agent_settings *s);
/** Free the agent now. Not from inside its callbacks: use firn_agent_destroy(). */
FIRN_API void firn_agent_free(firn_agent *agent);
/** Free the agent, deferred until the outermost agent call returns when called from a
 *  callback. */
FIRN_API void firn_agent_destroy(firn_agent *agent);

/** Add a stream with `components` (1 or 2) components; `*stream` gets its id (0, 1, ...). */
FIRN_API int firn_agent_add_stream(firn_agent *agent, unsigned components, unsigned *stream);
/** The stream's local ice-ufrag and ice-pwd (NUL-terminated, owned by the agent). */
FIRN_API int firn_agent_get_local_credentials(const firn_agent *agent, unsigned stream,
                                              const char **ufrag, const char **pwd);
/** Use these local credentials instead of random ones (before gathering). */
FIRN_API int firn_agent_set_local_credentials(firn_agent *agent, unsigned stream, const char *ufrag,
                                              const char *pwd);

/** Tell the agent about a bound local socket for a stream's component. Host candidates
 *  are made from it (subject to the VPN policy by interface name). A TCP listener
 *  (transport FIRN_TRANSPORT_TCP) gives two ICE-TCP host candidates (RFC 6544): passive at
 *  the listener's address and active at port 9 (connections leave from ephemeral ports);
 *  simultaneous-open candidates are not offered. TCP candidates rank below every UDP
 *  candidate but relays, so UDP is used wherever it works. */
FIRN_API int firn_agent_add_local_address(firn_agent *agent, unsigned stream, unsigned component,
                                          const firn_local_address *la, uint64_t now);
/** Add a STUN or TURN server used for gathering (before firn_agent_gather(); up to 8 of
 *  each). STUN: UDP only, gives server-reflexive candidates. TURN (`turn` = 1, username and
 *  password required; UDP, TCP or TLS to the server): one relay candidate per UDP host
 *  address of the server's family (RFC 8656; type preference 0, relayed-UDP preferred over
 *  relayed-TCP/TLS), plus a server-reflexive one from a UDP allocation; over TCP/TLS the
 *  connection is asked for with on_tcp_connect. A server that does not answer or refuses
 *  leaves gathering to complete without its candidate; the reason is logged (WARN).
 *  firn_agent_close() deallocates. Returns 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_UNSUPPORTED
 *  (STUN over TCP/TLS), FIRN_ERR_LIMIT, FIRN_ERR_NOMEM, FIRN_ERR_CLOSED. */
FIRN_API int firn_agent_add_server(firn_agent *agent, const firn_ice_server *server);
/** Start gathering server-reflexive (and relay) candidates; host candidates are reported
 *  at once. on_gathering_done fires when every server answered or gave up. */
FIRN_API int firn_agent_gather(firn_agent *agent, uint64_t now);
/** Copy out the stream's local candidates gathered so far. */
FIRN_API int firn_agent_get_local_candidates(const firn_agent *agent, unsigned stream,
                                             firn_candidate *out, size_t max, size_t *count);
/** The default candidate for a component (for the c= line): the best relay when policy is
 *  relay, else srflx, else host. */
FIRN_API int firn_agent_get_default_candidate(const firn_agent *agent, unsigned stream,
                                              unsigned component, firn_candidate *out);

/** Set the remote credentials; checks start once they and a remote candidate are known. */
FIRN_API int firn_agent_set_remote_credentials(firn_agent *agent, unsigned stream, const char *ufrag,
                                               const char *pwd, uint64_t now);
/** Declare the remote agent ICE-lite (we then take the controlling role). */
FIRN_API int firn_agent_set_remote_lite(firn_agent *agent, int lite);
/** Add a remote candidate (trickled or from the description). Bounded by
 *  max_remote_candidates: FIRN_ERR_LIMIT past it. */
FIRN_API int firn_agent_add_remote_candidate(firn_agent *agent, unsigned stream,
                                             const firn_candidate *cand, uint64_t now);
/** The remote side sent end-of-candidates. */
FIRN_API int firn_agent_end_of_remote_candidates(firn_agent *agent, unsigned stream, uint64_t now);
/** ICE restart of a stream: new local credentials; the old selected pair keeps carrying
 *  data until a new one is selected. The application sends a new description. */
FIRN_API int firn_agent_restart(firn_agent *agent, unsigned stream, uint64_t now);

/** Current role (it can change after a 487 role conflict). */
FIRN_API firn_ice_role firn_agent_get_role(const firn_agent *agent);
FIRN_API firn_ice_state firn_agent_get_state(const firn_agent *agent, unsigned stream);

/** Feed a received datagram (UDP) with its path. STUN for the agent is consumed; anything
 *  else from a validated pair is delivered through on_data. */
FIRN_API int firn_agent_handle_datagram(firn_agent *agent, const firn_path *path, const uint8_t *data,
                                        size_t len, uint64_t now);
/** The next datagram to send (checks, responses, keepalives, gathering requests): copies
 *  it into `buf`, fills `*path`, returns its length; FIRN_ERR_WOULDBLOCK when nothing is
 *  due. Call until WOULDBLOCK after every input. */
FIRN_API firn_ssize firn_agent_poll_transmit(firn_agent *agent, uint64_t now, uint8_t *buf,
                                             size_t cap, firn_path *path);
/** When the agent next needs firn_agent_handle_expiry(): FIRN_TIME_NEVER if never. */
FIRN_API uint64_t firn_agent_expiry(const firn_agent *agent);
/** Run timers due at `now`. Then call poll_transmit. */
FIRN_API int firn_agent_handle_expiry(firn_agent *agent, uint64_t now);

/** Prepare application data for a component's selected pair: writes the datagram to send
 *  (possibly wrapped for a TURN relay, or RFC 4571-framed for an ICE-TCP pair, with
 *  path->conn set) into `out` and its path into `*path`. `out` may be `data`. Returns the
 *  length; FIRN_ERR_STATE when no pair is selected (or its TCP connection is gone);
 *  FIRN_ERR_NOBUF. */
FIRN_API firn_ssize firn_agent_write_data(firn_agent *agent, unsigned stream, unsigned component,
                                          const uint8_t *data, size_t len, uint8_t *out, size_t cap,
                                          firn_path *path, uint64_t now);

/** The selected pair of a component: FIRN_ERR_NOT_FOUND when none. Any out may be NULL. */
FIRN_API int firn_agent_get_selected_pair(const firn_agent *agent, unsigned stream, unsigned component,
                                          firn_candidate *local, firn_candidate *remote,
                                          firn_path *path);
/** Copy per-pair statistics of a stream (all pairs, check-list order). */
FIRN_API int firn_agent_get_pair_stats(const firn_agent *agent, unsigned stream, firn_pair_stats *out,
                                       size_t max, size_t *count);
FIRN_API int firn_agent_get_stats(const firn_agent *agent, firn_agent_stats *out);

/* ICE-TCP plumbing (RFC 6544): the runtime reports connection events. Everything the agent
 * sends on a connection comes out of firn_agent_poll_transmit() with path.transport TCP and
 * path.conn set, already framed (RFC 4571 2-byte length, or TURN's own framing/TLS): write
 * the bytes as they are. Bounds: 32 connections per agent, 8 accepted ones waiting for their
 * first check; an accepted connection whose first frame is not a Binding request with our
 * USERNAME and valid MESSAGE-INTEGRITY, that sends a frame over 1280 bytes before that (4096
 * after), or that stays silent or unused for 5 s, is closed through on_tcp_close. */
/** The connection the agent asked for (on_tcp_connect) is open (ok = 1) or failed.
 *  Returns 0 or FIRN_ERR_NOT_FOUND (unknown or already closed). */
FIRN_API int firn_agent_tcp_connected(firn_agent *agent, uint32_t conn, int ok, uint64_t now);
/** A passive listener accepted a connection; `*conn` gets the handle to use in paths.
 *  FIRN_ERR_NOT_FOUND (no passive candidate at `local`), FIRN_ERR_LIMIT: the runtime closes
 *  the connection. */
FIRN_API int firn_agent_tcp_accepted(firn_agent *agent, const firn_addr *local, const firn_addr *remote,
                                     uint32_t *conn, uint64_t now);
/** Bytes arrived on a TCP connection (any split; RFC 4571 framing is the agent's job).
 *  Returns 0 or FIRN_ERR_NOT_FOUND. */
FIRN_API int firn_agent_handle_stream(firn_agent *agent, uint32_t conn, const uint8_t *data, size_t len,
                                      uint64_t now);
/** The connection closed. */
FIRN_API int firn_agent_tcp_closed(firn_agent *agent, uint32_t conn, uint64_t now);

/** Close: stop checks and consent; the state becomes CLOSED; ICE-TCP connections are closed
 *  (on_tcp_close) and TURN allocations deallocated. Keep calling poll_transmit, expiry and
 *  handle_datagram/handle_stream until firn_agent_expiry() returns FIRN_TIME_NEVER for the
 *  deallocations to complete (they give up after a few seconds). */
FIRN_API int firn_agent_close(firn_agent *agent, uint64_t now);

/** 1 if `ifname` looks like a VPN tunnel: a prefix tun, tap, wg, ppp, ipsec or utun (any
 *  case) followed by the end, a digit, '-', '_' or '.' ("tun0", "wg-mullvad", "utun3",
 *  "TAP-Windows Adapter"); not "tunnelx", "tunl0", "tailscale0", "eth0". */
FIRN_API int firn_ice_ifname_is_vpn(const char *ifname);

#ifdef __cplusplus
}
#endif
#endif /* FIRN_ICE_H */
