/* Internals shared by the simulator's files (tests/sim only). */
#ifndef FIRN_TESTS_SIM_INTERNAL_H
#define FIRN_TESTS_SIM_INTERNAL_H

#include <stdbool.h>

#include "common/timerq.h"
#include "sim.h"

#define SIM_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Largest UDP payload (IPv4 limit). */
#define SIM_MAX_UDP 65507u
#define SIM_EPHEMERAL_MIN 49152u

/* Event kinds in the one queue. */
enum sim_event_kind {
  SIM_EV_PACKET = 1, /* a packet reaches the end of a link */
  SIM_EV_TIMER,      /* a test timer (sim_timer) */
  SIM_EV_ONESHOT,    /* sim_at() */
  SIM_EV_TCP_FLUSH,  /* a connection transmits what it buffered */
  SIM_EV_TCP_TIMER   /* connect timeout or abort */
};

typedef struct sim_event {
  firn_timer timer;
  uint8_t kind;
} sim_event;

/* TCP segment kinds. */
enum sim_tcp_kind { SIM_TCP_SYN = 1, SIM_TCP_SYNACK, SIM_TCP_DATA, SIM_TCP_FIN, SIM_TCP_RST };

typedef struct sim_pkt {
  sim_event ev;
  struct sim_pkt *prev, *next; /* in-flight list, for sim_free */
  uint64_t id;                 /* for traces: copies keep the original's id */
  sim_iface *iface;            /* link being crossed */
  uint8_t dir;                 /* SIM_UP: arriving on the segment; SIM_DOWN: at the node */
  uint8_t proto;               /* FIRN_TRANSPORT_UDP or FIRN_TRANSPORT_TCP */
  uint8_t tcp_kind;            /* enum sim_tcp_kind */
  uint64_t conn_id;            /* TCP: the sending connection (simulator bookkeeping only) */
  firn_addr src, dst;
  size_t len;
  uint8_t data[];
} sim_pkt;

typedef struct sim_linkstate {
  sim_link cfg;
  size_t inflight;
  uint64_t last_arrival; /* FIFO clamp */
} sim_linkstate;

enum sim_owner_kind { SIM_OWNER_HOST = 1, SIM_OWNER_NAT_INSIDE, SIM_OWNER_NAT_OUTSIDE };

struct sim_iface {
  sim_net *s;
  sim_segment *seg;
  uint8_t owner_kind;
  sim_host *host;
  sim_nat *nat;
  firn_addr addr;
  char name[16];  /* "eth0", "wg0", ... (what a runtime would report) */
  uint32_t index; /* 1-based per node */
  sim_linkstate up, down;
  struct sim_iface *seg_next; /* segment's list */
  struct sim_iface *node_next; /* host's list */
};

struct sim_segment {
  sim_net *s;
  char *name;
  sim_iface *ifaces;
  sim_nat *gateway[2]; /* per family: [0] IPv4, [1] IPv6 */
  struct sim_segment *next;
};

struct sim_udp {
  sim_host *host;
  firn_addr local;
  sim_udp_recv_fn cb;
  void *user;
  struct sim_udp *next;
};

struct sim_tcp_listener {
  sim_host *host;
  firn_addr local;
  sim_tcp_accept_fn cb;
  void *user;
  struct sim_tcp_listener *next;
};

enum sim_tcp_state { SIM_TCP_SYN_SENT = 1, SIM_TCP_ESTABLISHED, SIM_TCP_CLOSED };

typedef struct sim_tcp_event {
  sim_event ev;
  sim_tcp *conn;
} sim_tcp_event;

struct sim_tcp {
  sim_host *host;
  uint64_t id;
  firn_addr local, remote;
  int state;
  sim_tcp_callbacks cb;
  void *user;
  uint8_t *buf;
  size_t buf_len, buf_cap;
  sim_tcp_event flush;
  sim_tcp_event timer; /* SYN retransmission and connect timeout, then abort */
  uint64_t syn_deadline; /* connect gives up at this time */
  uint64_t syn_rto;      /* next SYN retransmission interval (1 s, doubling) */
  struct sim_tcp *prev, *next;
};

struct sim_host {
  sim_net *s;
  char *name;
  sim_iface *ifaces;
  size_t n_ifaces;
  sim_udp *udps;
  sim_tcp_listener *listeners;
  sim_tcp *conns;
  uint16_t next_port;
  struct sim_host *next;
};

