/* ICE agent internals (RFC 8445 / 7675), shared by the src/ice/agent*.c files.
 *
 * Files:
 *   agent.c      public API, lifecycle, deferred events and free, outbox, demultiplexing,
 *                timers (expiry), per-stream state, data path, stats
 *   gather.c     host candidates (priorities, VPN policy, redundancy), srflx gathering
 *   checklist.c  remote candidates, pairing, pruning, pair priorities, the Ta pacer,
 *                unfreezing, nomination decisions, selection
 *   conncheck.c  outgoing checks (transactions, RTO), responses, incoming requests,
 *                role conflicts, peer-reflexive candidates
 *   consent.c    consent freshness (RFC 7675), keepalives, restart bookkeeping
 *
 * Model: every public entry point enters the agent (depth counter), does its work, runs
 * the timers that are due, and leaves. Callbacks never run while internal tables are being
 * walked: the code appends events to a queue which the outermost call dispatches just before
 * returning (application data is delivered the same way, synchronously). Destroying the
 * agent from a callback sets a flag; the outermost call frees it.
 *
 * Pairs are kept one per (local base, remote address): the pair is checked from a host (or,
 * later, relay) candidate; when its check succeeds the local candidate the peer saw (its
 * XOR-MAPPED-ADDRESS: host, srflx or a new prflx) becomes `valid_local`, which is what the
 * valid list and the selected pair report.
 *
 * ICE-TCP (tcp.c, RFC 6544 / 4571): a TCP listener address gives two host candidates,
 * passive (the listener) and active (port 9; the runtime connects from an ephemeral port).
 * Active pairs with remote passive, passive with remote active (S-O is not offered). A pair
 * on TCP carries the handle of its connection (`conn`): the active side asks the runtime to
 * open one (on_tcp_connect) when the pair's check is due; the passive side learns the pair
 * from the first authenticated check on an accepted connection (the remote is the signalled
 * active candidate with the connection's real source port, or peer-reflexive). Everything
 * sent on TCP goes through firn_ice_send() with the pair's `conn` and is framed there
 * (2-byte length); frames read are reassembled per connection (bounded) and take the same
 * demultiplexing path as datagrams (firn_ice_input()). An accepted connection whose first
 * frame is not an authenticated Binding request is closed; so is any connection no pair
 * uses for ICE_TCP_IDLE.
 *
 * Relays (relay.c): TURN allocations (src/turn) per UDP host base and TURN server; see the
 * comment there.
 */
#ifndef FIRN_ICE_AGENT_INTERNAL_H
#define FIRN_ICE_AGENT_INTERNAL_H

#include "firn/ice.h"
#include "firn/stun.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/random.h"

#include <stdint.h>
#include <stddef.h>

#define ICE_MAX_COMPONENTS 2
#define ICE_MAX_STREAMS 16
#define ICE_MAX_LOCAL 64         /* local candidates per stream (host + srflx + prflx) */
#define ICE_MAX_PRFLX_REMOTE 32  /* peer-reflexive remote candidates per stream */
#define ICE_MAX_OUTBOX 256       /* datagrams queued for poll_transmit */
#define ICE_MAX_SERVERS 8
#define ICE_MAX_RELAYS 16        /* TURN allocations per agent */
#define ICE_UFRAG_LEN 8          /* generated: 48 bits of entropy */
#define ICE_PWD_LEN 24           /* generated: 144 bits */
#define ICE_CHECK_RC 7           /* transmissions per check */
#define ICE_CHECK_RETRIES 2      /* extra rounds for a pair the peer has shown to work */
#define ICE_RTO_MIN (500 * FIRN_NS_PER_MS)
#define ICE_RTO_MAX (1600 * FIRN_NS_PER_MS)
#define ICE_CONSENT_RTO (500 * FIRN_NS_PER_MS)
#define ICE_MSG_MAX 1280
#define ICE_TCP_MAX_CONNS 32     /* TCP connections per agent (ICE and TURN) */
#define ICE_TCP_MAX_UNAUTH 8     /* accepted connections not yet authenticated */
#define ICE_TCP_FRAME_MAX 4096   /* largest RFC 4571 frame once authenticated */
#define ICE_TCP_PENDING 8        /* frames queued while a connection opens */
#define ICE_TCP_IDLE (5 * FIRN_NS_PER_S)          /* unused / unauthenticated connection */
#define ICE_TCP_CHECK_TIMEOUT (10 * FIRN_NS_PER_S) /* a check over TCP: connect + answer */

