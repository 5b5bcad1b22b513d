/* TURN client over UDP against a scripted server on a virtual clock: the allocate flow with
 * 401/438/437, refresh/permission/channel schedules, wrap/unwrap, hostile input,
 * ALTERNATE-SERVER, deallocation, dual allocations, destroy from callbacks, and allocation
 * failure at every allocation. */
#include "turn_harness.h"

static void test_allocate_flow(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_NEW);
  assert_int_equal(h_poll(&x), FIRN_ERR_WOULDBLOCK);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_ERR_STATE);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_true(firn_addr_equal(&x.out_dest, &x.server));
  uint8_t proto = 0;
  assert_int_equal(firn_stun_msg_get_requested_transport(&x.req, &proto), FIRN_OK);
  assert_int_equal(proto, 17);
  assert_false(firn_stun_msg_has(&x.req, FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY));
  assert_false(h_req_signed(&x));
  assert_int_equal(h_reply_401(&x, "nonce-1"), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_true(h_req_signed(&x));
  assert_int_equal(firn_stun_msg_verify(&x.req, x.key), FIRN_OK);
  const char *u;
  size_t ul;
  assert_int_equal(firn_stun_msg_get_string(&x.req, FIRN_STUN_ATTR_USERNAME, &u, &ul), FIRN_OK);
  assert_int_equal(ul, strlen(H_USER));
  assert_int_equal(h_reply_alloc_ok(&x, 600), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_READY);
  assert_int_equal(h_last_state(&x), FIRN_TURN_READY);
  firn_turn_info info;
  assert_int_equal(firn_turn_get_info(x.t, &info), FIRN_OK);
  assert_int_equal(info.nrelayed, 1);
  assert_true(firn_addr_equal(&info.relayed[0], &x.relayed));
  assert_true(firn_addr_equal(&info.mapped, &x.mapped));
  assert_int_equal(info.lifetime_s, 600);
  assert_int_equal(info.refresh_at, x.now + 540 * SEC);
  assert_int_equal(info.expires_at, x.now + 600 * SEC);
  assert_int_equal(firn_turn_expiry(x.t), x.now + 540 * SEC);
  assert_int_equal(h_poll(&x), FIRN_ERR_WOULDBLOCK);
  h_done(&x);
}

/* Refresh at lifetime - 60 s for long lifetimes, at 3/4 for short ones; a 438 on the refresh
 * is retried with the new nonce. */
static void test_refresh_schedule_and_438(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  h_allocate(&x, 600);
  uint64_t t0 = x.now;
  h_run_expiry(&x);
  assert_int_equal(x.now, t0 + 540 * SEC);
  h_expect(&x, FIRN_STUN_REFRESH);
  assert_true(h_req_signed(&x));
  assert_int_equal(h_reply_438(&x, "nonce-2"), FIRN_OK);
  h_expect(&x, FIRN_STUN_REFRESH);
  const char *n;
  size_t nl;
  assert_int_equal(firn_stun_msg_get_string(&x.req, FIRN_STUN_ATTR_NONCE, &n, &nl), FIRN_OK);
  assert_int_equal(nl, 7);
  assert_memory_equal(n, "nonce-2", 7);
  assert_int_equal(h_reply_ok(&x, 100, 1), FIRN_OK); /* the server shortened it */
  firn_turn_stats st;
  firn_turn_get_stats(x.t, &st);
  assert_int_equal(st.refreshes, 1);
  assert_int_equal(st.stale_nonces, 1);
  firn_turn_info info;
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.refresh_at, x.now + 75 * SEC);
  t0 = x.now;
  h_run_expiry(&x);
  assert_int_equal(x.now, t0 + 75 * SEC);
  h_expect(&x, FIRN_STUN_REFRESH);
  assert_int_equal(h_reply_ok(&x, 4, 1), FIRN_OK);
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.refresh_at, x.now + 3 * SEC);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_READY);
  h_done(&x);
}

