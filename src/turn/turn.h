/* TURN client (RFC 8656, RFC 6156 dual allocations), sans-I/O. Internal header.
 *
 * One firn_turn object is one allocation: one TURN server, one local base (a UDP socket, or a
 * TCP/TLS connection the owner opens on request). It is layered on the STUN codec and
 * firn_stun_client (long-term credentials: 401 -> retry with REALM/NONCE, 438 -> new nonce,
 * a repeated nonce stops) and never opens a socket, reads a clock or draws its own
 * randomness.
 *
 * Driving it (the same shape as the agent and the STUN client):
 *   firn_turn_new()          settings copied; nothing is sent yet
 *   firn_turn_start(now)     UDP: the Allocate is due at once. TCP/TLS: on_connect() asks
 *                            the owner to open a connection to the server; the owner answers
 *                            with firn_turn_connected(ok) and then feeds every byte read with
 *                            firn_turn_handle_stream() and reports firn_turn_connection_closed()
 *   firn_turn_handle_datagram(from, data)   UDP: every datagram from the server's address
 *   firn_turn_poll_transmit(now, buf)       bytes to send (a datagram to `*dest` over UDP;
 *                            stream bytes, already framed/encrypted, over TCP/TLS); call until
 *                            FIRN_ERR_WOULDBLOCK after every input
 *   firn_turn_expiry() / firn_turn_handle_expiry(now)   refreshes, retransmissions, timeouts
 *   firn_turn_permit(peer) / firn_turn_bind_channel(peer)   CreatePermission / ChannelBind,
 *                            refreshed automatically until removed or closed
 *   firn_turn_wrap(peer, data)   application data -> ChannelData (bound) or Send indication
 *   on_data(peer, data)      relayed data, from Data indications and ChannelData, unwrapped
 *   firn_turn_close(now)     Refresh LIFETIME 0 (deallocate), then CLOSED
 *
 * Decisions worth knowing:
 * - An Allocate success only counts when the request that produced it carried MESSAGE-
 *   INTEGRITY (so the transaction layer verified the answer). A success to an unauthenticated
 *   request fails the allocation with FIRN_TURN_FAIL_INTEGRITY.
 * - Error responses (not 300, not 401/438) to authenticated requests are accepted without
 *   MESSAGE-INTEGRITY when they carry the transaction ID of the request in flight and come
 *   from the server: coturn sends 437 (and other errors) unsigned. They only ever make a
 *   request fail, never succeed; whoever can read our transaction IDs can already drop our
 *   packets, so this gives an attacker nothing new.
 * - 300 ALTERNATE-SERVER is followed at most once per object, only from the unauthenticated
 *   first Allocate exchange, only to an address of the same family that differs from the
 *   configured server and is not loopback, unspecified, link-local, multicast or broadcast
 *   (unless the configured server is itself loopback, which only tests do). Anything else
 *   fails with FIRN_TURN_FAIL_REDIRECT. Over TLS the certificate is still verified against
 *   the configured server name (ALTERNATE-DOMAIN is not trusted to change it). Credentials
 *   start afresh for the new server.
 * - 437 allocation mismatch is reported (FIRN_TURN_FAIL_MISMATCH): the owner restarts with a
 *   new object on a new local port (UDP) or a new connection (TCP/TLS).
 *
 * Callbacks run synchronously inside the calls above. From a callback the owner may call any
 * firn_turn function; firn_turn_free() from inside a callback is deferred until the
 * outermost call returns.
 *
 * How the ICE agent adopts it (one firn_turn per (UDP host base, TURN server) for
 * transport=udp, per (host IP, server) for tcp/tls; settings.user = the agent's slot):
 *   gather()            firn_turn_new(server, local = base, transport, username/password,
 *                       tls_server_name, tls_ca_file/insecure, the agent's alloc/random/log)
 *                       and firn_turn_start(now).
 *   on_state(READY)     relay candidate(s): addr = info.relayed[i], related = info.mapped,
 *                       type RELAY, transport UDP, base = the relayed address itself; local
 *                       preference by the server transport (udp > tcp > tls). info.mapped can
 *                       also serve as the srflx candidate of that base.
 *   on_state(FAILED)    this server is done for gathering (reason: info.failure/error_code);
 *                       MISMATCH: optionally retry once with a new object (new port/conn).
 *   on_connect          allocate a conn id, call the agent's on_tcp_connect with
 *                       {local = base IP, remote = server, TCP, conn}; on_close_connection
 *                       calls on_tcp_close(conn).
 *   tcp_connected / handle_stream / tcp_closed for that conn -> firn_turn_connected /
 *                       firn_turn_handle_stream / firn_turn_connection_closed.
 *   handle_datagram     a datagram on a base from a turn object's server address goes to
 *                       firn_turn_handle_datagram (FIRN_ERR_STUN_MISMATCH: not the
 *                       allocation's; try the agent's own STUN transactions).
 *   on_data(peer, p)    process p as a datagram received on path {local = relayed address,
 *                       remote = peer, UDP}: checks, responses and media of relay pairs.
 *   sending from a relay candidate (checks, responses, write_data): firn_turn_wrap(peer) and
 *                       send the result on {local = base, remote = server} (conn for TCP/TLS).
 *   pairing a remote candidate with a relay candidate: firn_turn_permit(remote); when a
 *                       relay pair is nominated/selected: firn_turn_bind_channel(remote).
 *   poll_transmit       after the agent's own output, drain firn_turn_poll_transmit of each
 *                       object onto {local = base, remote = dest} (or its conn).
 *   expiry / handle_expiry   min with firn_turn_expiry / call firn_turn_handle_expiry.
 *   close / free        firn_turn_close (deallocate) / firn_turn_free.
 *   relay-only policy   pair only relay candidates; gathering done once every object is
 *                       READY or FAILED.
 */