/* Type preferences (RFC 8445 5.1.2.2). */
#define ICE_PREF_HOST 126
#define ICE_PREF_PRFLX 110
#define ICE_PREF_SRFLX 100
#define ICE_PREF_RELAY 0
/* TCP below every UDP candidate but relays, so UDP wins wherever it works (RFC 6544 leaves
 * this to the agent; libwebrtc does the same). */
#define ICE_PREF_HOST_TCP 90
#define ICE_PREF_PRFLX_TCP 80
/* RFC 6544 4.2 direction preferences (host candidates) */
#define ICE_DIR_ACTIVE 6
#define ICE_DIR_PASSIVE 4

enum { PAIR_FROZEN = 0, PAIR_WAITING = 1, PAIR_IN_PROGRESS = 2, PAIR_SUCCEEDED = 3, PAIR_FAILED = 4 };

typedef struct ice_local {
  firn_candidate c;
  struct ice_local *base;   /* host candidate whose socket sends for this one (self for host) */
  firn_addr base_addr;      /* == base->c.addr */
  uint16_t local_pref;
  uint8_t vpn;
  uint8_t reported;         /* on_candidate queued */
  uint8_t usable;           /* may be paired/signalled (policy) */
  unsigned ngather;         /* srflx requests in flight from this base */
} ice_local;

typedef struct ice_remote {
  firn_candidate c;
  uint8_t learned;          /* peer-reflexive, learned from a check */
  uint8_t legacy;           /* from before an ICE restart (kept for the old selected pair) */
} ice_remote;

typedef struct ice_txn {
  uint8_t tid[FIRN_STUN_TID_SIZE];
  uint8_t active;
  uint8_t use_cand;         /* carried USE-CANDIDATE */
  uint8_t controlling;      /* role it was sent with */
  unsigned tx;              /* transmissions so far */
  uint64_t rto;
  uint64_t next;            /* next retransmission, or the give-up time after the last */
  uint64_t sent_at;         /* last transmission */
} ice_txn;

typedef struct ice_pair {
  ice_local *local;         /* the candidate checked from: host (or relay) */
  ice_remote *remote;
  ice_local *valid_local;   /* local candidate the peer saw (after success), else local */
  unsigned stream;
  uint16_t component;
  uint64_t priority;
  uint8_t state;            /* PAIR_* */
  uint8_t valid;            /* in the valid list */
  uint8_t nominated;
  uint8_t nominate;         /* controlling: send USE-CANDIDATE on the next check */
  uint8_t use_cand_rx;      /* controlled: peer sent USE-CANDIDATE on this pair */
  uint8_t auth_rx;          /* an authenticated check arrived on this 5-tuple */
  uint8_t triggered;        /* in the triggered-check queue */
  uint8_t legacy;           /* old selected pair kept across an ICE restart */
  uint8_t retries;          /* extra check rounds after a timeout (see conncheck.c) */
  uint32_t conn;            /* TCP: the connection the pair uses, 0 none yet */
  uint8_t tcp_lost;         /* TCP: the selected pair's connection closed */
  ice_txn txn;              /* current check transaction */
  ice_txn prev;             /* previous one, still answerable after a triggered re-check */
  ice_txn consent;          /* consent / keepalive request */
  uint64_t next_consent;
  uint64_t consent_unanswered; /* when the first unanswered consent request went out, 0 */
  uint64_t last_ok;         /* last authenticated response */
  uint64_t last_tx;         /* last datagram sent on this pair */
  uint64_t rtt_last, rtt_sum, rtt_n;
  uint32_t requests_sent, requests_received, responses_sent, responses_received;
  uint64_t bytes_sent, bytes_received, packets_sent, packets_received;
} ice_pair;

typedef struct ice_component {
  ice_pair *selected;
  uint64_t first_valid;     /* when the first pair became valid (nomination timer), 0 */
  uint8_t consent_failed;
} ice_component;