/* The requested lifetime goes into Allocate and Refresh. */
static void test_requested_lifetime(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  x.s.lifetime_s = 1200;
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  uint32_t l = 0;
  assert_int_equal(firn_stun_msg_get_u32(&x.req, FIRN_STUN_ATTR_LIFETIME, &l), FIRN_OK);
  assert_int_equal(l, 1200);
  assert_int_equal(h_reply_401(&x, "n"), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_int_equal(h_reply_alloc_ok(&x, 1200), FIRN_OK);
  h_run_expiry(&x);
  h_expect(&x, FIRN_STUN_REFRESH);
  assert_int_equal(firn_stun_msg_get_u32(&x.req, FIRN_STUN_ATTR_LIFETIME, &l), FIRN_OK);
  assert_int_equal(l, 1200);
  h_done(&x);
}

/* A 438 to the signed Allocate: retried with the new nonce, then allocated. */
static void test_allocate_438(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_int_equal(h_reply_401(&x, "nonce-1"), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_int_equal(h_reply_438(&x, "nonce-2"), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  const char *n;
  size_t nl;
  assert_int_equal(firn_stun_msg_get_string(&x.req, FIRN_STUN_ATTR_NONCE, &n, &nl), FIRN_OK);
  assert_memory_equal(n, "nonce-2", 7);
  assert_int_equal(h_reply_alloc_ok(&x, 600), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_READY);
  firn_turn_stats st;
  firn_turn_get_stats(x.t, &st);
  assert_int_equal(st.allocate_requests, 1); /* one transaction, retried inside */
  h_done(&x);
}

/* A 401 that repeats the nonce we just used: the password is wrong, stop. */
static void test_repeated_nonce_stops(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_int_equal(h_reply_401(&x, "nonce-1"), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_int_equal(h_reply_401(&x, "nonce-1"), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_FAILED);
  firn_turn_info info;
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_AUTH);
  assert_int_equal(info.error_code, 401);
  assert_int_equal(h_poll(&x), FIRN_ERR_WOULDBLOCK);
  assert_int_equal(firn_turn_expiry(x.t), FIRN_TIME_NEVER);
  h_done(&x);
}

/* 437 on Allocate, signed or not (coturn sends it unsigned), is reported as a mismatch. */
static void test_437_mismatch(void **state) {
  (void)state;
  for (int sign = 0; sign < 2; sign++) {
    h x;
    h_init(&x, FIRN_TRANSPORT_UDP);
    h_new(&x);
    assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
    h_expect(&x, FIRN_STUN_ALLOCATE);
    assert_int_equal(h_reply_401(&x, "nonce-1"), FIRN_OK);
    h_expect(&x, FIRN_STUN_ALLOCATE);
    assert_int_equal(h_reply_error(&x, 437, sign), FIRN_OK);
    firn_turn_info info;
    firn_turn_get_info(x.t, &info);
    assert_int_equal(info.state, FIRN_TURN_FAILED);
    assert_int_equal(info.failure, FIRN_TURN_FAIL_MISMATCH);
    assert_int_equal(info.error_code, 437);
    h_done(&x);
  }
  /* on a Refresh: the allocation is gone */
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  h_allocate(&x, 600);
  h_run_expiry(&x);
  h_expect(&x, FIRN_STUN_REFRESH);
  assert_int_equal(h_reply_error(&x, 437, 0), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_FAILED);
  h_done(&x);
}

/* An unsigned error for a transaction ID we never sent is dropped. */
static void test_unsigned_error_wrong_tid(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_int_equal(h_reply_401(&x, "nonce-1"), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  x.req.tid[0] ^= 1;
  assert_int_equal(h_reply_error(&x, 437, 0), FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_ALLOCATING);
  x.req.tid[0] ^= 1;
  /* a refusal (other code) for the right request ends it */
  assert_int_equal(h_reply_error(&x, 486, 0), FIRN_OK);
  firn_turn_info info;
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_REFUSED);
  assert_int_equal(info.error_code, 486);
  h_done(&x);
}

/* Unreachable: the Allocate times out after the UDP schedule (39.5 s). */
static void test_timeout(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  uint64_t t0 = x.now;
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  int sent = 0;
  for (int guard = 0; guard < 100 && firn_turn_get_state(x.t) == FIRN_TURN_ALLOCATING; guard++) {
    while (h_poll(&x) > 0) sent++;
    h_run_expiry(&x);
  }
  assert_int_equal(sent, 7);
  firn_turn_info info;
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_TIMEOUT);
  assert_int_equal(x.now - t0, 39500 * MS);
  h_done(&x);
}

/* Success without MESSAGE-INTEGRITY: to the first (unauthenticated) Allocate it fails the
 * allocation; with a bad MI after the 401 it is dropped (the transaction keeps waiting). */
static void test_success_without_integrity(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  resp r;
  firn_ssize n = h_build_alloc_ok(&x, &r, 600, 0);
  assert_int_equal(h_deliver(&x, r.buf, (size_t)n), FIRN_OK);
  firn_turn_info info;
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.state, FIRN_TURN_FAILED);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_INTEGRITY);
  assert_int_equal(info.nrelayed, 0);
  h_done(&x);

  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_int_equal(h_reply_401(&x, "nonce-1"), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  n = h_build_alloc_ok(&x, &r, 600, 1);
  r.buf[n - 8 - 5] ^= 0x55; /* inside the HMAC */
  /* the FINGERPRINT no longer matches either: recompute it so only the MI is wrong */
  uint32_t fp = firn_stun_fingerprint(r.buf, (size_t)n - 8);
  firn_put_u32(r.buf + n - 4, fp);
  assert_int_equal(h_deliver(&x, r.buf, (size_t)n), FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_ALLOCATING);
  /* unsigned success: dropped too */
  n = h_build_alloc_ok(&x, &r, 600, 0);
  assert_int_equal(h_deliver(&x, r.buf, (size_t)n), FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_ALLOCATING);
  /* the real answer still works */
  assert_int_equal(h_reply_alloc_ok(&x, 600), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_READY);
  h_done(&x);
}

/* Permissions: CreatePermission per peer IP, refreshed every 240 s; table bounded. */
static void test_permissions(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  x.s.max_permissions = 2;
  h_new(&x);
  firn_addr p1, p1b, p2, p3, p6;
  h_addr(&p1, "198.51.100.20:7000");
  h_addr(&p1b, "198.51.100.20:7002");
  h_addr(&p2, "198.51.100.21:7000");
  h_addr(&p3, "198.51.100.22:7000");
  h_addr(&p6, "[2001:db8::1]:7000");
  /* asked before the allocation: sent once READY */
  assert_int_equal(firn_turn_permit(x.t, &p1, x.now), FIRN_OK);
  h_allocate(&x, 600);
  h_expect(&x, FIRN_STUN_CREATE_PERMISSION);
  assert_true(h_req_signed(&x));
  firn_addr got;
  assert_int_equal(firn_stun_msg_get_xor_addr(&x.req, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 0, &got), FIRN_OK);
  assert_true(firn_addr_equal_ip(&got, &p1));
  assert_int_equal(firn_turn_has_permission(x.t, &p1), 0); /* pending */
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
  assert_int_equal(firn_turn_has_permission(x.t, &p1), 1);
  assert_int_equal(firn_turn_has_permission(x.t, &p1b), 1); /* per IP */
  /* the same IP again: nothing new */
  assert_int_equal(firn_turn_permit(x.t, &p1b, x.now), FIRN_OK);
  assert_int_equal(h_poll(&x), FIRN_ERR_WOULDBLOCK);
  assert_int_equal(firn_turn_permit(x.t, &p2, x.now), FIRN_OK);
  assert_int_equal(firn_turn_permit(x.t, &p3, x.now), FIRN_ERR_LIMIT);
  assert_int_equal(firn_turn_permit(x.t, &p6, x.now), FIRN_ERR_INVALID_ARG); /* IPv4 allocation */
  h_expect(&x, FIRN_STUN_CREATE_PERMISSION);
  assert_int_equal(h_reply_error(&x, 403, 1), FIRN_OK);
  assert_int_equal(firn_turn_has_permission(x.t, &p2), 0);
  uint8_t out[256];
  assert_int_equal(firn_turn_wrap(x.t, &p2, (const uint8_t *)"x", 1, out, sizeof out), FIRN_ERR_TURN_PERMISSION);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_READY); /* one peer failing is not fatal */
  /* refresh of p1 at +240 s, before the allocation's */
  uint64_t t_ok = x.now;
  h_run_expiry(&x);
  assert_int_equal(x.now, t_ok + 240 * SEC);
  h_expect(&x, FIRN_STUN_CREATE_PERMISSION);
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
  firn_turn_stats st;
  firn_turn_get_stats(x.t, &st);
  assert_int_equal(st.permission_refreshes, 1);
  h_run_expiry(&x);
  assert_int_equal(x.now, t_ok + 480 * SEC);
  h_expect(&x, FIRN_STUN_CREATE_PERMISSION);
  /* removal stops the refreshes and frees the slot */
  assert_int_equal(firn_turn_remove_permission(x.t, &p1), FIRN_OK);
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_ERR_STUN_MISMATCH); /* cancelled */
  assert_int_equal(firn_turn_permit(x.t, &p3, x.now), FIRN_OK);
  h_done(&x);
}

