/* NAT boxes per RFC 4787: the mapping x filtering matrix, port preservation and allocation,
 * mapping timeouts and refresh, hairpinning, nesting, table bounds. */
#include "sim_test.h"

#include <stdbool.h>
#include <stdlib.h>

#define MS FIRN_NS_PER_MS
#define SEC FIRN_NS_PER_S

/*   X 192.168.1.10, Y 192.168.1.20 --lan-- NAT 192.168.1.1 | 198.51.100.1 --wan--
 *   S1 203.0.113.1 (ports 3478 and 3479), S2 203.0.113.2 (port 3478) */
typedef struct world {
  sim_net *s;
  sim_segment *lan, *wan;
  sim_nat *nat;
  sim_host *x, *y, *s1, *s2;
  sim_udp *ux, *uy, *s1a, *s1b, *s2a;
  sim_recorder *rx, *ry, *r1a, *r1b, *r2a;
  firn_addr ax, ay, a1a, a1b, a2a;
} world;

static void world_new(world *w, const sim_nat_config *cfg, uint64_t seed) {
  memset(w, 0, sizeof *w);
  sim_settings st;
  sim_settings_default(&st);
  st.seed = seed;
  assert_int_equal(sim_new(&w->s, &st), FIRN_OK);
  assert_int_equal(sim_segment_new(w->s, "lan", &w->lan), FIRN_OK);
  assert_int_equal(sim_segment_new(w->s, "wan", &w->wan), FIRN_OK);
  assert_int_equal(sim_nat_new(w->s, "nat", cfg, w->lan, "192.168.1.1", w->wan, "198.51.100.1",
                               &w->nat), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "X", &w->x), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "Y", &w->y), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "S1", &w->s1), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "S2", &w->s2), FIRN_OK);
  assert_int_equal(sim_host_add_iface(w->x, w->lan, "192.168.1.10", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(w->y, w->lan, "192.168.1.20", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(w->s1, w->wan, "203.0.113.1", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(w->s2, w->wan, "203.0.113.2", NULL), FIRN_OK);
  w->ax = sim_addr("192.168.1.10:5000");
  w->ay = sim_addr("192.168.1.20:5000");
  w->a1a = sim_addr("203.0.113.1:3478");
  w->a1b = sim_addr("203.0.113.1:3479");
  w->a2a = sim_addr("203.0.113.2:3478");
  w->rx = sim_recorder_new();
  w->ry = sim_recorder_new();
  w->r1a = sim_recorder_new();
  w->r1b = sim_recorder_new();
  w->r2a = sim_recorder_new();
  assert_int_equal(sim_udp_open(w->x, &w->ax, sim_recorder_cb, w->rx, &w->ux), FIRN_OK);
  assert_int_equal(sim_udp_open(w->y, &w->ay, sim_recorder_cb, w->ry, &w->uy), FIRN_OK);
  assert_int_equal(sim_udp_open(w->s1, &w->a1a, sim_recorder_cb, w->r1a, &w->s1a), FIRN_OK);
  assert_int_equal(sim_udp_open(w->s1, &w->a1b, sim_recorder_cb, w->r1b, &w->s1b), FIRN_OK);
  assert_int_equal(sim_udp_open(w->s2, &w->a2a, sim_recorder_cb, w->r2a, &w->s2a), FIRN_OK);
}

static void world_free(world *w) {
  sim_free(w->s);
  test_free(w->rx);
  test_free(w->ry);
  test_free(w->r1a);
  test_free(w->r1b);
  test_free(w->r2a);
}

static void tx(sim_udp *u, const firn_addr *to) {
  assert_int_equal(sim_udp_send(u, to, "ping", 4), FIRN_OK);
}

static void settle(world *w) {
  assert_int_equal(sim_run_until(w->s, NULL, NULL, FIRN_TIME_NEVER), SIM_IDLE);
}

static const firn_addr *last_from(const sim_recorder *r) {
  assert_true(r->n > 0);
  return &r->rx[r->n - 1].remote;
}

static const char *bname(sim_nat_behavior b) {
  return b == SIM_NAT_EI ? "EI" : b == SIM_NAT_AD ? "AD" : "APD";
}

/* The 3x3 matrix of RFC 4787 mapping (section 4.1) and filtering (section 5) behaviours. */
static void test_mapping_filtering_matrix(void **state) {
  (void)state;
  for (int m = SIM_NAT_EI; m <= SIM_NAT_APD; m++) {
    for (int f = SIM_NAT_EI; f <= SIM_NAT_APD; f++) {
      print_message("mapping %s, filtering %s\n", bname((sim_nat_behavior)m),
                    bname((sim_nat_behavior)f));
      sim_nat_config cfg;
      sim_nat_config_default(&cfg);
      cfg.mapping = (sim_nat_behavior)m;
      cfg.filtering = (sim_nat_behavior)f;

      /* Mapping: X sends from one port to S1:3478, S1:3479 and S2:3478. */
      world w;
      world_new(&w, &cfg, 11);
      tx(w.ux, &w.a1a);
      tx(w.ux, &w.a1b);
      tx(w.ux, &w.a2a);
      settle(&w);
      SIM_ASSERT_EQ(w.s, w.r1a->n + w.r1b->n + w.r2a->n, 3);
      firn_addr e1a = *last_from(w.r1a), e1b = *last_from(w.r1b), e2a = *last_from(w.r2a);
      firn_addr pub = sim_addr("198.51.100.1");
      SIM_ASSERT(w.s, firn_addr_equal_ip(&e1a, &pub) && firn_addr_equal_ip(&e2a, &pub));
      SIM_ASSERT(w.s, firn_addr_equal_ip(&e1b, &pub));
      SIM_ASSERT_EQ(w.s, e1a.port, 5000); /* port preservation for the first mapping */
      bool same_s1_ports = firn_addr_equal(&e1a, &e1b), same_s1_s2 = firn_addr_equal(&e1a, &e2a);
      SIM_ASSERT_EQ(w.s, same_s1_ports, m != SIM_NAT_APD);
      SIM_ASSERT_EQ(w.s, same_s1_s2, m == SIM_NAT_EI);
      SIM_ASSERT_EQ(w.s, sim_nat_mapping_count(w.nat), m == SIM_NAT_EI ? 1 : m == SIM_NAT_AD ? 2 : 3);
      world_free(&w);

      /* Filtering: X sends to S1:3478 only; then S1:3478, S1:3479 and S2:3478 send to the
       * mapping S1:3478 saw. */
      world_new(&w, &cfg, 12);
      tx(w.ux, &w.a1a);
      settle(&w);
      firn_addr ext = *last_from(w.r1a);
      tx(w.s1a, &ext);
      settle(&w);
      SIM_ASSERT_EQ(w.s, w.rx->n, 1); /* the reply always passes */
      SIM_ASSERT(w.s, firn_addr_equal(&w.rx->rx[0].remote, &w.a1a));
      SIM_ASSERT(w.s, firn_addr_equal(&w.rx->rx[0].local, &w.ax));
      tx(w.s1b, &ext); /* same address, other port */
      settle(&w);
      SIM_ASSERT_EQ(w.s, w.rx->n, f != SIM_NAT_APD ? 2 : 1);
      tx(w.s2a, &ext); /* other address */
      settle(&w);
      SIM_ASSERT_EQ(w.s, w.rx->n, (f != SIM_NAT_APD ? 2u : 1u) + (f == SIM_NAT_EI ? 1u : 0u));
      sim_stats st;
      sim_get_stats(w.s, &st);
      SIM_ASSERT_EQ(w.s, st.drop_nat_filter, f == SIM_NAT_EI ? 0 : f == SIM_NAT_AD ? 1 : 2);
      /* Once X has sent to S2, S2 gets in under every filtering behaviour (for AD/APD mapping
       * that is a new mapping, so S2 answers the address it saw). */
      tx(w.ux, &w.a2a);
      settle(&w);
      firn_addr ext2 = *last_from(w.r2a);
      size_t before = w.rx->n;
      tx(w.s2a, &ext2);
      settle(&w);
      SIM_ASSERT_EQ(w.s, w.rx->n, before + 1);
      /* An unknown external port never gets in. */
      firn_addr bogus = ext;
      bogus.port = (uint16_t)(ext.port + 1000);
      tx(w.s1a, &bogus);
      settle(&w);
      SIM_ASSERT_EQ(w.s, w.rx->n, before + 1);
      sim_get_stats(w.s, &st);
      SIM_ASSERT_EQ(w.s, st.drop_nat_mapping, 1);
      world_free(&w);
    }
  }
}

/* Port allocation: preservation, collisions, sequential and seeded random ports. */
static void test_port_allocation(void **state) {
  (void)state;
  sim_nat_config cfg;
  sim_nat_config_default(&cfg);
  world w;
  world_new(&w, &cfg, 1);
  tx(w.ux, &w.a1a);
  tx(w.uy, &w.a1a); /* Y uses the same internal port: it cannot keep it */
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.r1a->n, 2);
  SIM_ASSERT_EQ(w.s, w.r1a->rx[0].remote.port, 5000);
  SIM_ASSERT(w.s, w.r1a->rx[1].remote.port != 5000);
  world_free(&w);

  /* No preservation, sequential ports from port_min. */
  cfg.port_preservation = 0;
  cfg.port_min = 40000;
  cfg.port_max = 40001;
  cfg.max_mappings = 8;
  world_new(&w, &cfg, 1);
  tx(w.ux, &w.a1a);
  tx(w.uy, &w.a1a);
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.r1a->rx[0].remote.port, 40000);
  SIM_ASSERT_EQ(w.s, w.r1a->rx[1].remote.port, 40001);
  /* The port range is exhausted: a third mapping cannot be made. */
  sim_udp *u2;
  firn_addr ax2 = sim_addr("192.168.1.10:5001");
  assert_int_equal(sim_udp_open(w.x, &ax2, NULL, NULL, &u2), FIRN_OK);
  tx(u2, &w.a1a);
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.r1a->n, 2);
  sim_stats st;
  sim_get_stats(w.s, &st);
  SIM_ASSERT_EQ(w.s, st.drop_nat_mapping, 1);
  world_free(&w);

  /* Symmetric: random ports in range, a new one per destination, same for the same seed. */
  uint16_t first[2][3];
  for (int run = 0; run < 2; run++) {
    sim_nat_config_symmetric(&cfg);
    world_new(&w, &cfg, 99);
    tx(w.ux, &w.a1a);
    tx(w.ux, &w.a1b);
    tx(w.ux, &w.a2a);
    settle(&w);
    first[run][0] = w.r1a->rx[0].remote.port;
    first[run][1] = w.r1b->rx[0].remote.port;
    first[run][2] = w.r2a->rx[0].remote.port;
    for (int i = 0; i < 3; i++) SIM_ASSERT(w.s, first[run][i] >= 1024); /* any, even 5000 */
    SIM_ASSERT(w.s, first[run][0] != first[run][1] && first[run][1] != first[run][2]);
    world_free(&w);
  }
  assert_memory_equal(first[0], first[1], sizeof first[0]);
}