typedef struct ice_stream {
  unsigned id;
  unsigned ncomp;
  char *lufrag, *lpwd;
  firn_stun_key *lkey;
  char *rufrag, *rpwd;
  firn_stun_key *rkey;
  /* previous generation, kept during an ICE restart for the old selected pair */
  char *old_lufrag, *old_rufrag;
  firn_stun_key *old_lkey, *old_rkey;
  uint8_t restart_pending;  /* 1: we restarted, waiting for the remote credentials;
                               2: the remote restarted first (our restart adds no generation) */
  uint8_t in_restart;       /* legacy pairs carry data until a new pair is selected */
  uint8_t remote_eoc;
  uint8_t gather_started;
  uint8_t gather_done;      /* on_gathering_done queued */
  uint8_t checks_done;      /* every component nominated: no more ordinary checks */
  uint8_t checking;         /* checks have started */
  firn_ice_state state;
  ice_local **locals;
  unsigned nlocal, caplocal;
  ice_remote **remotes;
  unsigned nremote, capremote, nsignaled, nprflx;
  ice_pair **pairs;         /* sorted by priority, highest first */
  unsigned npairs, cappairs;
  ice_pair **trig;          /* triggered-check FIFO (capacity max_triggered) */
  unsigned ntrig;
  ice_component comp[ICE_MAX_COMPONENTS];
} ice_stream;

typedef struct ice_pkt {
  struct ice_pkt *next;
  firn_path path;
  size_t len;
  uint8_t data[];
} ice_pkt;

enum { EV_CANDIDATE, EV_GATHERING_DONE, EV_STATE, EV_SELECTED, EV_TCP_CONNECT, EV_TCP_CLOSE };

typedef struct ice_event {
  uint8_t type;
  unsigned stream, component;
  firn_ice_state state;
  firn_candidate a, b;
  firn_path path;           /* EV_TCP_CONNECT; path.conn also for EV_TCP_CLOSE */
} ice_event;

typedef struct ice_relay ice_relay;

typedef struct ice_turn_server {
  firn_addr addr;
  uint8_t transport;        /* UDP, TCP or TLS */
  int insecure;
  char *username, *password, *server_name, *ca_file, *ca_dir;
} ice_turn_server;

enum { TCP_CONNECTING = 0, TCP_OPEN = 1 };
enum { TCP_ICE = 0, TCP_TURN = 1 };

typedef struct ice_tcp_conn {
  uint32_t id;
  uint8_t state;            /* TCP_* */
  uint8_t kind;             /* TCP_ICE, TCP_TURN */
  uint8_t accepted;         /* opened by the peer (passive candidate) */
  uint8_t authed;           /* outgoing, or its first frame was an authenticated check */
  unsigned stream;
  ice_local *local;         /* ICE: the TCP host candidate (active or passive) */
  ice_relay *relay;         /* TURN: the allocation using it */
  firn_addr remote;
  uint64_t opened_at;
  uint64_t unused_since;    /* ICE: no pair uses it since then, 0 when one does */
  uint8_t hdr[2];           /* RFC 4571 length being read */
  uint8_t hlen;
  uint16_t flen;            /* length of the frame being read */
  uint8_t *rx;              /* partial frame (flen bytes), NULL when none */
  size_t rxlen;
  ice_pkt *pend_head, *pend_tail; /* framed bytes waiting for the connection */
  unsigned npend;
} ice_tcp_conn;

typedef struct ice_gather_req {
  uint64_t id;
  ice_local *base;
  unsigned stream;
  uint8_t active;
} ice_gather_req;

struct firn_agent {
  firn_agent_settings s;
  char *software;
  firn_allocator alloc;
  firn_rng_pool rng;        /* every random draw of the agent and the clients it owns */
  firn_logger log;
  firn_ice_role role;
  uint64_t tiebreaker;
  int remote_lite;
  ice_stream *streams[ICE_MAX_STREAMS];
  unsigned nstreams;
  firn_addr servers[ICE_MAX_SERVERS];
  unsigned nservers;
  ice_turn_server *turns;   /* ICE_MAX_SERVERS entries once a TURN server is added */
  unsigned nturns;
  ice_relay **relays;
  unsigned nrelay, caprelay;
  firn_stun_client *gather;
  ice_gather_req *greq;
  unsigned ngreq, capgreq;
  uint64_t last_check;      /* last new check sent (pacing), 0 = none yet */
  uint8_t any_check;
  unsigned rr;              /* round-robin cursor over streams */
  ice_tcp_conn **tcp;
  unsigned ntcp, captcp;
  uint32_t next_conn;
  ice_pkt *out_head, *out_tail;
  unsigned nout;
  ice_event *ev;
  unsigned nev, capev;
  unsigned depth;
  uint8_t destroyed;
  uint8_t closed;
  uint8_t dispatching;
  uint64_t now;
  firn_agent_stats stats;
};

#define ICE_LOG(ag, lvl, ...) firn_log(&(ag)->log, (lvl), "ice", __VA_ARGS__)