typedef struct sim_nat_perm {
  firn_addr remote; /* address and port the inside endpoint sent to */
  uint64_t last;
} sim_nat_perm;

typedef struct sim_nat_mapping {
  uint8_t proto;
  firn_addr internal; /* inside address and port */
  firn_addr remote;   /* first destination: the key for AD/APD mapping */
  uint16_t ext_port;
  uint64_t last;      /* last refresh */
  sim_nat_perm *perms;
  size_t n_perms, cap_perms;
} sim_nat_mapping;

struct sim_nat {
  sim_net *s;
  char *name;
  sim_nat_config cfg;
  sim_iface *inside, *outside;
  sim_nat_mapping *maps;
  size_t n_maps, cap_maps;
  uint32_t next_port;
  struct sim_nat *prev, *next;
};

struct sim_timer {
  sim_event ev;
  sim_net *s;
  sim_timer_fn cb;
  void *user;
  struct sim_timer *prev, *next;
};

typedef struct sim_oneshot {
  sim_event ev;
  sim_timer_fn cb;
  void *user;
  struct sim_oneshot *prev, *next;
} sim_oneshot;

/* Objects freed by sim_free() that the core does not know (the STUN server). */
typedef struct sim_cleanup {
  void (*fn)(struct sim_cleanup *c);
  struct sim_cleanup *prev, *next;
} sim_cleanup;

struct sim_net {
  sim_settings set;
  uint64_t seed;
  uint64_t now;
  sim_rng rng;
  firn_timerq q;
  size_t packets;        /* in flight */
  uint64_t next_pkt_id;
  uint64_t next_conn_id;
  int trace_stderr;
  int in_free;
  int in_dispatch; /* an event's callback is running: no nested runs */
  sim_stats stats;
  sim_segment *segments;
  sim_host *hosts;
  sim_nat *nats;
  sim_pkt *pkts;
  sim_timer *timers;
  sim_oneshot *oneshots;
  sim_cleanup *cleanups;
};

/* sim.c */
bool sim_tracing(const sim_net *s);
int sim_schedule(sim_net *s, sim_event *ev, uint64_t when);
void sim_unschedule(sim_net *s, sim_event *ev);
double sim_rng_unit(sim_rng *r);
void sim_cleanup_add(sim_net *s, sim_cleanup *c);
void sim_cleanup_remove(sim_net *s, sim_cleanup *c);

/* sim_net.c: packets and routing */
sim_pkt *sim_pkt_new(sim_net *s, uint8_t proto, const firn_addr *src, const firn_addr *dst,
                     const void *data, size_t len);
void sim_pkt_free(sim_net *s, sim_pkt *p);
/* Put `p` on `iface`'s link in direction `dir` now (takes ownership). */
void sim_link_send(sim_net *s, sim_iface *iface, sim_dir dir, sim_pkt *p);
/* Drop with a reason for stats/trace (takes ownership). */
void sim_drop(sim_net *s, sim_pkt *p, uint64_t *counter, const char *why);
void sim_packet_arrive(sim_net *s, sim_pkt *p);
/* Source interface for sending from `from` on host `h` (ANY: first of the family). */
sim_iface *sim_host_iface_for(sim_host *h, const firn_addr *from);
int sim_host_alloc_port(sim_host *h, uint8_t proto, const firn_addr *addr, uint16_t *port);
bool sim_host_port_used(sim_host *h, uint8_t proto, const firn_addr *addr, uint16_t port);
void sim_host_free(sim_host *h);
void sim_segment_free(sim_segment *seg);
void sim_pkt_trace(sim_net *s, const char *what, const sim_pkt *p, const char *extra);
const char *sim_iface_owner(const sim_iface *i);

/* sim_nat.c */
static inline int sim_family_index(uint8_t family) { return family == FIRN_AF_INET6 ? 1 : 0; }
/* NAT interfaces (created in sim_net.c, owned by the NAT). */
sim_iface *sim_nat_iface_new(sim_net *s, sim_segment *seg, const char *addr, int *err);
void sim_nat_iface_free(sim_iface *i);
void sim_nat_receive(sim_net *s, sim_iface *iface, sim_pkt *p);
void sim_nat_free(sim_nat *n);

/* sim_tcp.c */
void sim_tcp_receive(sim_net *s, sim_host *h, sim_iface *iface, sim_pkt *p);
void sim_tcp_on_event(sim_net *s, sim_event *ev);
void sim_tcp_packet_lost(sim_net *s, const sim_pkt *p);
void sim_tcp_host_free(sim_host *h);

#endif