#ifndef FIRN_TURN_H
#define FIRN_TURN_H

#include "firn/common.h"
#include "firn/stun.h"

typedef struct firn_turn firn_turn;

typedef enum firn_turn_state {
  FIRN_TURN_NEW = 0,        /* created, not started */
  FIRN_TURN_CONNECTING = 1, /* TCP/TLS: waiting for the connection / the TLS handshake */
  FIRN_TURN_ALLOCATING = 2, /* Allocate in flight */
  FIRN_TURN_READY = 3,      /* allocated: relayed address valid */
  FIRN_TURN_CLOSING = 4,    /* deallocating (Refresh LIFETIME 0 in flight) */
  FIRN_TURN_CLOSED = 5,     /* closed on request */
  FIRN_TURN_FAILED = 6      /* failed; see firn_turn_info.failure */
} firn_turn_state;

typedef enum firn_turn_failure {
  FIRN_TURN_FAIL_NONE = 0,
  FIRN_TURN_FAIL_TIMEOUT = 1,    /* no answer: server unreachable (or refresh unanswered) */
  FIRN_TURN_FAIL_REFUSED = 2,    /* an error response; error_code says which */
  FIRN_TURN_FAIL_AUTH = 3,       /* credentials rejected (401 again) */
  FIRN_TURN_FAIL_INTEGRITY = 4,  /* success without valid MESSAGE-INTEGRITY */
  FIRN_TURN_FAIL_MISMATCH = 5,   /* 437: restart from a new local port / connection */
  FIRN_TURN_FAIL_REDIRECT = 6,   /* 300 ALTERNATE-SERVER refused (loop, loopback, ...) */
  FIRN_TURN_FAIL_CONNECT = 7,    /* TCP connection failed or was lost */
  FIRN_TURN_FAIL_TLS = 8,        /* TLS handshake or certificate verification failed */
  FIRN_TURN_FAIL_PROTOCOL = 9,   /* malformed stream framing or an oversized frame */
  FIRN_TURN_FAIL_INTERNAL = 10   /* out of memory, random source failure */
} firn_turn_failure;

const char *firn_turn_state_name(firn_turn_state s);
const char *firn_turn_failure_name(firn_turn_failure f);

typedef struct firn_turn_callbacks {
  size_t size; /* sizeof(firn_turn_callbacks), or 0 */
  /* The state changed (READY: relayed/mapped addresses are in firn_turn_get_info();
   * FAILED: failure, error_code and status are). */
  void (*on_state)(void *user, firn_turn *t, firn_turn_state state);
  /* Relayed data from `peer` (Data indication or ChannelData), valid during the call. */
  void (*on_data)(void *user, firn_turn *t, const firn_addr *peer, const uint8_t *data, size_t len,
                  uint64_t now);
  /* TCP/TLS: open a TCP connection to `server` (from the local base's address, any port);
   * answer with firn_turn_connected(). */
  void (*on_connect)(void *user, firn_turn *t, const firn_addr *server);
  /* TCP/TLS: close the connection (no more firn_turn_connection_closed() is needed). */
  void (*on_close_connection)(void *user, firn_turn *t);
} firn_turn_callbacks;