/* agent.c */
void firn_ice_enter(firn_agent *ag, uint64_t now);
int firn_ice_leave(firn_agent *ag, int rc);
ice_stream *firn_ice_stream(const firn_agent *ag, unsigned id);
int firn_ice_queue_event(firn_agent *ag, const ice_event *ev);
void firn_ice_event_candidate(firn_agent *ag, unsigned stream, const firn_candidate *c);
void firn_ice_set_state(firn_agent *ag, ice_stream *st, firn_ice_state state);
int firn_ice_send(firn_agent *ag, const firn_addr *local, const firn_addr *remote, uint8_t transport,
                  uint32_t conn, const uint8_t *data, size_t len);
int firn_ice_outbox(firn_agent *ag, const firn_path *path, const uint8_t *hdr, size_t hlen, const uint8_t *data,
                    size_t len);
void firn_ice_input(firn_agent *ag, ice_stream *st, ice_local *base, const firn_path *path, const uint8_t *data,
                    size_t len);
void firn_ice_run_timers(firn_agent *ag, uint64_t now);
void firn_ice_update_state(firn_agent *ag, ice_stream *st);
int firn_ice_grow(firn_agent *ag, void **arr, unsigned *cap, unsigned need, size_t elem);
char *firn_ice_strdup(firn_agent *ag, const char *s, size_t len);
int firn_ice_random_creds(firn_agent *ag, char *ufrag, char *pwd);
int firn_ice_random(firn_agent *ag, void *buf, size_t len);
int firn_ice_random_fn(void *user, uint8_t *buf, size_t len);
int firn_ice_random_uniform(firn_agent *ag, uint32_t bound, uint32_t *out);
int firn_ice_set_creds(firn_agent *ag, char **ufrag_slot, char **pwd_slot, firn_stun_key **key_slot,
                       const char *ufrag, const char *pwd);

/* gather.c */
int firn_ice_add_host(firn_agent *ag, ice_stream *st, unsigned component, const firn_local_address *la);
int firn_ice_gather_start(firn_agent *ag, uint64_t now);
int firn_ice_gather_client(firn_agent *ag);
void firn_ice_gather_check_done(firn_agent *ag, ice_stream *st);
void firn_ice_add_srflx(firn_agent *ag, ice_stream *st, ice_local *base, const firn_addr *mapped,
                        const firn_addr *server);
ice_local *firn_ice_find_base(const firn_agent *ag, const firn_addr *local, uint8_t transport,
                              ice_stream **st_out);
ice_local *firn_ice_add_local(firn_agent *ag, ice_stream *st, const firn_candidate *c, ice_local *base,
                              int report);
void firn_ice_free_locals(firn_agent *ag, ice_stream *st);
void firn_ice_foundation(char out[FIRN_ICE_FOUNDATION_MAX], uint8_t type, const firn_addr *base,
                         const firn_addr *server, uint8_t transport);

/* checklist.c */
uint64_t firn_ice_pair_priority(const firn_agent *ag, const ice_pair *p);
void firn_ice_sort_pairs(firn_agent *ag, ice_stream *st);
int firn_ice_add_remote(firn_agent *ag, ice_stream *st, const firn_candidate *c, int learned,
                        ice_remote **out);
ice_pair *firn_ice_add_pair(firn_agent *ag, ice_stream *st, ice_local *l, ice_remote *r);
void firn_ice_pair_local(firn_agent *ag, ice_stream *st, ice_local *l);
ice_pair *firn_ice_find_pair(const ice_stream *st, const ice_local *base, const firn_addr *remote,
                             uint8_t transport, int legacy);
void firn_ice_remove_pair(firn_agent *ag, ice_stream *st, ice_pair *p);
int firn_ice_trigger(firn_agent *ag, ice_stream *st, ice_pair *p);
void firn_ice_pace(firn_agent *ag, uint64_t now);
int firn_ice_has_check_work(const firn_agent *ag);
void firn_ice_unfreeze_foundation(firn_agent *ag, const ice_pair *p);
void firn_ice_consider_nomination(firn_agent *ag, ice_stream *st, unsigned component, uint64_t now);
uint64_t firn_ice_nomination_deadline(const firn_agent *ag, const ice_stream *st, unsigned component);
void firn_ice_select(firn_agent *ag, ice_stream *st, ice_pair *p, uint64_t now);
void firn_ice_free_checklist(firn_agent *ag, ice_stream *st, int keep_legacy);
int firn_ice_stream_can_check(const firn_agent *ag, const ice_stream *st);