/* Channels: ChannelBind with 0x4000 upward, Send indications until bound, ChannelData after,
 * refreshed at 540 s. */
static void test_channels_and_wrap(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  h_allocate(&x, 3600);
  firn_addr peer;
  h_addr(&peer, "198.51.100.20:7000");
  uint8_t out[512];
  assert_int_equal(firn_turn_wrap(x.t, &peer, (const uint8_t *)"hi", 2, out, sizeof out), FIRN_ERR_TURN_PERMISSION);
  uint16_t ch = 0;
  assert_int_equal(firn_turn_bind_channel(x.t, &peer, x.now, &ch), FIRN_OK);
  assert_int_equal(ch, 0x4000);
  h_expect(&x, FIRN_STUN_CREATE_PERMISSION);
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
  h_expect(&x, FIRN_STUN_CHANNEL_BIND);
  uint16_t got_ch = 0;
  assert_int_equal(firn_stun_msg_get_channel(&x.req, &got_ch), FIRN_OK);
  assert_int_equal(got_ch, 0x4000);
  /* not bound yet: a Send indication */
  firn_ssize n = firn_turn_wrap(x.t, &peer, (const uint8_t *)"hi", 2, out, sizeof out);
  assert_true(n > 0);
  firn_stun_msg m;
  assert_int_equal(firn_stun_msg_parse(&m, out, (size_t)n), FIRN_OK);
  assert_int_equal(m.method, FIRN_STUN_SEND);
  assert_int_equal(m.cls, FIRN_STUN_INDICATION);
  firn_addr a;
  assert_int_equal(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 0, &a), FIRN_OK);
  assert_true(firn_addr_equal(&a, &peer));
  const uint8_t *d;
  size_t dl;
  assert_int_equal(firn_stun_msg_find(&m, FIRN_STUN_ATTR_DATA, &d, &dl), FIRN_OK);
  assert_int_equal(dl, 2);
  assert_memory_equal(d, "hi", 2);
  assert_int_equal(firn_turn_wrap(x.t, &peer, (const uint8_t *)"hi", 2, out, 20), FIRN_ERR_NOBUF);
  /* bound: ChannelData, unpadded over UDP */
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
  assert_int_equal(firn_turn_channel(x.t, &peer), 0x4000);
  n = firn_turn_wrap(x.t, &peer, (const uint8_t *)"hello", 5, out, sizeof out);
  assert_int_equal(n, 9);
  assert_int_equal(firn_get_u16(out), 0x4000);
  assert_int_equal(firn_get_u16(out + 2), 5);
  assert_memory_equal(out + 4, "hello", 5);
  assert_int_equal(firn_turn_wrap(x.t, &peer, (const uint8_t *)"hello", 5, out, 8), FIRN_ERR_NOBUF);
  /* a second peer gets the next number */
  firn_addr peer2;
  h_addr(&peer2, "198.51.100.20:7001");
  assert_int_equal(firn_turn_bind_channel(x.t, &peer2, x.now, &ch), FIRN_OK);
  assert_int_equal(ch, 0x4001);
  h_expect(&x, FIRN_STUN_CHANNEL_BIND);
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
  /* removing a peer and binding it again gives back its number (the server keeps the
   * binding for 10 minutes and would refuse a new one); a new peer gets a new number */
  firn_addr peer3;
  h_addr(&peer3, "198.51.100.30:7000");
  assert_int_equal(firn_turn_remove_permission(x.t, &peer3), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_turn_bind_channel(x.t, &peer3, x.now, &ch), FIRN_OK);
  assert_int_equal(ch, 0x4002);
  h_expect(&x, FIRN_STUN_CREATE_PERMISSION);
  assert_int_equal(firn_turn_remove_permission(x.t, &peer3), FIRN_OK);
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_ERR_STUN_MISMATCH); /* cancelled */
  assert_int_equal(firn_turn_channel(x.t, &peer3), 0);
  assert_int_equal(firn_turn_bind_channel(x.t, &peer3, x.now, &ch), FIRN_OK);
  assert_int_equal(ch, 0x4002);
  h_expect(&x, FIRN_STUN_CREATE_PERMISSION);
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
  h_expect(&x, FIRN_STUN_CHANNEL_BIND);
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
  assert_int_equal(firn_turn_remove_permission(x.t, &peer3), FIRN_OK);
  /* schedule: permission at +240 s, channels at +540 s */
  uint64_t t0 = x.now;
  int perm_refreshes = 0, chan_refreshes = 0;
  while (firn_turn_expiry(x.t) <= t0 + 600 * SEC) {
    h_run_expiry(&x);
    while (h_poll(&x) > 0) {
      if (x.req.method == FIRN_STUN_CREATE_PERMISSION) {
        perm_refreshes++;
        assert_true(x.now == t0 + 240 * SEC || x.now == t0 + 480 * SEC);
      } else if (x.req.method == FIRN_STUN_CHANNEL_BIND) {
        chan_refreshes++;
        assert_int_equal(x.now, t0 + 540 * SEC);
      }
      assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
    }
  }
  assert_int_equal(perm_refreshes, 2);
  assert_int_equal(chan_refreshes, 2);
  firn_turn_stats st;
  firn_turn_get_stats(x.t, &st);
  assert_int_equal(st.channel_refreshes, 2);
  h_done(&x);
}