typedef struct firn_turn_settings {
  size_t size;                  /* sizeof(firn_turn_settings), set by _default() */
  const firn_allocator *alloc;  /* NULL: malloc */
  firn_random_fn random;        /* NULL: OpenSSL RAND_bytes */
  void *random_user;
  firn_log_fn log;
  void *log_user;
  firn_log_level log_level;
  firn_addr server;             /* the TURN server (resolved) */
  firn_addr local;              /* the local base (informational; reported back) */
  firn_transport transport;     /* UDP, TCP or TLS to the server */
  const char *username;         /* long-term credentials (copied), required */
  const char *password;
  firn_family family;           /* relayed family: INET (default) or INET6 */
  int dual;                     /* 1: also ask for IPv6 (ADDITIONAL-ADDRESS-FAMILY) */
  uint32_t lifetime_s;          /* LIFETIME to request; 0: the server's default */
  const char *software;         /* SOFTWARE attribute, NULL for none */
  /* Timing (0: default). */
  uint64_t rto_ns;              /* UDP initial RTO, default 500 ms */
  unsigned rc;                  /* UDP transmissions, default 7 */
  uint64_t ti_ns;               /* TCP/TLS transaction timeout, default 39.5 s */
  uint64_t connect_timeout_ns;  /* TCP connect + TLS handshake, default 10 s */
  uint64_t permission_refresh_ns; /* default 240 s (permissions last 300 s) */
  uint64_t channel_refresh_ns;  /* default 540 s (channels last 600 s) */
  uint64_t close_timeout_ns;    /* how long close() waits for the deallocation, default 5 s */
  /* Bounds (0: default). */
  unsigned max_permissions;     /* peer IPs, default 64 */
  unsigned max_channels;        /* default 64 (at most 4096) */
  size_t max_frame;             /* largest frame accepted on a stream, default 8192 */
  /* TLS. */
  const char *tls_ca_file;      /* PEM CA bundle; NULL with tls_ca_dir NULL: system default */
  const char *tls_ca_dir;
  const char *tls_server_name;  /* verified (SSL_set1_host) and sent as SNI; NULL: verify
                                   the server's IP address instead */
  int tls_insecure;             /* 1: no certificate verification (tests only) */
  firn_turn_callbacks callbacks;
  void *user;
} firn_turn_settings;

typedef struct firn_turn_info {
  firn_turn_state state;
  firn_turn_failure failure;
  int error_code;               /* STUN error code for REFUSED/MISMATCH/REDIRECT, else 0 */
  int status;                   /* the underlying firn error, 0 if none */
  firn_transport transport;
  firn_addr server;             /* current server (after a redirect) */
  firn_addr local;
  firn_addr mapped;             /* XOR-MAPPED-ADDRESS (family NONE if absent) */
  firn_addr relayed[2];         /* XOR-RELAYED-ADDRESS(es) */
  unsigned nrelayed;
  int additional_error;         /* ADDRESS-ERROR-CODE for the additional family, 0 if none */
  uint32_t lifetime_s;          /* last granted lifetime */
  uint64_t expires_at;          /* when the allocation runs out unless refreshed */
  uint64_t refresh_at;          /* next allocation Refresh */
} firn_turn_info;

typedef struct firn_turn_stats {
  uint64_t allocate_requests;   /* Allocate transactions started (incl. after a redirect) */
  uint64_t refreshes;           /* successful Refreshes (lifetime > 0) */
  uint64_t permission_refreshes;/* successful CreatePermissions after the first */
  uint64_t channel_refreshes;   /* successful ChannelBinds after the first */
  uint64_t data_in, data_out;   /* relayed packets delivered / wrapped */
  uint64_t channel_data_in, channel_data_out;
  uint64_t stale_nonces;        /* 438 answers (each retried with the new nonce) */
  uint64_t dropped;             /* hostile or unusable input dropped */
} firn_turn_stats;

void firn_turn_settings_default(firn_turn_settings *s);
/* Returns 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_NOMEM, FIRN_ERR_TURN_TLS (TLS setup, e.g. an
 * unreadable CA file), FIRN_ERR_UNSUPPORTED. */
int firn_turn_new(firn_turn **out, const firn_turn_settings *s);
/* Free now (deferred when called from a callback). No deallocation is sent: close first. */
void firn_turn_free(firn_turn *t);

/* Start allocating. FIRN_ERR_STATE unless NEW. */
int firn_turn_start(firn_turn *t, uint64_t now);
/* Deallocate (Refresh LIFETIME 0) and close; CLOSED once answered, timed out or after
 * close_timeout. From NEW/CONNECTING/ALLOCATING/FAILED it closes at once. */
int firn_turn_close(firn_turn *t, uint64_t now);

/* UDP: a datagram from `from` on the local base. Returns 0 when consumed (a response, or
 * relayed data delivered through on_data), or a negative code when dropped:
 * FIRN_ERR_NOT_FOUND (not from the server), FIRN_ERR_TURN_PERMISSION (data from a peer without
 * permission / unbound channel), FIRN_ERR_STUN_MISMATCH (no such transaction / bad
 * integrity), a codec error (malformed), FIRN_ERR_STATE. */
