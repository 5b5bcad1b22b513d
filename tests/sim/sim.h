/**
 * @file sim.h
 * @brief A deterministic simulated network and virtual clock for testing sans-I/O endpoints.
 *
 * Test infrastructure only (never part of libfirn). Modelled on quicly's t/test.c: the test
 * drives endpoints that do no I/O, the simulator moves their packets and jumps a virtual clock
 * to the earliest pending event. Everything that looks random (jitter, loss, duplication,
 * reordering, NAT port choice, TCP chunk splits) comes from one seeded PRNG, so a run replays
 * exactly from its seed. FIRN_SIM_SEED=<n> in the environment overrides the configured seed;
 * FIRN_SIM_TRACE=1 prints one line per packet event to stderr with the virtual time.
 *
 * Topology:
 *   segment  a broadcast domain ("LAN", "internet"). Addresses are unique per segment only, so
 *            two LANs may both use 192.168.1.0/24.
 *   host     a node with one or more interfaces, each attached to a segment with an address.
 *            Sockets (UDP, TCP) bind to (address, port) on a host; the ANY address binds all of
 *            that family's interfaces.
 *   iface    one attachment of a host or NAT to a segment. It carries the link settings for
 *            both directions: UP (node -> segment) and DOWN (segment -> node).
 *   NAT      a box with an inside interface (the gateway of the inside segment for its address
 *            family) and an outside interface (the external address on the outside segment).
 *            RFC 4787 mapping and filtering behaviour, port preservation, timeouts,
 *            hairpinning. NATs nest. With translate = 0 the box is a stateful firewall instead:
 *            addresses pass unchanged and the inside addresses are routed through it.
 *            A segment has one gateway per family (a v4 NAT and a v6 firewall, say).
 *
 * Routing on a segment: a packet goes to the interface that owns the destination address; if
 * none does, to a firewall whose inside reaches it; else to the segment's gateway for that
 * family (if the packet did not come from it); else it is dropped.
 * A packet crosses the sender's UP link and the receiver's DOWN link (delays add up).
 *
 * Re-entrancy: every callback may send, arm timers, open and close sockets and connections,
 * change link settings, and close the very object whose callback is running; it must not call
 * sim_free() or run the simulator (sim_run_until, sim_step). Objects stay valid until
 * closed/freed by the test or until sim_free(), which frees everything left.
 *
 * Ownership: the test owns what it creates (sockets, connections, timers, servers) and may free
 * it at any time; sim_free() frees anything still open, after which those pointers are dead.
 */
#ifndef FIRN_TESTS_SIM_H
#define FIRN_TESTS_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "firn/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sim_net sim_net;
typedef struct sim_segment sim_segment;
typedef struct sim_host sim_host;
typedef struct sim_iface sim_iface;
typedef struct sim_nat sim_nat;
typedef struct sim_udp sim_udp;
typedef struct sim_timer sim_timer;
typedef struct sim_tcp sim_tcp;
typedef struct sim_tcp_listener sim_tcp_listener;
typedef struct sim_stun_server sim_stun_server;

/** Outcomes of sim_run_until() (errors are negative firn codes). */
#define SIM_DONE 0      /**< the predicate returned true */
#define SIM_DEADLINE 1  /**< the deadline was reached; the clock now equals the deadline */
#define SIM_IDLE 2      /**< no deadline and nothing left to happen */

/** Stream (TCP model) statuses passed to callbacks. */
#define SIM_ERR_REFUSED (-1001) /**< connect: RST, nothing listens on the address */
#define SIM_ERR_TIMEDOUT (-1002) /**< connect: no answer within tcp_connect_timeout_ns */
#define SIM_ERR_RESET (-1003)   /**< established connection reset (RST, or segments undeliverable) */

/* ------------------------------------------------------------------------------------------ */
/* Seeded PRNG (xoshiro256**, seeded through splitmix64)                                     */