/* Incoming: Data indications and ChannelData unwrapped to (peer, payload). */
static void test_unwrap(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  h_allocate(&x, 600);
  firn_addr peer;
  h_addr(&peer, "198.51.100.20:7000");
  assert_int_equal(firn_turn_bind_channel(x.t, &peer, x.now, NULL), FIRN_OK);
  h_expect(&x, FIRN_STUN_CREATE_PERMISSION);
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
  uint8_t buf[256];
  size_t n = h_data_ind(buf, sizeof buf, &peer, "ping", 4, 1, 1);
  firn_addr from;
  const uint8_t *pl;
  size_t pll;
  assert_int_equal(firn_turn_unwrap(x.t, buf, n, &from, &pl, &pll), 1);
  assert_true(firn_addr_equal(&from, &peer));
  assert_int_equal(pll, 4);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_OK);
  assert_int_equal(x.ndata, 1);
  assert_memory_equal(x.data, "ping", 4);
  assert_true(firn_addr_equal(&x.data_peer, &peer));
  /* ChannelData before the bind succeeded: unbound, dropped */
  n = h_channel_data(buf, 0x4000, "chan", 4, 0);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_ERR_TURN_PERMISSION);
  h_expect(&x, FIRN_STUN_CHANNEL_BIND);
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_OK);
  assert_int_equal(x.ndata, 2);
  assert_memory_equal(x.data, "chan", 4);
  assert_true(firn_addr_equal(&x.data_peer, &peer));
  /* with padding (allowed over UDP too) */
  n = h_channel_data(buf, 0x4000, "abcde", 5, 1);
  assert_int_equal(n, 12);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_OK);
  assert_int_equal(x.data_len, 5);
  /* empty payload */
  n = h_channel_data(buf, 0x4000, "", 0, 0);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_OK);
  assert_int_equal(x.data_len, 0);
  /* a STUN response is "not data" for unwrap */
  resp r;
  x.req.method = FIRN_STUN_REFRESH;
  r_begin(&r, &x, FIRN_STUN_SUCCESS);
  firn_ssize rn = r_end(&r, &x, 1);
  assert_int_equal(firn_turn_unwrap(x.t, r.buf, (size_t)rn, &from, &pl, &pll), 0);
  firn_turn_stats st;
  firn_turn_get_stats(x.t, &st);
  assert_int_equal(st.data_in, 4);
  assert_int_equal(st.channel_data_in, 3);
  h_done(&x);
}