/* Mapping lifetime: expiry exactly at the timeout, outbound refresh, optional inbound refresh,
 * a new mapping after expiry, and a NAT reboot. */
typedef struct sender {
  sim_udp *u;
  firn_addr to;
} sender;

static void send_at(void *user, uint64_t now) {
  (void)now;
  sender *sd = user;
  tx(sd->u, &sd->to);
}

static void test_mapping_timeout(void **state) {
  (void)state;
  for (int inbound_refresh = 0; inbound_refresh <= 1; inbound_refresh++) {
    sim_nat_config cfg;
    sim_nat_config_default(&cfg);
    cfg.udp_timeout_ns = 30 * SEC;
    cfg.inbound_refresh = inbound_refresh;
    world w;
    world_new(&w, &cfg, 3);
    tx(w.ux, &w.a1a); /* mapping made at t=0 */
    settle(&w);
    sender back = {w.s1a, *last_from(w.r1a)};
    assert_int_equal(sim_at(w.s, 29 * SEC, send_at, &back), FIRN_OK);
    assert_int_equal(sim_at(w.s, 45 * SEC, send_at, &back), FIRN_OK);
    settle(&w);
    /* 29 s passes; 45 s passes only if the 29 s packet refreshed the mapping. */
    SIM_ASSERT_EQ(w.s, w.rx->n, inbound_refresh ? 2 : 1);
    SIM_ASSERT_EQ(w.s, sim_now(w.s), 45 * SEC);
    SIM_ASSERT_EQ(w.s, sim_nat_mapping_count(w.nat), inbound_refresh ? 1 : 0);
    world_free(&w);
  }

  sim_nat_config cfg;
  sim_nat_config_default(&cfg);
  cfg.udp_timeout_ns = 30 * SEC;
  world w;
  world_new(&w, &cfg, 3);
  /* Keepalives every 20 s hold the mapping; the reply at 95 s gets in. */
  sender ka = {w.ux, w.a1a};
  for (int i = 0; i <= 4; i++) assert_int_equal(sim_at(w.s, (uint64_t)i * 20 * SEC, send_at, &ka), FIRN_OK);
  sim_run_until(w.s, NULL, NULL, 81 * SEC);
  sender back = {w.s1a, *last_from(w.r1a)};
  assert_int_equal(sim_at(w.s, 95 * SEC, send_at, &back), FIRN_OK);
  /* Exactly at the timeout after the last keepalive (80 s) the mapping is gone. */
  assert_int_equal(sim_at(w.s, 110 * SEC, send_at, &back), FIRN_OK);
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.rx->n, 1);
  SIM_ASSERT_EQ(w.s, w.rx->rx[0].at, 95 * SEC);
  /* A fresh outbound packet makes a new mapping (same port, preserved). */
  tx(w.ux, &w.a1a);
  settle(&w);
  SIM_ASSERT_EQ(w.s, last_from(w.r1a)->port, 5000);
  SIM_ASSERT_EQ(w.s, sim_nat_mapping_count(w.nat), 1);
  /* Reboot: everything forgotten. */
  sim_nat_flush(w.nat);
  SIM_ASSERT_EQ(w.s, sim_nat_mapping_count(w.nat), 0);
  tx(w.s1a, &back.to);
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.rx->n, 1);
  world_free(&w);
}

