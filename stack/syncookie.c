/*
 * SYN cookies (RFC 4987 section 3.6), for the hooks stack/patches/0005 adds to lwIP.
 *
 * When a listener's backlog of half-open connections is full, lwIP answers a SYN with a
 * SYN-ACK whose sequence number is a cookie and keeps nothing; the client's ACK brings the
 * cookie back (as its acknowledgement minus one) and, if it checks out, the connection is
 * created then. A cookie is 32 bits:
 *
 *     bits 31..3  a MAC: SipHash-2-4 under a per-process secret of (4-tuple, the client's
 *                 initial sequence number, the time slot, the MSS index)
 *     bits  2..1  the MSS index into {536, 1220, 1440, 1460}: the largest not above the
 *                 client's (effective) MSS; the SYN-ACK announces that value
 *     bit   0     the parity of the time slot (64 s, from lwIP's sys_now())
 *
 * A cookie is accepted in its own slot and the next one (64 to 128 s), and only while
 * cookies were issued in the last two slots, so a stray ACK to a quiet listener is never
 * taken for one. A blind attacker forges a cookie with probability 2^-29 per ACK. The
 * cookie cannot remember window scaling or SACK, so neither is offered (docs/security.md).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lwip/ip_addr.h"
#include "lwip/sys.h"
#include "rf_lwip_hooks.h"

#include "rf_security.h"

static const uint16_t mss_table[4] = {536, 1220, 1440, 1460};

uint64_t rf_syncookies_sent, rf_syncookies_valid;

static uint8_t cookie_key[RF_ISN_KEY_BYTES];
static bool cookie_ready;
static uint32_t last_issued_slot;
static bool issued;

static uint32_t
mac(const uint8_t key[RF_ISN_KEY_BYTES], const uint8_t *tuple, size_t len, uint32_t client_isn,
    uint32_t slot, unsigned int mss_index)
{
	uint8_t msg[RF_ISN_TUPLE_MAX + 9], h[crypto_shorthash_BYTES];
	uint32_t v;

	memcpy(msg, tuple, len);
	memcpy(msg + len, &client_isn, 4);
	memcpy(msg + len + 4, &slot, 4);
	msg[len + 8] = (uint8_t)mss_index;
	crypto_shorthash(h, msg, len + 9, key);
	memcpy(&v, h, sizeof(v));
	return v;
}

uint32_t
rf_syncookie_make(const uint8_t key[RF_ISN_KEY_BYTES], const uint8_t *tuple, size_t len,
		  uint32_t client_isn, uint32_t now_ms, uint16_t *mss)
{
	uint32_t slot = now_ms / RF_SYNCOOKIE_SLOT_MS;
	unsigned int idx = 0;

	for (unsigned int i = 0; i < 4; i++)
		if (mss_table[i] <= *mss)
			idx = i;
	*mss = mss_table[idx];
	return (mac(key, tuple, len, client_isn, slot, idx) & ~7u) | idx << 1 | (slot & 1);
}

uint16_t
rf_syncookie_check(const uint8_t key[RF_ISN_KEY_BYTES], const uint8_t *tuple, size_t len,
		   uint32_t client_isn, uint32_t cookie, uint32_t now_ms)
{
	uint32_t now_slot = now_ms / RF_SYNCOOKIE_SLOT_MS;
	uint32_t slot = (now_slot & 1) == (cookie & 1) ? now_slot : now_slot - 1;
	unsigned int idx = (cookie >> 1) & 3;

	if ((mac(key, tuple, len, client_isn, slot, idx) & ~7u) != (cookie & ~7u))
		return 0;
	return mss_table[idx];
}

u32_t
rf__tcp_syncookie_make(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
		       u16_t remote_port, u32_t client_isn, u16_t *mss)
{
	uint8_t tuple[RF_ISN_TUPLE_MAX];
	size_t n = rf_isn_tuple(tuple, local_ip, local_port, remote_ip, remote_port);
	uint32_t now = sys_now();

	if (!cookie_ready) {
		if (rf_isn_init() != 0) /* starts libsodium; fails only without a random source */
			abort();
		randombytes_buf(cookie_key, sizeof(cookie_key));
		cookie_ready = true;
	}
	last_issued_slot = now / RF_SYNCOOKIE_SLOT_MS;
	issued = true;
	rf_syncookies_sent++;
	return rf_syncookie_make(cookie_key, tuple, n, client_isn, now, mss);
}

u16_t
rf__tcp_syncookie_check(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
			u16_t remote_port, u32_t client_isn, u32_t cookie)
{
	uint8_t tuple[RF_ISN_TUPLE_MAX];
	uint32_t now = sys_now();
	uint16_t mss;
	size_t n;

	if (!issued || now / RF_SYNCOOKIE_SLOT_MS - last_issued_slot > 1)
		return 0;
	n = rf_isn_tuple(tuple, local_ip, local_port, remote_ip, remote_port);
	mss = rf_syncookie_check(cookie_key, tuple, n, client_isn, cookie, now);
	rf_syncookies_valid += mss != 0;
	return mss;
}