/* Hostile input: all dropped, the allocation unharmed. */
static void test_hostile_input(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  h_allocate(&x, 600);
  firn_addr peer, stranger, other_server;
  h_addr(&peer, "198.51.100.20:7000");
  h_addr(&stranger, "198.51.100.99:7000");
  h_addr(&other_server, "203.0.113.1:3479");
  assert_int_equal(firn_turn_bind_channel(x.t, &peer, x.now, NULL), FIRN_OK);
  h_expect(&x, FIRN_STUN_CREATE_PERMISSION);
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
  h_expect(&x, FIRN_STUN_CHANNEL_BIND);
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
  uint8_t buf[512];
  size_t n;
  /* Data indication without DATA / without XOR-PEER-ADDRESS / from a peer without permission */
  n = h_data_ind(buf, sizeof buf, &peer, "x", 1, 1, 0);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_ERR_STUN_BAD_ATTR);
  n = h_data_ind(buf, sizeof buf, &peer, "x", 1, 0, 1);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_ERR_STUN_BAD_ATTR);
  n = h_data_ind(buf, sizeof buf, &stranger, "x", 1, 1, 1);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_ERR_TURN_PERMISSION);
  /* a good one from another source address (not the server's 5-tuple) */
  n = h_data_ind(buf, sizeof buf, &peer, "x", 1, 1, 1);
  assert_int_equal(firn_turn_handle_datagram(x.t, &other_server, buf, n, x.now), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_turn_handle_datagram(x.t, &peer, buf, n, x.now), FIRN_ERR_NOT_FOUND);
  /* ChannelData: unbound channel, length past the datagram, reserved range, trailing junk */
  n = h_channel_data(buf, 0x4001, "abcd", 4, 0);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_ERR_TURN_PERMISSION);
  n = h_channel_data(buf, 0x4000, "abcd", 4, 0);
  firn_put_u16(buf + 2, 5);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_ERR_STUN_TRUNCATED);
  firn_put_u16(buf + 2, 0xffff);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_ERR_STUN_TRUNCATED);
  n = h_channel_data(buf, 0x5000, "abcd", 4, 0);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_ERR_STUN_NOT_STUN);
  n = h_channel_data(buf, 0x4000, "abcdefgh", 8, 0);
  firn_put_u16(buf + 2, 2);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_ERR_STUN_BAD_LENGTH);
  /* short / non-STUN / garbage / a request from the server */
  assert_true(h_deliver(&x, buf, 3) < 0);
  assert_true(h_deliver(&x, buf, 0) < 0);
  buf[0] = 0x80;
  assert_int_equal(h_deliver(&x, buf, 8), FIRN_ERR_STUN_NOT_STUN);
  static const uint8_t tid[12] = {1};
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, tid);
  n = (size_t)firn_stun_builder_finish(&b);
  assert_int_equal(h_deliver(&x, buf, n), FIRN_ERR_STUN_BAD_CLASS);
  /* a response nobody asked for */
  x.req.method = FIRN_STUN_REFRESH;
  assert_int_equal(h_reply_ok(&x, 600, 1), FIRN_ERR_STUN_MISMATCH);
  /* random bytes with every length */
  uint64_t s = 99;
  for (size_t len = 0; len < 200; len++) {
    h_random(&s, buf, len);
    if (len >= 1 && (len & 1)) buf[0] = (uint8_t)(0x40 | (buf[0] & 0x0f)); /* ChannelData-like */
    (void)h_deliver(&x, buf, len);
  }
  assert_int_equal(x.ndata, 0);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_READY);
  firn_turn_stats st;
  firn_turn_get_stats(x.t, &st);
  assert_true(st.dropped >= 15);
  h_done(&x);
}

/* 300 ALTERNATE-SERVER: followed once to a public-looking different address; refused to
 * loopback/any/itself and when it loops. */