/* conncheck.c */
int firn_ice_send_check(firn_agent *ag, ice_stream *st, ice_pair *p, uint64_t now);
void firn_ice_check_timers(firn_agent *ag, ice_stream *st, uint64_t now);
uint64_t firn_ice_check_expiry(const ice_stream *st);
void firn_ice_handle_stun(firn_agent *ag, ice_stream *st, ice_local *base, const firn_path *path,
                          const uint8_t *data, size_t len, uint64_t now);
void firn_ice_handle_bad_stun(firn_agent *ag, ice_local *base, const firn_path *path,
                              const uint8_t *data, size_t len);
void firn_ice_switch_role(firn_agent *ag, firn_ice_role role);
int firn_ice_new_tid(firn_agent *ag, uint8_t tid[FIRN_STUN_TID_SIZE]);
uint32_t firn_ice_prflx_priority(const ice_local *l, uint16_t component);

void firn_ice_pair_failed(firn_agent *ag, ice_stream *st, ice_pair *p);

/* tcp.c */
int firn_ice_tcp_add_host(firn_agent *ag, ice_stream *st, unsigned component, const firn_local_address *la,
                          unsigned cls, unsigned rank, int vpn);
ice_tcp_conn *firn_ice_tcp_find(const firn_agent *ag, uint32_t id);
int firn_ice_tcp_prepare(firn_agent *ag, ice_stream *st, ice_pair *p);
int firn_ice_tcp_send(firn_agent *ag, uint32_t conn, const firn_addr *local, const firn_addr *remote,
                      const uint8_t *data, size_t len);
ice_tcp_conn *firn_ice_tcp_new(firn_agent *ag, uint8_t kind, const firn_addr *local, const firn_addr *remote,
                               int request);
void firn_ice_tcp_close(firn_agent *ag, ice_tcp_conn *c, int tell_runtime);
void firn_ice_tcp_timers(firn_agent *ag, uint64_t now);
uint64_t firn_ice_tcp_expiry(const firn_agent *ag);
void firn_ice_tcp_close_all(firn_agent *ag, int tell_runtime);
int firn_ice_pairable_tcp(const ice_local *l, const ice_remote *r);

/* relay.c */
int firn_ice_relay_add_server(firn_agent *ag, const firn_ice_server *srv);
void firn_ice_relay_gather(firn_agent *ag, ice_stream *st, uint64_t now);
int firn_ice_relay_pending(const firn_agent *ag, const ice_stream *st);
ice_relay *firn_ice_relay_of(const firn_agent *ag, const firn_addr *relayed);
int firn_ice_relay_send(firn_agent *ag, ice_relay *r, const firn_addr *peer, const uint8_t *data, size_t len);
firn_ssize firn_ice_relay_write(firn_agent *ag, ice_relay *r, const firn_addr *peer, const uint8_t *data,
                                size_t len, uint8_t *out, size_t cap, firn_path *path);
void firn_ice_relay_selected(firn_agent *ag, const ice_pair *p);
int firn_ice_relay_datagram(firn_agent *ag, const firn_path *path, const uint8_t *data, size_t len);
firn_ssize firn_ice_relay_poll(firn_agent *ag, uint64_t now, uint8_t *buf, size_t cap, firn_path *path);
uint64_t firn_ice_relay_expiry(const firn_agent *ag);
void firn_ice_relay_timers(firn_agent *ag, uint64_t now);
void firn_ice_relay_close_all(firn_agent *ag, uint64_t now);
void firn_ice_relay_free_all(firn_agent *ag);
void firn_ice_relay_conn_connected(firn_agent *ag, ice_tcp_conn *c, int ok, uint64_t now);
void firn_ice_relay_conn_bytes(firn_agent *ag, ice_tcp_conn *c, const uint8_t *data, size_t len, uint64_t now);
void firn_ice_relay_conn_closed(firn_agent *ag, ice_relay *r, uint64_t now);

/* consent.c */
void firn_ice_consent_start(firn_agent *ag, ice_pair *p, uint64_t now);
void firn_ice_consent_timers(firn_agent *ag, ice_stream *st, uint64_t now);
uint64_t firn_ice_consent_expiry(const firn_agent *ag, const ice_stream *st);
int firn_ice_consent_response(firn_agent *ag, ice_stream *st, const firn_stun_msg *msg,
                              const firn_path *path, uint64_t now);
void firn_ice_restart_finish(firn_agent *ag, ice_stream *st);

#endif