typedef struct sim_rng {
  uint64_t s[4];
} sim_rng;

void sim_rng_seed(sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(sim_rng *r);
/** Uniform in [0, bound), bound > 0, without modulo bias. */
uint64_t sim_rng_below(sim_rng *r, uint64_t bound);
/** A firn_random_fn: `user` is a sim_rng *. Inject into a firn object to make it replayable. */
int sim_rng_fill(void *user, uint8_t *buf, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* The simulator                                                                              */

/** Trace sink: one NUL-terminated line (no newline) per event. */
typedef void (*sim_trace_fn)(void *user, const char *line);

typedef struct sim_settings {
  size_t size;                   /**< sizeof(sim_settings), set by sim_settings_default() */
  uint64_t seed;                 /**< default 1; FIRN_SIM_SEED in the environment overrides */
  uint64_t start_ns;             /**< initial virtual time, default 0 */
  size_t max_events;             /**< cap on packets in flight (whole network), default 100000 */
  uint64_t max_steps;            /**< cap per sim_run_until() call against livelock, default 10^8 */
  sim_trace_fn trace;            /**< optional trace sink (in addition to FIRN_SIM_TRACE) */
  void *trace_user;
  uint64_t tcp_connect_timeout_ns; /**< SYN unanswered -> SIM_ERR_TIMEDOUT, default 10 s */
  uint64_t tcp_abort_ns;         /**< segment undeliverable -> sender reset after this, default 10 s */
  size_t tcp_max_chunk;          /**< largest TCP segment payload, default 1400 */
  size_t tcp_sndbuf;             /**< bytes a connection buffers before sends fail, default 1 MiB */
} sim_settings;

void sim_settings_default(sim_settings *s);
/** Create a simulator (settings NULL: defaults). Returns 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_NOMEM. */
int sim_new(sim_net **out, const sim_settings *settings);
/** Free the simulator and every object created in it (hosts, NATs, sockets, timers, ...). */
void sim_free(sim_net *s);

/** The current virtual time in ns. */
uint64_t sim_now(const sim_net *s);
/** The seed in use (after the FIRN_SIM_SEED override): print it when a test fails. */
uint64_t sim_seed(const sim_net *s);
/** The network's own PRNG (jitter, loss, ...). Prefer sim_rng_derive() for endpoints. */
sim_rng *sim_rng_of(sim_net *s);
/** Seed `r` from the simulator's seed and `stream`: independent of the network's draws, so an
 *  endpoint's randomness does not shift when the traffic changes. */
void sim_rng_derive(const sim_net *s, uint64_t stream, sim_rng *r);

/** Predicate for sim_run_until(): return non-zero to stop. */
typedef int (*sim_pred_fn)(void *user);

/**
 * Run events in time order, jumping the clock to each. Before every step the predicate (may
 * be NULL) is checked. Stops when the predicate is true (SIM_DONE), when the next event lies
 * after `deadline` (the clock is set to `deadline`, SIM_DEADLINE), or when nothing is pending
 * and deadline is FIRN_TIME_NEVER (SIM_IDLE). FIRN_ERR_LIMIT after max_steps events;
 * FIRN_ERR_STATE when called from inside a simulator callback.
 */
int sim_run_until(sim_net *s, sim_pred_fn pred, void *user, uint64_t deadline);
/** sim_run_until(s, NULL, NULL, sim_now(s) + duration_ns). */
int sim_run_for(sim_net *s, uint64_t duration_ns);
/** Run exactly one event, if any is pending: 1 if one ran, 0 if none, FIRN_ERR_STATE from
 *  inside a simulator callback. */
int sim_step(sim_net *s);
/** Time of the earliest pending event, FIRN_TIME_NEVER if none. */
uint64_t sim_next_event(const sim_net *s);

/** Write one line to the trace (stderr when FIRN_SIM_TRACE=1, and the trace sink). */
void sim_tracef(sim_net *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** Counters over the whole run. */
typedef struct sim_stats {
  uint64_t sent;             /**< datagrams/segments handed to the network by endpoints */
  uint64_t delivered;        /**< handed to an endpoint */
  uint64_t duplicated;       /**< extra copies made by links */
  uint64_t reordered;        /**< packets held back by a link's reordering */
  uint64_t drop_loss;        /**< random loss */
  uint64_t drop_down;        /**< link cut */
  uint64_t drop_firewall;    /**< link blocks the protocol */
  uint64_t drop_queue;       /**< link queue or global event cap full, or over the MTU */
  uint64_t drop_unroutable;  /**< no interface owns the destination and no gateway */
  uint64_t drop_nat_mapping; /**< NAT: inbound without a mapping, or mapping table full */
  uint64_t drop_nat_filter;  /**< NAT: inbound refused by the filtering behaviour */
  uint64_t drop_no_socket;   /**< host: nothing bound (UDP) or no connection (TCP) */
  uint64_t tcp_refused;      /**< RSTs sent for SYNs nobody listens for */
} sim_stats;

void sim_get_stats(const sim_net *s, sim_stats *out);

/* ------------------------------------------------------------------------------------------ */
/* Addresses                                                                                  */

/** Parse "10.0.0.1", "10.0.0.1:5000", "[2001:db8::1]:5000" (port 0 when absent). Aborts the
 *  process on a parse error (it is for literals in tests). */
firn_addr sim_addr(const char *str);
/** Format an address with its port into `buf` (at least FIRN_ADDR_STRLEN); returns `buf`. */
const char *sim_addr_str(const firn_addr *a, char *buf);

/* ------------------------------------------------------------------------------------------ */
/* Topology                                                                                   */

/** Direction on an interface's link. */
typedef enum sim_dir {
  SIM_UP = 1,   /**< from the node into the segment (what it sends) */
  SIM_DOWN = 2, /**< from the segment to the node (what it receives) */
  SIM_BOTH = 3
} sim_dir;

/** Link behaviour for one direction of an interface. Changes apply at once, also to packets in
 *  flight for `down` (a cut loses what is on the wire). */
typedef struct sim_link {
  uint64_t delay_ns;         /**< one-way delay */
  uint64_t jitter_ns;        /**< extra delay uniform in [0, jitter]; order kept (FIFO) */
  double loss_pct;           /**< UDP loss, 0..100 */
  double dup_pct;            /**< UDP duplication, 0..100 (the copy gets its own delay) */
  double reorder_pct;        /**< UDP: this share is held back by reorder_delay_ns, out of order */
  uint64_t reorder_delay_ns; /**< default 5 ms */
  int down;                  /**< 1: the link is cut, everything dropped */
  int block_udp;             /**< firewall: drop UDP */
  int block_tcp;             /**< firewall: drop TCP (a SYN then times out) */
  size_t queue_limit;        /**< packets in flight on this direction, default 10000 */
  size_t mtu;                /**< largest payload in bytes, 0 = no limit (default) */
} sim_link;

/** Defaults: no delay, no loss, everything allowed. */
void sim_link_default(sim_link *l);

/** Create a segment (name for traces, copied). */
int sim_segment_new(sim_net *s, const char *name, sim_segment **out);
/** Create a host (name for traces, copied). */
int sim_host_new(sim_net *s, const char *name, sim_host **out);
/** Attach `h` to `seg` with address `addr` ("10.0.0.2", "2001:db8::2"; a port is ignored).
 *  FIRN_ERR_STATE if the segment already has that address. `out` may be NULL. */
int sim_host_add_iface(sim_host *h, sim_segment *seg, const char *addr, sim_iface **out);
/** The host's n-th interface (in the order added), or NULL. */
sim_iface *sim_host_iface(const sim_host *h, size_t n);
const char *sim_host_name(const sim_host *h);

/** Set one or both directions of an interface's link. */
void sim_iface_set_link(sim_iface *i, sim_dir dir, const sim_link *l);
/** Read one direction (SIM_UP or SIM_DOWN). */
void sim_iface_get_link(const sim_iface *i, sim_dir dir, sim_link *out);
/** Cut (1) or restore (0) both directions. */
void sim_iface_set_down(sim_iface *i, int down);
/** The interface's address (port 0). */
const firn_addr *sim_iface_addr(const sim_iface *i);
/** Interface name and 1-based index as a runtime would report them, for the agent's interface
 *  filter and VPN policy. Host interfaces default to "eth0", "eth1", ... in the order added;
 *  rename one to "wg0" or "tun0" to model a VPN. Names are cut at 15 characters. */
void sim_iface_set_name(sim_iface *i, const char *name);
const char *sim_iface_name(const sim_iface *i);
uint32_t sim_iface_index(const sim_iface *i);

/* ------------------------------------------------------------------------------------------ */
/* NAT (RFC 4787 for UDP, RFC 5382 for TCP, simplified)                                       */

typedef enum sim_nat_behavior {
  SIM_NAT_EI = 0,  /**< endpoint-independent */
  SIM_NAT_AD = 1,  /**< address-dependent */
  SIM_NAT_APD = 2  /**< address-and-port-dependent */
} sim_nat_behavior;

typedef struct sim_nat_config {
  size_t size;                 /**< sizeof(sim_nat_config), set by the initialisers */
  sim_nat_behavior mapping;    /**< which remote endpoints share one external mapping */
  sim_nat_behavior filtering;  /**< which remote endpoints may send in through a mapping */
  int port_preservation;       /**< try the internal port as the external port first */
  int random_ports;            /**< otherwise pick random ports (else sequential from port_min) */
  uint16_t port_min, port_max; /**< external port range, default 1024..65535 */
  int hairpinning;             /**< inside -> own external address loops back (RFC 4787 REQ-9) */
  int translate;               /**< 1 (default): NAT. 0: stateful firewall: no translation, the
                                    inside addresses are routed through the box, inbound passes
                                    only per `filtering` after outbound traffic and within the
                                    timeouts (mapping, port and hairpin options do not apply) */
  int inbound_refresh;         /**< inbound packets refresh the mapping timer (default 0) */
  uint64_t udp_timeout_ns;     /**< idle UDP mapping lifetime, default 120 s */
  uint64_t tcp_timeout_ns;     /**< idle TCP mapping lifetime, default 2 h 4 min (RFC 5382) */
  size_t max_mappings;         /**< bound on the mapping table, default 4096 */
  size_t max_filter_entries;   /**< remote endpoints remembered per mapping, default 1024 */
} sim_nat_config;

/** Endpoint-independent mapping, address-dependent filtering, port preservation, hairpinning:
 *  the behaviour RFC 4787 recommends and most home routers show. */
void sim_nat_config_default(sim_nat_config *c);
/** "Symmetric": address-and-port-dependent mapping and filtering, random ports, no port
 *  preservation, no hairpinning. */
void sim_nat_config_symmetric(sim_nat_config *c);

/** Create a NAT: its inside interface gets `inside_addr` on `inside` and becomes that
 *  segment's gateway for the family (FIRN_ERR_STATE if it already has one); its outside interface gets
 *  `outside_addr` (the external address) on `outside`. Both addresses of one family; other
 *  families are not translated (dropped). */
int sim_nat_new(sim_net *s, const char *name, const sim_nat_config *cfg, sim_segment *inside,
                const char *inside_addr, sim_segment *outside, const char *outside_addr,
                sim_nat **out);
sim_iface *sim_nat_inside(const sim_nat *n);
sim_iface *sim_nat_outside(const sim_nat *n);
/** Change the configuration (existing mappings are kept). */
void sim_nat_set_config(sim_nat *n, const sim_nat_config *cfg);
/** Live (unexpired) mappings. */
size_t sim_nat_mapping_count(sim_nat *n);
/** Drop every mapping (a NAT reboot). */
void sim_nat_flush(sim_nat *n);

/* ------------------------------------------------------------------------------------------ */
/* Timers                                                                                     */

typedef void (*sim_timer_fn)(void *user, uint64_t now);

int sim_timer_new(sim_net *s, sim_timer_fn cb, void *user, sim_timer **out);
/** Arm for absolute time `when` (clamped to now; FIRN_TIME_NEVER disarms). Re-arming moves it.
 *  Returns 0 or FIRN_ERR_NOMEM. */
int sim_timer_arm(sim_timer *t, uint64_t when);
void sim_timer_cancel(sim_timer *t);
int sim_timer_armed(const sim_timer *t);
void sim_timer_free(sim_timer *t);
/** One-shot call at `when` (e.g. "cut the link at 10 s"). Returns 0 or FIRN_ERR_NOMEM. */
int sim_at(sim_net *s, uint64_t when, sim_timer_fn cb, void *user);

/* ------------------------------------------------------------------------------------------ */
/* UDP                                                                                        */

/** Datagram received: `local` is the address it arrived on (the interface address even for an
 *  ANY-bound socket), `remote` the source as seen after any NAT. Data valid only during the call. */
typedef void (*sim_udp_recv_fn)(void *user, const firn_addr *local, const firn_addr *remote,
                                const uint8_t *data, size_t len, uint64_t now);

/** Bind a UDP socket on `h` at `local` (port 0: an ephemeral port; ANY address: all of the
 *  family's interfaces). FIRN_ERR_STATE if the (address, port) is taken, FIRN_ERR_NOT_FOUND if
 *  the host has no such address. */
int sim_udp_open(sim_host *h, const firn_addr *local, sim_udp_recv_fn cb, void *user, sim_udp **out);
/** The bound address (with the chosen port). */
const firn_addr *sim_udp_local(const sim_udp *u);
/** Send a copy of `data` to `to` now. Network trouble (loss, no route, full queue) is silent as
 *  on a real network; errors are only local: FIRN_ERR_INVALID_ARG (family, over 65507 bytes),
 *  FIRN_ERR_NOMEM. An ANY-bound socket sends from the family's first interface. */
int sim_udp_send(sim_udp *u, const firn_addr *to, const void *data, size_t len);
/** Send from a specific local address (for ANY-bound sockets). */
int sim_udp_send_from(sim_udp *u, const firn_addr *from, const firn_addr *to, const void *data,
                      size_t len);
void sim_udp_close(sim_udp *u);
/** Put a UDP datagram with any source address on `from`'s uplink, as an attacker on that
 *  segment could (spoofed responses, packets "from" a server's 5-tuple). No socket needed.
 *  Same local errors as sim_udp_send(). */
int sim_udp_inject(sim_iface *from, const firn_addr *src, const firn_addr *dst, const void *data,
                   size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Streams (a TCP model)                                                                      */
/*
 * Reliable, in-order bytes. Segments cross the same links and NATs as UDP (TCP mappings and
 * firewall rules), keep FIFO order per link, and are not subject to random loss, duplication
 * or reordering (TCP hides those; they would only add delay). What a sender writes within one
 * event is sent as segments of random sizes (1..tcp_max_chunk, seeded) after the callback
 * returns, so the receiver sees arbitrary splits and coalesced writes. A SYN is retransmitted
 * after 1, 2, 4, ... s until tcp_connect_timeout_ns. Simultaneous open (both ends connect to
 * each other, ICE-TCP S-O) establishes both. Not modelled: flow control, half-close (after FIN
 * nothing more is sent or delivered), data retransmission (a segment the network cannot
 * deliver resets the sender after tcp_abort_ns).
 */

typedef struct sim_tcp_callbacks {
  /** Active open finished: 0, SIM_ERR_REFUSED or SIM_ERR_TIMEDOUT. May be NULL. */
  void (*on_connect)(void *user, sim_tcp *c, int status, uint64_t now);
  /** Bytes arrived, in order. May be NULL (bytes discarded). */
  void (*on_data)(void *user, sim_tcp *c, const uint8_t *data, size_t len, uint64_t now);
  /** The peer closed (0) or the connection was reset (SIM_ERR_RESET). May be NULL. */
  void (*on_close)(void *user, sim_tcp *c, int reason, uint64_t now);
} sim_tcp_callbacks;

/** A connection arrived on a listener. The test owns `c` (sim_tcp_close() frees it) and sets
 *  its callbacks with sim_tcp_set_callbacks(). */
typedef void (*sim_tcp_accept_fn)(void *user, sim_tcp *c, uint64_t now);

/** Listen on `local` (port 0: ephemeral; ANY: all interfaces of the family). */
int sim_tcp_listen(sim_host *h, const firn_addr *local, sim_tcp_accept_fn cb, void *user,
                   sim_tcp_listener **out);
const firn_addr *sim_tcp_listener_local(const sim_tcp_listener *l);
void sim_tcp_listener_close(sim_tcp_listener *l);

/** Open a connection from `local` (port 0: ephemeral, ANY: the family's first interface) to
 *  `remote`. The result comes through on_connect. `cbs` is copied and may be NULL. */
int sim_tcp_connect(sim_host *h, const firn_addr *local, const firn_addr *remote,
                    const sim_tcp_callbacks *cbs, void *user, sim_tcp **out);
void sim_tcp_set_callbacks(sim_tcp *c, const sim_tcp_callbacks *cbs, void *user);
/** Queue bytes (sent once connected). FIRN_ERR_CLOSED after close/reset/peer FIN,
 *  FIRN_ERR_LIMIT when over tcp_sndbuf, FIRN_ERR_NOMEM. */
int sim_tcp_send(sim_tcp *c, const void *data, size_t len);
/** 1 once established and not closed. */
int sim_tcp_is_open(const sim_tcp *c);
const firn_addr *sim_tcp_local(const sim_tcp *c);
const firn_addr *sim_tcp_remote(const sim_tcp *c);
/** Flush what is queued, send FIN if open, and free `c` (no more callbacks). */
void sim_tcp_close(sim_tcp *c);
/** Send RST instead of FIN and free `c`. */
void sim_tcp_abort(sim_tcp *c);

/* ------------------------------------------------------------------------------------------ */
/* STUN server (RFC 8489 Binding, built on firn's codec)                                      */

/** A UDP STUN server on `h` at `local`: answers Binding requests with XOR-MAPPED-ADDRESS (the
 *  source it saw) and FINGERPRINT when the request carried one; 420 with UNKNOWN-ATTRIBUTES
 *  for unknown comprehension-required attributes, 400 for other request methods; drops the rest. */
int sim_stun_server_new(sim_host *h, const firn_addr *local, sim_stun_server **out);
const firn_addr *sim_stun_server_local(const sim_stun_server *srv);
/** Requests answered so far. */
uint64_t sim_stun_server_requests(const sim_stun_server *srv);
void sim_stun_server_free(sim_stun_server *srv);

/* ------------------------------------------------------------------------------------------ */
/* TURN server (RFC 8656, UDP relays; clients over UDP, TCP or TLS), built on firn's codec    */

typedef struct sim_turn_server sim_turn_server;

typedef struct sim_turn_config {
  size_t size;                    /**< sizeof(sim_turn_config), set by sim_turn_config_default() */
  char realm[64];                 /**< default "firn.test" */
  char username[64];              /**< the one account: default "user" */
  char password[64];              /**< default "pass" (MD5 long-term key, RFC 5389 style) */
  uint64_t default_lifetime_ns;   /**< allocation lifetime when none/less is asked, default 600 s */
  uint64_t max_lifetime_ns;       /**< cap on asked lifetimes, default 3600 s */
  uint64_t permission_lifetime_ns; /**< default 300 s */
  uint64_t channel_lifetime_ns;   /**< default 600 s */
  uint64_t nonce_lifetime_ns;     /**< a nonce older than this gets 438 Stale Nonce; 0 = never */
  size_t max_allocations;         /**< whole server, default 64 (486 beyond); also the cap on
                                       client TCP connections (more are reset) */
  size_t max_permissions;         /**< per allocation, default 64 (508 beyond) */
  size_t max_channels;            /**< per allocation, default 64 (508 beyond) */
  int allocate_error;             /**< non-zero: answer every authenticated Allocate with this
                                       error code (e.g. 486, 508) to test failure paths */
} sim_turn_config;

void sim_turn_config_default(sim_turn_config *c);

/** Counters of what the server did. */
typedef struct sim_turn_stats {
  uint64_t allocations;     /**< allocations made */
  uint64_t active;          /**< allocations alive now (expired ones are reaped lazily) */
  uint64_t refreshes;       /**< successful Refresh requests (including deletions) */
  uint64_t deallocations;   /**< Refresh with LIFETIME 0, or client TCP connection closed */
  uint64_t permissions;     /**< CreatePermission requests accepted */
  uint64_t channel_binds;   /**< ChannelBind requests accepted */
  uint64_t unauthorized;    /**< 401 answers */
  uint64_t stale_nonce;     /**< 438 answers */
  uint64_t errors;          /**< other error answers */
  uint64_t to_peer;         /**< datagrams relayed to peers (Send or ChannelData) */
  uint64_t to_client_data;  /**< datagrams relayed to clients as Data indications */
  uint64_t to_client_channel; /**< datagrams relayed to clients as ChannelData */
  uint64_t dropped;         /**< peer datagrams without permission, unbound channels, junk */
} sim_turn_stats;

/**
 * A TURN server on `h`: listens for clients over UDP at `udp_local` and/or over TCP at
 * `tcp_local` (either may be NULL, not both). Relayed addresses are UDP on the host's first
 * interface of the requested family (REQUESTED-ADDRESS-FAMILY, default IPv4) with an
 * ephemeral port. Long-term credentials: 401 with REALM/NONCE first, 438 on a stale nonce;
 * responses carry MESSAGE-INTEGRITY (and FINGERPRINT when the request had one).
 * TLS: see sim_turn_server_listen_tls(). Not modelled: DTLS, ADDITIONAL-ADDRESS-FAMILY,
 * EVEN-PORT/RESERVATION-TOKEN (ignored),
 * TCP relays (RFC 6062), ALTERNATE-SERVER.
 */
int sim_turn_server_new(sim_host *h, const firn_addr *udp_local, const firn_addr *tcp_local,
                        const sim_turn_config *cfg, sim_turn_server **out);
/** Also accept clients over TLS ("turns:", RFC 8656 over TLS 1.2+) at `local`, with a fresh
 *  self-signed Ed25519 certificate whose subject and DNS name are `server_name`. Returns 0,
 *  FIRN_ERR_INVALID_ARG, FIRN_ERR_STATE (already listening), FIRN_ERR_CRYPTO, or a listen error. */
int sim_turn_server_listen_tls(sim_turn_server *srv, const firn_addr *local, const char *server_name);
/** The TLS certificate in PEM (the trust anchor to give clients), NULL before listen_tls. */
const char *sim_turn_server_cert_pem(const sim_turn_server *srv);
void sim_turn_server_stats(const sim_turn_server *srv, sim_turn_stats *out);
/** Rotate the nonce now (requests with the old one get 438). */
void sim_turn_server_new_nonce(sim_turn_server *srv);
void sim_turn_server_free(sim_turn_server *srv);

#ifdef __cplusplus
}
#endif
#endif /* FIRN_TESTS_SIM_H */