static void redirect_case(const char *alt, int expect_follow) {
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  firn_addr a;
  h_addr(&a, alt);
  resp r;
  r_begin(&r, &x, FIRN_STUN_ERROR);
  firn_stun_add_error(&r.b, 300, NULL);
  firn_stun_add_addr(&r.b, FIRN_STUN_ATTR_ALTERNATE_SERVER, &a);
  firn_ssize n = r_end(&r, &x, 0);
  assert_int_equal(h_deliver(&x, r.buf, (size_t)n), FIRN_OK);
  firn_turn_info info;
  firn_turn_get_info(x.t, &info);
  if (!expect_follow) {
    assert_int_equal(info.state, FIRN_TURN_FAILED);
    assert_int_equal(info.failure, FIRN_TURN_FAIL_REDIRECT);
    assert_int_equal(info.error_code, 300);
    h_done(&x);
    return;
  }
  assert_int_equal(info.state, FIRN_TURN_ALLOCATING);
  assert_true(firn_addr_equal(&info.server, &a));
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_true(firn_addr_equal(&x.out_dest, &a));
  assert_false(h_req_signed(&x)); /* fresh credentials for the new server */
  /* the old server's answers are no longer accepted */
  assert_int_equal(h_reply_401(&x, "n1"), FIRN_ERR_NOT_FOUND);
  x.server = a;
  /* a second redirect (back, or anywhere) is a loop: refused */
  r_begin(&r, &x, FIRN_STUN_ERROR);
  firn_stun_add_error(&r.b, 300, NULL);
  firn_addr back;
  h_addr(&back, "203.0.113.77:3478");
  firn_stun_add_addr(&r.b, FIRN_STUN_ATTR_ALTERNATE_SERVER, &back);
  n = r_end(&r, &x, 0);
  assert_int_equal(h_deliver(&x, r.buf, (size_t)n), FIRN_OK);
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_REDIRECT);
  h_done(&x);
}

static void test_alternate_server(void **state) {
  (void)state;
  redirect_case("203.0.113.50:3478", 1);
  redirect_case("127.0.0.1:3478", 0);
  redirect_case("0.0.0.0:3478", 0);
  redirect_case("203.0.113.1:3478", 0);  /* itself */
  redirect_case("169.254.1.1:3478", 0);
  redirect_case("224.0.0.1:3478", 0);
  redirect_case("255.255.255.255:3478", 0);
  redirect_case("[2001:db8::1]:3478", 0); /* family change */
  redirect_case("203.0.113.50:0", 0);
  /* a 300 without ALTERNATE-SERVER */
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_int_equal(h_reply_error(&x, 300, 0), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_FAILED);
  h_done(&x);
}

/* Deallocation: Refresh LIFETIME 0, CLOSED on the answer or after the close timeout. */
static void test_close(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  h_allocate(&x, 600);
  firn_addr peer;
  h_addr(&peer, "198.51.100.20:7000");
  assert_int_equal(firn_turn_permit(x.t, &peer, x.now), FIRN_OK);
  assert_int_equal(firn_turn_close(x.t, x.now), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_CLOSING);
  h_expect(&x, FIRN_STUN_REFRESH); /* the pending permission was cancelled */
  uint32_t l = 99;
  assert_int_equal(firn_stun_msg_get_u32(&x.req, FIRN_STUN_ATTR_LIFETIME, &l), FIRN_OK);
  assert_int_equal(l, 0);
  assert_true(h_req_signed(&x));
  assert_int_equal(firn_turn_permit(x.t, &peer, x.now), FIRN_ERR_STATE);
  uint8_t out[64];
  assert_int_equal(firn_turn_wrap(x.t, &peer, out, 1, out, sizeof out), FIRN_ERR_STATE);
  assert_int_equal(h_reply_ok(&x, 0, 1), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_CLOSED);
  assert_int_equal(firn_turn_expiry(x.t), FIRN_TIME_NEVER);
  h_done(&x);

  /* no answer: closed after close_timeout */
  h_init(&x, FIRN_TRANSPORT_UDP);
  x.s.close_timeout_ns = 2 * SEC;
  h_new(&x);
  h_allocate(&x, 600);
  uint64_t t0 = x.now;
  assert_int_equal(firn_turn_close(x.t, x.now), FIRN_OK);
  for (int i = 0; i < 50 && firn_turn_get_state(x.t) == FIRN_TURN_CLOSING; i++) {
    while (h_poll(&x) > 0) {}
    h_run_expiry(&x);
  }
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_CLOSED);
  assert_int_equal(x.now - t0, 2 * SEC);
  h_done(&x);

  /* close before the allocation: at once, nothing sent */
  h_init(&x, FIRN_TRANSPORT_UDP);
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  assert_int_equal(firn_turn_close(x.t, x.now), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_CLOSED);
  assert_int_equal(h_poll(&x), FIRN_ERR_WOULDBLOCK);
  h_done(&x);
}