/* Hairpinning (RFC 4787 REQ-9): X reaches Y through the NAT's external address and Y sees
 * X's external address as the source; with hairpinning off, nothing arrives. */
static void test_hairpinning(void **state) {
  (void)state;
  for (int hp = 0; hp <= 1; hp++) {
    sim_nat_config cfg;
    sim_nat_config_default(&cfg);
    cfg.hairpinning = hp;
    cfg.filtering = SIM_NAT_AD;
    world w;
    world_new(&w, &cfg, 4);
    tx(w.ux, &w.a1a);
    tx(w.uy, &w.a1a);
    settle(&w);
    firn_addr ext_x = w.r1a->rx[0].remote, ext_y = w.r1a->rx[1].remote;
    /* Y's mapping filters by address: X's hairpinned packet (source 198.51.100.1) is refused
     * until Y has sent to X's external address. */
    tx(w.ux, &ext_y);
    settle(&w);
    SIM_ASSERT_EQ(w.s, w.ry->n, 0);
    tx(w.uy, &ext_x); /* opens Y's filter for 198.51.100.1, and reaches X if hairpinning */
    settle(&w);
    tx(w.ux, &ext_y);
    settle(&w);
    sim_stats st;
    sim_get_stats(w.s, &st);
    if (hp) {
      SIM_ASSERT_EQ(w.s, w.ry->n, 1);
      SIM_ASSERT(w.s, firn_addr_equal(&w.ry->rx[0].remote, &ext_x)); /* not 192.168.1.10 */
      SIM_ASSERT(w.s, firn_addr_equal(&w.ry->rx[0].local, &w.ay));
      SIM_ASSERT_EQ(w.s, w.rx->n, 1);
      SIM_ASSERT(w.s, firn_addr_equal(&w.rx->rx[0].remote, &ext_y));
      SIM_ASSERT_EQ(w.s, st.drop_nat_filter, 1);
    } else {
      SIM_ASSERT_EQ(w.s, w.ry->n + w.rx->n, 0);
      SIM_ASSERT_EQ(w.s, st.drop_unroutable, 3);
    }
    world_free(&w);
  }
}