int firn_turn_handle_datagram(firn_turn *t, const firn_addr *from, const uint8_t *data, size_t len,
                              uint64_t now);
/* TCP/TLS: the connection is open (ok=1) or failed (ok=0). */
int firn_turn_connected(firn_turn *t, int ok, uint64_t now);
/* TCP/TLS: bytes read from the connection, any split. Returns 0, or a negative code when
 * the stream was unusable (the object then FAILED and asked to close the connection). */
int firn_turn_handle_stream(firn_turn *t, const uint8_t *data, size_t len, uint64_t now);
/* TCP/TLS: the connection closed (by the peer or an error). */
int firn_turn_connection_closed(firn_turn *t, uint64_t now);

/* The next bytes to send, copied into `buf`; `*dest` (may be NULL) gets the server address.
 * Over UDP one datagram; over TCP/TLS stream bytes for the connection. Returns the length,
 * FIRN_ERR_WOULDBLOCK when nothing is due, FIRN_ERR_NOBUF (nothing lost; retry bigger). */
firn_ssize firn_turn_poll_transmit(firn_turn *t, uint64_t now, uint8_t *buf, size_t cap,
                                   firn_addr *dest);
uint64_t firn_turn_expiry(const firn_turn *t);
void firn_turn_handle_expiry(firn_turn *t, uint64_t now);

/* Install (CreatePermission) a permission for `peer`'s IP and keep refreshing it. Requests
 * made before READY are sent once allocated. Returns 0 (also when it already exists),
 * FIRN_ERR_LIMIT (table full), FIRN_ERR_INVALID_ARG (family not relayed), FIRN_ERR_STATE. */
int firn_turn_permit(firn_turn *t, const firn_addr *peer, uint64_t now);
/* Stop refreshing the permission for `peer`'s IP (and its channels). */
int firn_turn_remove_permission(firn_turn *t, const firn_addr *peer);
/* Bind a channel to `peer` (address and port), refreshed until closed; implies a permission.
 * Data goes as Send indications until the bind succeeds, ChannelData after. `*channel` (may
 * be NULL) gets the number. FIRN_ERR_LIMIT when no number or slot is left. */
int firn_turn_bind_channel(firn_turn *t, const firn_addr *peer, uint64_t now, uint16_t *channel);
/* 1 if a permission for `peer`'s IP is installed, 0 if pending or absent. */
int firn_turn_has_permission(const firn_turn *t, const firn_addr *peer);
/* The bound channel number for `peer`, or 0. */
uint16_t firn_turn_channel(const firn_turn *t, const firn_addr *peer);

/* Wrap application data for `peer`: ChannelData when a channel is bound, else a Send
 * indication. Over UDP the result is one datagram for the server; over TCP/TLS it is stream
 * bytes (ChannelData padded to 4, TLS-encrypted; with TLS the bytes may begin with control
 * bytes queued earlier: write them all, in order). Returns the length, FIRN_ERR_STATE (not
 * READY), FIRN_ERR_TURN_PERMISSION (no permission requested for the peer), FIRN_ERR_NOBUF,
 * FIRN_ERR_INVALID_ARG, FIRN_ERR_RANDOM, FIRN_ERR_TURN_TLS. */
firn_ssize firn_turn_wrap(firn_turn *t, const firn_addr *peer, const uint8_t *data, size_t len,
                          uint8_t *out, size_t cap);
/* Unwrap one datagram (UDP) or one whole frame: returns 1 with `*peer` and the payload (a
 * view into `data`) for relayed data from a permitted peer / bound channel, 0 when the frame
 * is not relayed data (a STUN response: give it to firn_turn_handle_datagram), or a negative
 * code when it must be dropped. Does not change state. */
int firn_turn_unwrap(const firn_turn *t, const uint8_t *data, size_t len, firn_addr *peer,
                     const uint8_t **payload, size_t *payload_len);

int firn_turn_get_info(const firn_turn *t, firn_turn_info *info);
int firn_turn_get_stats(const firn_turn *t, firn_turn_stats *stats);
firn_turn_state firn_turn_get_state(const firn_turn *t);
/* The owner's pointer given in settings.user. */
void *firn_turn_get_user(const firn_turn *t);

/* Stream framing (RFC 8656 12.5/RFC 4571 style: STUN messages and ChannelData back to back,
 * ChannelData padded to 4). Exposed for tests and fuzzing. */
/* Length of the frame starting at `p` (with `avail` bytes), 0 if more bytes are needed,
 * FIRN_ERR_STUN_NOT_STUN (neither STUN nor ChannelData) or FIRN_ERR_LIMIT (over `max`). */
firn_ssize firn_turn_frame_length(const uint8_t *p, size_t avail, size_t max);

#endif