/* IPv6 (REQUESTED-ADDRESS-FAMILY) and dual (ADDITIONAL-ADDRESS-FAMILY) allocations. */
static void test_address_families(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  x.s.family = FIRN_AF_INET6;
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  firn_family f = FIRN_AF_NONE;
  assert_int_equal(firn_stun_msg_get_family(&x.req, FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &f), FIRN_OK);
  assert_int_equal(f, FIRN_AF_INET6);
  assert_int_equal(h_reply_401(&x, "n"), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  /* an IPv4 relayed address to an IPv6 request is a protocol error */
  assert_int_equal(h_reply_alloc_ok(&x, 600), FIRN_OK);
  firn_turn_info info;
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_PROTOCOL);
  h_done(&x);

  h_init(&x, FIRN_TRANSPORT_UDP);
  x.s.family = FIRN_AF_INET6;
  h_new(&x);
  h_addr(&x.relayed, "[2001:db8::5]:49152");
  h_allocate(&x, 600);
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.relayed[0].family, FIRN_AF_INET6);
  h_done(&x);

  h_init(&x, FIRN_TRANSPORT_UDP);
  x.s.dual = 1;
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_int_equal(firn_stun_msg_get_family(&x.req, FIRN_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, &f), FIRN_OK);
  assert_int_equal(f, FIRN_AF_INET6);
  assert_false(firn_stun_msg_has(&x.req, FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY));
  assert_int_equal(h_reply_401(&x, "n"), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  resp r;
  r_begin(&r, &x, FIRN_STUN_SUCCESS);
  firn_addr r6;
  h_addr(&r6, "[2001:db8::5]:49153");
  firn_stun_add_xor_addr(&r.b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, &x.relayed);
  firn_stun_add_xor_addr(&r.b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, &r6);
  firn_stun_add_xor_addr(&r.b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &x.mapped);
  firn_stun_add_u32(&r.b, FIRN_STUN_ATTR_LIFETIME, 600);
  firn_ssize n = r_end(&r, &x, 1);
  assert_int_equal(h_deliver(&x, r.buf, (size_t)n), FIRN_OK);
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.state, FIRN_TURN_READY);
  assert_int_equal(info.nrelayed, 2);
  assert_true(firn_addr_equal(&info.relayed[1], &r6));
  /* both families can be permitted now */
  firn_addr p4, p6;
  h_addr(&p4, "198.51.100.1:1");
  h_addr(&p6, "[2001:db8::9]:1");
  assert_int_equal(firn_turn_permit(x.t, &p4, x.now), FIRN_OK);
  assert_int_equal(firn_turn_permit(x.t, &p6, x.now), FIRN_OK);
  h_done(&x);

  /* dual refused for the IPv6 part: ADDRESS-ERROR-CODE reported, IPv4 kept */
  h_init(&x, FIRN_TRANSPORT_UDP);
  x.s.dual = 1;
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_int_equal(h_reply_401(&x, "n"), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  r_begin(&r, &x, FIRN_STUN_SUCCESS);
  firn_stun_add_xor_addr(&r.b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, &x.relayed);
  uint8_t aec[4] = {0x02, 0, 4, 40}; /* family IPv6, 440 */
  firn_stun_add_raw(&r.b, FIRN_STUN_ATTR_ADDRESS_ERROR_CODE, aec, 4);
  firn_stun_add_u32(&r.b, FIRN_STUN_ATTR_LIFETIME, 600);
  n = r_end(&r, &x, 1);
  assert_int_equal(h_deliver(&x, r.buf, (size_t)n), FIRN_OK);
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.state, FIRN_TURN_READY);
  assert_int_equal(info.nrelayed, 1);
  assert_int_equal(info.additional_error, 440);
  h_done(&x);

  /* dual with an IPv6 primary family is invalid (RFC 8656 7.2) */
  h_init(&x, FIRN_TRANSPORT_UDP);
  x.s.dual = 1;
  x.s.family = FIRN_AF_INET6;
  assert_int_equal(firn_turn_new(&x.t, &x.s), FIRN_ERR_INVALID_ARG);
  h_done(&x);
}

/* Settings validation. */
static void test_bad_settings(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  firn_turn *t = NULL;
  x.s.username = NULL;
  assert_int_equal(firn_turn_new(&t, &x.s), FIRN_ERR_INVALID_ARG);
  x.s.username = "";
  assert_int_equal(firn_turn_new(&t, &x.s), FIRN_ERR_INVALID_ARG);
  x.s.username = H_USER;
  x.s.server.port = 0;
  assert_int_equal(firn_turn_new(&t, &x.s), FIRN_ERR_INVALID_ARG);
  x.s.server = x.server;
  x.s.size = 8;
  assert_int_equal(firn_turn_new(&t, &x.s), FIRN_ERR_INVALID_ARG);
  x.s.size = sizeof x.s;
  x.s.max_channels = 5000;
  assert_int_equal(firn_turn_new(&t, &x.s), FIRN_ERR_INVALID_ARG);
  x.s.max_channels = 0;
  x.s.max_frame = 10;
  assert_int_equal(firn_turn_new(&t, &x.s), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_turn_new(NULL, &x.s), FIRN_ERR_INVALID_ARG);
  assert_null(t);
  firn_turn_free(NULL);
  assert_int_equal(firn_turn_start(NULL, 0), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_turn_expiry(NULL), FIRN_TIME_NEVER);
  h_done(&x);
}

