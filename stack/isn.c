/*
 * Initial sequence numbers per RFC 6528, for lwIP's LWIP_HOOK_TCP_ISN.
 *
 *     ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 *
 * F is SipHash-2-4 (libsodium's crypto_shorthash, a keyed PRF with a 16-byte key), truncated
 * to 32 bits; the key is drawn from libsodium's random source (getrandom) once per process,
 * on first use, and never leaves this file. M is a clock of 4-microsecond ticks (RFC 793), so
 * that a reconnection on the same 4-tuple still starts above the old sequence space. Without
 * this hook lwIP 2.1.3 counts ISNs up by its timer ticks: the next ISN is guessable from one
 * SYN-ACK, which is all a blind attacker needs to spoof a connection or inject data.
 *
 * M comes from CLOCK_MONOTONIC rather than the TSC (stack/clock.c): an ISN is computed once
 * per connection, where a vDSO clock read costs nothing that matters, and this keeps the file
 * free of DPDK, so the sanitizer build of tests/security links it as it is. The key is not
 * rotated (Linux does not either): a new key would break M's guarantee for connections still
 * in TIME-WAIT on the other side.
 *
 * FOR TESTS ONLY: RF_ISN_SEED=N in the environment (the programs' --isn-seed N) replaces the
 * random key with one derived from N and drops the clock term, so the same 4-tuple gets the
 * same ISN in every run. That is what replaying a capture into the stack needs (net_pcap
 * rx_pcap=, tests/devices/replay.sh): the recorded ACKs acknowledge the ISN of the recorded
 * run, and a stack with a fresh ISN would answer them with RSTs. It makes ISNs predictable to
 * anyone who knows N, exactly what RFC 6528 forbids, so it is never for a real network, and
 * the process says so on stderr when it takes the seed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lwip/ip_addr.h"
#include "lwip/tcp.h"
#include "rf_lwip_hooks.h"

#include "rf_security.h"

_Static_assert(RF_ISN_KEY_BYTES == crypto_shorthash_KEYBYTES, "SipHash-2-4 takes 16-byte keys");

/* lwIP runs on one core per process: the key is per process, like lwIP's own globals. */
static uint8_t isn_key[RF_ISN_KEY_BYTES];
static bool isn_ready;
static bool isn_seeded; /* RF_ISN_SEED: fixed key, no clock term */

int
rf_isn_init(void)
{
	const char *seed;

	if (isn_ready)
		return 0;
	if (sodium_init() < 0) {
		fprintf(stderr, "rawflow: libsodium cannot start (no random source?): "
				"no secret for TCP initial sequence numbers\n");
		return -1;
	}
	seed = getenv("RF_ISN_SEED");
	if (seed != NULL && seed[0] != '\0') {
		crypto_generichash(isn_key, sizeof(isn_key), (const unsigned char *)seed,
				   strlen(seed), NULL, 0);
		isn_seeded = true;
		fprintf(stderr, "rawflow: WARNING: RF_ISN_SEED=%s: TCP initial sequence numbers are "
				"predictable (fixed key, no clock); for replaying captures in tests "
				"only, never on a real network\n", seed);
	} else {
		randombytes_buf(isn_key, sizeof(isn_key));
	}
	isn_ready = true;
	return 0;
}

uint32_t
rf_isn_compute(const uint8_t key[RF_ISN_KEY_BYTES], const uint8_t *tuple, size_t len,
	       uint64_t now_ns)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint32_t f;

	crypto_shorthash(h, tuple, len, key);
	memcpy(&f, h, sizeof(f));
	return f + (uint32_t)(now_ns / 4000);
}

static size_t
put_endpoint(uint8_t *p, uint8_t family, const void *addr, size_t addr_len, uint16_t port)
{
	p[0] = family;
	memcpy(p + 1, addr, addr_len);
	p[1 + addr_len] = (uint8_t)(port >> 8);
	p[2 + addr_len] = (uint8_t)port;
	return 3 + addr_len;
}

size_t
rf_isn_tuple_v4(uint8_t *buf, uint32_t local_ip_be, uint16_t local_port, uint32_t remote_ip_be,
		uint16_t remote_port)
{
	size_t n = put_endpoint(buf, 4, &local_ip_be, 4, local_port);

	return n + put_endpoint(buf + n, 4, &remote_ip_be, 4, remote_port);
}

static size_t
put_addr(uint8_t *p, const ip_addr_t *a, uint16_t port)
{
#if LWIP_IPV6
	if (IP_IS_V6(a))
		return put_endpoint(p, 6, ip_2_ip6(a)->addr, 16, port);
#endif
	return put_endpoint(p, 4, &ip_2_ip4(a)->addr, 4, port);
}

size_t
rf_isn_tuple(uint8_t *buf, const ip_addr_t *local_ip, uint16_t local_port,
	     const ip_addr_t *remote_ip, uint16_t remote_port)
{
	size_t n = put_addr(buf, local_ip, local_port);

	return n + put_addr(buf + n, remote_ip, remote_port);
}

u32_t
rf__tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
	    u16_t remote_port)
{
	uint8_t tuple[RF_ISN_TUPLE_MAX];
	struct timespec ts;
	size_t n;

	/* Only fails without any random source (no getrandom, no /dev/urandom): then no
	 * connection can be given a safe ISN, and a predictable one is not an option. */
	if (rf_isn_init() != 0)
		abort();
	n = rf_isn_tuple(tuple, local_ip, local_port, remote_ip, remote_port);
	if (isn_seeded)
		return rf_isn_compute(isn_key, tuple, n, 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return rf_isn_compute(isn_key, tuple, n, (uint64_t)ts.tv_sec * 1000000000u +
					       (uint64_t)ts.tv_nsec);
}