/* Nested NAT (a home router behind a carrier-grade NAT): the server sees the outer address,
 * replies come back through both, and two homes reach each other by hairpinning at the CGN. */
static void test_nested_nat(void **state) {
  (void)state;
  sim_net *s;
  assert_int_equal(sim_new(&s, NULL), FIRN_OK);
  sim_segment *home1, *home2, *isp, *wan;
  assert_int_equal(sim_segment_new(s, "home1", &home1), FIRN_OK);
  assert_int_equal(sim_segment_new(s, "home2", &home2), FIRN_OK);
  assert_int_equal(sim_segment_new(s, "isp", &isp), FIRN_OK);
  assert_int_equal(sim_segment_new(s, "wan", &wan), FIRN_OK);
  sim_nat_config eim;
  sim_nat_config_default(&eim);
  eim.filtering = SIM_NAT_EI;
  sim_nat *cgn, *r1, *r2;
  assert_int_equal(sim_nat_new(s, "cgn", &eim, isp, "100.64.0.1", wan, "198.51.100.1", &cgn), FIRN_OK);
  /* Both homes use the same private range, as real ones do. */
  assert_int_equal(sim_nat_new(s, "r1", &eim, home1, "192.168.1.1", isp, "100.64.0.2", &r1), FIRN_OK);
  assert_int_equal(sim_nat_new(s, "r2", &eim, home2, "192.168.1.1", isp, "100.64.0.3", &r2), FIRN_OK);
  sim_nat *again;
  assert_int_equal(sim_nat_new(s, "r3", &eim, home1, "192.168.1.254", isp, "100.64.0.4", &again),
                   FIRN_ERR_STATE); /* home1 already has a gateway */
  sim_host *x, *z, *srv;
  assert_int_equal(sim_host_new(s, "X", &x), FIRN_OK);
  assert_int_equal(sim_host_new(s, "Z", &z), FIRN_OK);
  assert_int_equal(sim_host_new(s, "S", &srv), FIRN_OK);
  assert_int_equal(sim_host_add_iface(x, home1, "192.168.1.10", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(z, home2, "192.168.1.10", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(srv, wan, "203.0.113.1", NULL), FIRN_OK);
  sim_link slow;
  sim_link_default(&slow);
  slow.delay_ns = 7 * MS;
  sim_iface_set_link(sim_nat_outside(cgn), SIM_BOTH, &slow); /* the CGN's uplink */
  sim_recorder *rx = sim_recorder_new(), *rz = sim_recorder_new(), *rs = sim_recorder_new();
  sim_udp *ux, *uz, *us;
  firn_addr ax = sim_addr("192.168.1.10:6000"), as = sim_addr("203.0.113.1:3478");
  assert_int_equal(sim_udp_open(x, &ax, sim_recorder_cb, rx, &ux), FIRN_OK);
  assert_int_equal(sim_udp_open(z, &ax, sim_recorder_cb, rz, &uz), FIRN_OK);
  assert_int_equal(sim_udp_open(srv, &as, sim_recorder_cb, rs, &us), FIRN_OK);

  assert_int_equal(sim_udp_send(ux, &as, "x", 1), FIRN_OK);
  assert_int_equal(sim_udp_send(uz, &as, "z", 1), FIRN_OK);
  sim_run_until(s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(s, rs->n, 2);
  firn_addr ext_x = rs->rx[0].remote, ext_z = rs->rx[1].remote;
  char buf[FIRN_ADDR_STRLEN];
  assert_string_equal(sim_addr_str(&ext_x, buf), "198.51.100.1:6000");
  SIM_ASSERT(s, firn_addr_equal_ip(&ext_z, &ext_x) && ext_z.port != 6000);
  SIM_ASSERT_EQ(s, rs->rx[0].at, 7 * MS); /* only the CGN's uplink has a delay */
  SIM_ASSERT_EQ(s, sim_nat_mapping_count(cgn), 2);
  SIM_ASSERT_EQ(s, sim_nat_mapping_count(r1), 1);

  /* Replies traverse both NATs back. */
  assert_int_equal(sim_udp_send(us, &ext_x, "r", 1), FIRN_OK);
  sim_run_until(s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(s, rx->n, 1);
  SIM_ASSERT(s, firn_addr_equal(&rx->rx[0].remote, &as));
  SIM_ASSERT(s, firn_addr_equal(&rx->rx[0].local, &ax));

  /* X -> Z's public mapping: out through r1, hairpinned at the CGN, in through r2. */
  assert_int_equal(sim_udp_send(ux, &ext_z, "xz", 2), FIRN_OK);
  sim_run_until(s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(s, rz->n, 1);
  SIM_ASSERT(s, firn_addr_equal(&rz->rx[0].remote, &ext_x));
  /* A private address from the other home means nothing here: it stays in home1. */
  firn_addr zpriv = sim_addr("192.168.1.10:6000");
  assert_int_equal(sim_udp_send(ux, &zpriv, "loop", 4), FIRN_OK);
  sim_run_until(s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(s, rz->n, 1);
  SIM_ASSERT_EQ(s, rx->n, 2); /* X's own address: delivered to itself */
  test_free(rx);
  test_free(rz);
  test_free(rs);
  sim_free(s);
}

/* Dual stack: IPv4 through a NAT, IPv6 through a stateful firewall on the same LAN. The
 * firewall keeps addresses, lets replies in, filters the unsolicited, forgets after its
 * timeout, and routes the inside prefix from the outside. */
static void test_firewall_dual_stack(void **state) {
  (void)state;
  sim_net *s;
  assert_int_equal(sim_new(&s, NULL), FIRN_OK);
  sim_segment *lan, *wan;
  assert_int_equal(sim_segment_new(s, "lan", &lan), FIRN_OK);
  assert_int_equal(sim_segment_new(s, "wan", &wan), FIRN_OK);
  sim_nat *nat4, *fw6, *dup;
  assert_int_equal(sim_nat_new(s, "nat4", NULL, lan, "192.168.1.1", wan, "198.51.100.1", &nat4), FIRN_OK);
  sim_nat_config fc;
  sim_nat_config_default(&fc);
  fc.translate = 0;
  fc.filtering = SIM_NAT_APD;
  fc.udp_timeout_ns = 30 * SEC;
  assert_int_equal(sim_nat_new(s, "fw6", &fc, lan, "2001:db8:1::1", wan, "2001:db8:ffff::1", &fw6), FIRN_OK);
  assert_int_equal(sim_nat_new(s, "fw6b", &fc, lan, "2001:db8:1::2", wan, "2001:db8:ffff::2", &dup),
                   FIRN_ERR_STATE); /* one IPv6 gateway per segment */
  sim_host *x, *srv, *other;
  assert_int_equal(sim_host_new(s, "X", &x), FIRN_OK);
  assert_int_equal(sim_host_new(s, "S", &srv), FIRN_OK);
  assert_int_equal(sim_host_new(s, "O", &other), FIRN_OK);
  assert_int_equal(sim_host_add_iface(x, lan, "192.168.1.10", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(x, lan, "2001:db8:1::10", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(srv, wan, "203.0.113.1", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(srv, wan, "2001:db8:2::1", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(other, wan, "2001:db8:2::2", NULL), FIRN_OK);
  sim_recorder *rx = sim_recorder_new(), *rs = sim_recorder_new();
  sim_udp *x4, *x6, *s4, *s6, *s6b, *o6;
  firn_addr ax4 = sim_addr("192.168.1.10:5000"), ax6 = sim_addr("[2001:db8:1::10]:5000");
  firn_addr as4 = sim_addr("203.0.113.1:3478"), as6 = sim_addr("[2001:db8:2::1]:3478");
  firn_addr as6b = sim_addr("[2001:db8:2::1]:3479"), ao6 = sim_addr("[2001:db8:2::2]:3478");
  assert_int_equal(sim_udp_open(x, &ax4, sim_recorder_cb, rx, &x4), FIRN_OK);
  assert_int_equal(sim_udp_open(x, &ax6, sim_recorder_cb, rx, &x6), FIRN_OK);
  assert_int_equal(sim_udp_open(srv, &as4, sim_recorder_cb, rs, &s4), FIRN_OK);
  assert_int_equal(sim_udp_open(srv, &as6, sim_recorder_cb, rs, &s6), FIRN_OK);
  assert_int_equal(sim_udp_open(srv, &as6b, NULL, NULL, &s6b), FIRN_OK);
  assert_int_equal(sim_udp_open(other, &ao6, NULL, NULL, &o6), FIRN_OK);

  /* Unsolicited before anything went out: the firewall drops it. */
  sim_udp_send(s6, &ax6, "early", 5);
  sim_udp_send(x4, &as4, "v4", 2);
  sim_udp_send(x6, &as6, "v6", 2);
  sim_run_until(s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(s, rx->n, 0);
  SIM_ASSERT_EQ(s, rs->n, 2);
  char buf[FIRN_ADDR_STRLEN];
  assert_string_equal(sim_addr_str(&rs->rx[0].remote, buf), "198.51.100.1:5000"); /* translated */
  assert_string_equal(sim_addr_str(&rs->rx[1].remote, buf), "[2001:db8:1::10]:5000"); /* not */

  /* Replies pass; another port or another host does not (address-and-port filtering). */
  sim_udp_send(s4, &rs->rx[0].remote, "r4", 2);
  sim_udp_send(s6, &ax6, "r6", 2);
  sim_udp_send(s6b, &ax6, "port", 4);
  sim_udp_send(o6, &ax6, "host", 4);
  firn_addr box = sim_addr("[2001:db8:ffff::1]:22");
  sim_udp_send(o6, &box, "box", 3);
  sim_run_until(s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(s, rx->n, 2);
  SIM_ASSERT(s, firn_addr_equal(&rx->rx[1].remote, &as6) && firn_addr_equal(&rx->rx[1].local, &ax6));
  sim_stats st;
  sim_get_stats(s, &st);
  SIM_ASSERT_EQ(s, st.drop_nat_mapping, 1); /* "early" */
  SIM_ASSERT_EQ(s, st.drop_nat_filter, 2);
  SIM_ASSERT_EQ(s, st.drop_no_socket, 1);   /* the firewall itself */
  SIM_ASSERT_EQ(s, sim_nat_mapping_count(fw6), 1);

  /* 30 s of silence: the state is gone and the server's packet is dropped again. */
  sim_run_for(s, 30 * SEC);
  sim_udp_send(s6, &ax6, "late", 4);
  sim_run_until(s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(s, rx->n, 2);
  SIM_ASSERT_EQ(s, sim_nat_mapping_count(fw6), 0);
  test_free(rx);
  test_free(rs);
  sim_free(s);
}

/* Bounds and odd inputs: the mapping table cap, other address families, the NAT's own box. */
static void test_nat_bounds(void **state) {
  (void)state;
  sim_nat_config cfg;
  sim_nat_config_default(&cfg);
  cfg.mapping = SIM_NAT_APD;
  cfg.max_mappings = 2;
  world w;
  world_new(&w, &cfg, 8);
  tx(w.ux, &w.a1a);
  tx(w.ux, &w.a1b);
  tx(w.ux, &w.a2a); /* third mapping: refused */
  firn_addr box = sim_addr("192.168.1.1:53");
  tx(w.ux, &box);
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.r1a->n + w.r1b->n, 2);
  SIM_ASSERT_EQ(w.s, w.r2a->n, 0);
  sim_stats st;
  sim_get_stats(w.s, &st);
  SIM_ASSERT_EQ(w.s, st.drop_nat_mapping, 1);
  SIM_ASSERT_EQ(w.s, st.drop_no_socket, 1);
  /* IPv6 is not translated by an IPv4 NAT. */
  sim_iface *i6;
  assert_int_equal(sim_host_add_iface(w.x, w.lan, "fd00::10", &i6), FIRN_OK);
  sim_udp *u6;
  firn_addr a6 = sim_addr("[fd00::10]:5000"), far6 = sim_addr("[2001:db8::1]:3478");
  assert_int_equal(sim_udp_open(w.x, &a6, NULL, NULL, &u6), FIRN_OK);
  tx(u6, &far6);
  settle(&w);
  sim_get_stats(w.s, &st);
  SIM_ASSERT_EQ(w.s, st.drop_unroutable, 1);
  /* Bad configurations are refused. */
  sim_nat *n2;
  sim_segment *l2;
  assert_int_equal(sim_segment_new(w.s, "l2", &l2), FIRN_OK);
  cfg.port_min = 0;
  assert_int_equal(sim_nat_new(w.s, "bad", &cfg, l2, "10.0.0.1", w.wan, "198.51.100.2", &n2),
                   FIRN_ERR_INVALID_ARG);
  sim_nat_config_default(&cfg);
  assert_int_equal(sim_nat_new(w.s, "mixed", &cfg, l2, "10.0.0.1", w.wan, "2001:db8::9", &n2),
                   FIRN_ERR_INVALID_ARG);
  assert_int_equal(sim_nat_new(w.s, "taken", &cfg, l2, "10.0.0.1", w.wan, "203.0.113.1", &n2),
                   FIRN_ERR_STATE);
  assert_int_equal(sim_nat_new(w.s, "ok", &cfg, l2, "10.0.0.1", w.wan, "198.51.100.2", &n2), FIRN_OK);
  /* Changing the configuration at run time applies to new packets. */
  sim_nat_config_symmetric(&cfg);
  sim_nat_set_config(w.nat, &cfg);
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mapping_filtering_matrix),
      cmocka_unit_test(test_port_allocation),
      cmocka_unit_test(test_mapping_timeout),
      cmocka_unit_test(test_hairpinning),
      cmocka_unit_test(test_nested_nat),
      cmocka_unit_test(test_firewall_dual_stack),
      cmocka_unit_test(test_nat_bounds),
  };
  return cmocka_run_group_tests_name("sim_nat", tests, NULL, NULL);
}