/* Freeing the object from its own callbacks is deferred and safe. */
static void test_free_in_ready(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  x.free_in_state = FIRN_TURN_READY;
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_int_equal(h_reply_401(&x, "n"), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  resp r;
  firn_ssize n = h_build_alloc_ok(&x, &r, 600, 1);
  assert_int_equal(firn_turn_handle_datagram(x.t, &x.server, r.buf, (size_t)n, x.now), FIRN_OK);
  assert_null(x.t);
  h_done(&x);

  h_init(&x, FIRN_TRANSPORT_UDP);
  x.free_in_data = 1;
  h_new(&x);
  h_allocate(&x, 600);
  firn_addr peer;
  h_addr(&peer, "198.51.100.20:7000");
  assert_int_equal(firn_turn_permit(x.t, &peer, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_CREATE_PERMISSION);
  assert_int_equal(h_reply_ok(&x, -1, 1), FIRN_OK);
  uint8_t buf[128];
  size_t dn = h_data_ind(buf, sizeof buf, &peer, "x", 1, 1, 1);
  assert_int_equal(firn_turn_handle_datagram(x.t, &x.server, buf, dn, x.now), FIRN_OK);
  assert_null(x.t);
  h_done(&x);

  /* free from on_state(FAILED) inside a timeout */
  h_init(&x, FIRN_TRANSPORT_UDP);
  x.free_in_state = FIRN_TURN_FAILED;
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  for (int i = 0; i < 100 && x.t; i++) {
    while (x.t && h_poll(&x) > 0) {}
    if (x.t) h_run_expiry(&x);
  }
  assert_null(x.t);
  h_done(&x);
}

/* ------------------------------------------------------------------------------------------ */
/* Failing allocator                                                                           */

typedef struct failing {
  long countdown; /* fail when it reaches 0; -1: never */
  long calls;
  long live;
} failing;

static int should_fail(failing *f) {
  f->calls++;
  if (f->countdown < 0) return 0;
  return f->countdown-- == 0;
}
static void *f_malloc(size_t n, void *u) {
  failing *f = u;
  if (should_fail(f)) return NULL;
  void *p = malloc(n);
  if (p) f->live++;
  return p;
}
static void *f_calloc(size_t a, size_t b, void *u) {
  failing *f = u;
  if (should_fail(f)) return NULL;
  void *p = calloc(a, b);
  if (p) f->live++;
  return p;
}
static void *f_realloc(void *p, size_t n, void *u) {
  failing *f = u;
  if (should_fail(f)) return NULL;
  if (!p) f->live++;
  return realloc(p, n);
}
static void f_free(void *p, void *u) {
  failing *f = u;
  if (p) f->live--;
  free(p);
}

/* One complete life: allocate, permission, channel, data both ways, close. Returns 1 if it
 * went through without the allocator failing it. */
static int full_life(failing *fl) {
  h x;
  h_init(&x, FIRN_TRANSPORT_UDP);
  firn_allocator al = {f_malloc, f_calloc, f_realloc, f_free, fl};
  x.s.alloc = &al;
  int ok = 0;
  if (firn_turn_new(&x.t, &x.s) != FIRN_OK) goto out;
  if (firn_turn_start(x.t, x.now) != FIRN_OK) goto out;
  if (h_poll(&x) <= 0) goto out;
  h_reply_401(&x, "n1");
  if (h_poll(&x) <= 0) goto out;
  h_reply_alloc_ok(&x, 600);
  if (firn_turn_get_state(x.t) != FIRN_TURN_READY) goto out;
  firn_addr peer;
  h_addr(&peer, "198.51.100.20:7000");
  if (firn_turn_bind_channel(x.t, &peer, x.now, NULL) != FIRN_OK) goto out;
  for (int i = 0; i < 2; i++) {
    if (h_poll(&x) <= 0) goto out;
    h_reply_ok(&x, -1, 1);
  }
  uint8_t buf[128];
  if (firn_turn_wrap(x.t, &peer, (const uint8_t *)"abc", 3, buf, sizeof buf) != 7) goto out;
  size_t n = h_channel_data(buf, 0x4000, "abc", 3, 0);
  h_deliver(&x, buf, n);
  if (x.ndata != 1) goto out;
  h_run_expiry(&x); /* permission refresh */
  if (h_poll(&x) <= 0) goto out;
  h_reply_ok(&x, -1, 1);
  if (firn_turn_close(x.t, x.now) != FIRN_OK) goto out;
  if (h_poll(&x) <= 0) goto out;
  h_reply_ok(&x, 0, 1);
  ok = firn_turn_get_state(x.t) == FIRN_TURN_CLOSED;
out:
  h_done(&x);
  return ok;
}

static void test_failing_allocator(void **state) {
  (void)state;
  failing fl = {-1, 0, 0};
  assert_true(full_life(&fl));
  assert_int_equal(fl.live, 0);
  long total = fl.calls;
  assert_true(total > 5);
  for (long i = 0; i < total; i++) {
    failing f = {i, 0, 0};
    (void)full_life(&f);
    if (f.live != 0) fail_msg("leak with allocation %ld failing: %ld live", i, f.live);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_allocate_flow),
      cmocka_unit_test(test_refresh_schedule_and_438),
      cmocka_unit_test(test_requested_lifetime),
      cmocka_unit_test(test_allocate_438),
      cmocka_unit_test(test_repeated_nonce_stops),
      cmocka_unit_test(test_437_mismatch),
      cmocka_unit_test(test_unsigned_error_wrong_tid),
      cmocka_unit_test(test_timeout),
      cmocka_unit_test(test_success_without_integrity),
      cmocka_unit_test(test_permissions),
      cmocka_unit_test(test_channels_and_wrap),
      cmocka_unit_test(test_unwrap),
      cmocka_unit_test(test_hostile_input),
      cmocka_unit_test(test_alternate_server),
      cmocka_unit_test(test_close),
      cmocka_unit_test(test_address_families),
      cmocka_unit_test(test_bad_settings),
      cmocka_unit_test(test_free_in_ready),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
