/*
 * stack/: the defences of issue 9 that live in rawflow's own code (docs/security.md has the
 * whole picture, including the lwIP patches in stack/patches/).
 *
 *   isn.c            RFC 6528 initial sequence numbers: ISN = M + F(4-tuple, secret), with
 *                    F = SipHash-2-4 (libsodium's crypto_shorthash) under a 16-byte secret
 *                    drawn from libsodium's random source once per process, and M a clock
 *                    ticking every 4 microseconds (RFC 793's ISN clock)
 *   syncookie.c      SYN cookies for a listener whose backlog is full (stack/patches/0005)
 *   bounds.c         per-core bounds: out-of-order pbufs of all connections together
 *                    (stack/patches/0016) and half-open connections of all listeners
 *                    together (0017), beyond the per-flow and per-listener ones
 *   challenge_ack.c  RFC 5961 section 7: at most about RF_CHALLENGE_ACK_LIMIT challenge ACKs
 *                    per second per process; each second's budget is drawn at random from
 *                    [limit/2, 3*limit/2), as Linux does since CVE-2016-5696, so that an
 *                    off-path attacker cannot count the budget to learn about connections
 *
 * lwIP reaches both through its hooks (include/rf_lwip_hooks.h). The functions here are the
 * pure parts, with the key and the time passed in, so tests can drive them.
 */
#ifndef RF_SECURITY_H
#define RF_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RF_ISN_KEY_BYTES 16 /* crypto_shorthash_KEYBYTES (SipHash-2-4) */
#define RF_ISN_TUPLE_MAX 38 /* two (family byte, 16 address bytes, 2 port bytes) */

/* Draws the process's ISN secret (and starts libsodium). Idempotent; the ISN hook calls it
 * on first use. 0, or -1 (with a message) when libsodium cannot start. */
int rf_isn_init(void);

/* The ISN for a connection whose 4-tuple was serialised by rf_isn_tuple(), at time now_ns
 * (any monotonic nanosecond clock). */
uint32_t rf_isn_compute(const uint8_t key[RF_ISN_KEY_BYTES], const uint8_t *tuple, size_t len,
			uint64_t now_ns);

/* Serialises an IPv4 4-tuple (addresses in network order, ports in host order) into buf
 * (RF_ISN_TUPLE_MAX bytes); returns the length. */
size_t rf_isn_tuple_v4(uint8_t *buf, uint32_t local_ip_be, uint16_t local_port,
		       uint32_t remote_ip_be, uint16_t remote_port);

/* The same for lwIP's addresses (IPv4 or IPv6), as the hooks see them. */
struct ip_addr;
size_t rf_isn_tuple(uint8_t *buf, const struct ip_addr *local_ip, uint16_t local_port,
		    const struct ip_addr *remote_ip, uint16_t remote_port);

/* SYN cookies (syncookie.c): a cookie for the client's initial sequence number at now_ms;
 * *mss goes in as the client's MSS and comes out as the one the cookie encodes (and the
 * SYN-ACK announces). Check returns that MSS, or 0 when the cookie is not valid at now_ms. */
#define RF_SYNCOOKIE_SLOT_MS 64000
uint32_t rf_syncookie_make(const uint8_t key[RF_ISN_KEY_BYTES], const uint8_t *tuple,
			   size_t len, uint32_t client_isn, uint32_t now_ms, uint16_t *mss);
uint16_t rf_syncookie_check(const uint8_t key[RF_ISN_KEY_BYTES], const uint8_t *tuple,
			    size_t len, uint32_t client_isn, uint32_t cookie, uint32_t now_ms);

/* SYN-ACKs sent with a cookie, and ACKs that brought a valid one back (struct rf_stats). */
extern uint64_t rf_syncookies_sent, rf_syncookies_valid;

/* Challenge ACKs per second per process (Linux's default tcp_challenge_ack_limit). */
#define RF_CHALLENGE_ACK_LIMIT 1000

struct rf_challenge_budget {
	uint32_t second; /* the second the budget is for, from the millisecond clock */
	uint32_t left;   /* challenge ACKs still allowed in that second */
	bool started;
};

/* Takes one challenge ACK from the budget at time now_ms; true when it may be sent. A new
 * second refills the budget with limit / 2 + rnd(limit), so rnd is called only then. */
bool rf_challenge_ack_take(struct rf_challenge_budget *b, uint32_t now_ms, uint32_t limit,
			   uint32_t (*rnd)(uint32_t upper_bound));

/* The ACK for a segment outside the receive window (stack/patches/0027): at most one per
 * RF_OOW_ACK_INTERVAL_MS per connection (Linux's tcp_invalid_ratelimit), each also from the
 * challenge-ACK budget. */
#define RF_OOW_ACK_INTERVAL_MS 500

/* true when a connection whose last such ACK went out at *last_ms (0: never) may send one at
 * now_ms, which then becomes *last_ms; false within interval_ms of the last one. */
bool rf_oow_ack_take(uint32_t *last_ms, uint32_t now_ms, uint32_t interval_ms);

/* ACKs not sent for a rate limit: challenge ACKs over the budget, out-of-window ACKs within
 * the interval or over the budget (struct rf_stats' acks_rate_limited). */
extern uint64_t rf_acks_rate_limited;

/* Per-core bounds (bounds.c). Out-of-order data of all connections may hold at most
 * 1/RF_OOSEQ_POOL_SHARE of the packet pool; half-open connections over all listeners at most
 * 1/RF_HALF_OPEN_FLOWS_SHARE of --max-flows, and never fewer than RF_HALF_OPEN_MIN (4 full
 * backlogs); SYNs beyond get cookies. */
#define RF_OOSEQ_POOL_SHARE 4
#define RF_HALF_OPEN_FLOWS_SHARE 4
#define RF_HALF_OPEN_MIN 1024

struct rf_core_bounds {
	uint32_t ooseq_max_pbufs;   /* bound on tcp_ooseq_pbufs_total (stack/patches/0016) */
	uint32_t half_open_max;     /* bound on the listeners' pending connections, summed */
	uint64_t ooseq_dropped;     /* out-of-order pbufs dropped for the per-core bound */
	uint64_t half_open_cookies; /* SYNs answered with a cookie for the per-core bound */
};
extern struct rf_core_bounds rf_core_bounds; /* one lwIP per process, like lwIP's globals */

/* Sets the bounds for a packet pool of pool_mbufs and max_flows flows (--max-flows; the
 * stack calls it at start-up). */
void rf_core_bounds_init(unsigned int pool_mbufs, unsigned int max_flows);

/* The per-core bound on half-open connections for max_flows flows. */
uint32_t rf_half_open_max(unsigned int max_flows);

/* The pbufs a connection holding flow_held may queue, when all hold core_held. */
uint32_t rf_ooseq_limit(uint32_t flow_max, uint32_t flow_held, uint32_t core_held,
			uint32_t core_max);

#endif /* RF_SECURITY_H */
