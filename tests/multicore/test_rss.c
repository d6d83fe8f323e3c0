/*
 * drivers/rss.c's Toeplitz hash against the verification suite Microsoft publishes for RSS
 * (the standard 40-byte key; input: source address, destination address, source port,
 * destination port). The owner of a segment, and the local port of an active open with
 * --cores, rest on this hash being the one NICs compute. Needs no EAL.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "rf_drivers.h"

struct v4 {
	const char *src, *dst;
	uint16_t sport, dport;
	uint32_t hash;
};

struct v6 {
	const char *src, *dst;
	uint16_t sport, dport;
	uint32_t hash;
};

static const struct v4 vec4[] = {
	{"66.9.149.187", "161.142.100.80", 2794, 1766, 0x51ccc178},
	{"199.92.111.2", "65.69.140.83", 14230, 4739, 0xc626b0ea},
	{"24.19.198.95", "12.22.207.184", 12898, 38024, 0x5c2b394a},
	{"38.27.205.30", "209.142.163.6", 48228, 2217, 0xafc7327f},
	{"153.39.163.191", "202.188.127.2", 44251, 1303, 0x10e828a2},
};

static const struct v6 vec6[] = {
	{"3ffe:2501:200:1fff::7", "3ffe:2501:200:3::1", 2794, 1766, 0x40207d3d},
	{"3ffe:501:8::260:97ff:fe40:efab", "ff02::1", 14230, 4739, 0xdde51bbf},
	{"3ffe:1900:4545:3:200:f8ff:fe21:67cf", "fe80::200:f8ff:fe21:67cf", 44251, 38024,
	 0x02d1feef},
};

int
main(void)
{
	struct rf_rss r;
	int bad = 0, n = 0;

	rf_rss_default(&r, 2, 128);
	for (size_t i = 0; i < sizeof(vec4) / sizeof(vec4[0]); i++, n++) {
		struct in_addr s, d;
		uint32_t h;

		inet_pton(AF_INET, vec4[i].src, &s);
		inet_pton(AF_INET, vec4[i].dst, &d);
		h = rf_rss_hash4(&r, s.s_addr, d.s_addr, vec4[i].sport, vec4[i].dport);
		if (h != vec4[i].hash) {
			printf("FAIL %s:%u -> %s:%u: 0x%08x, expected 0x%08x\n", vec4[i].src,
			       vec4[i].sport, vec4[i].dst, vec4[i].dport, h, vec4[i].hash);
			bad++;
		}
	}
	for (size_t i = 0; i < sizeof(vec6) / sizeof(vec6[0]); i++, n++) {
		uint8_t s[16], d[16];
		uint32_t h;

		inet_pton(AF_INET6, vec6[i].src, s);
		inet_pton(AF_INET6, vec6[i].dst, d);
		h = rf_rss_hash6(&r, s, d, vec6[i].sport, vec6[i].dport);
		if (h != vec6[i].hash) {
			printf("FAIL [%s]:%u -> [%s]:%u: 0x%08x, expected 0x%08x\n", vec6[i].src,
			       vec6[i].sport, vec6[i].dst, vec6[i].dport, h, vec6[i].hash);
			bad++;
		}
	}
	/* the default table spreads hashes over the queues in turn */
	for (uint16_t i = 0; i < 128; i++)
		if (rf_rss_queue(&r, i) != i % 2) {
			printf("FAIL default table entry %u: queue %u\n", i, rf_rss_queue(&r, i));
			bad++;
			break;
		}
	/* the symmetric key: every vector's reverse hashes alike */
	rf_rss_symmetric(&r, 2, 128);
	for (size_t i = 0; i < sizeof(vec4) / sizeof(vec4[0]); i++) {
		struct in_addr s, d;

		inet_pton(AF_INET, vec4[i].src, &s);
		inet_pton(AF_INET, vec4[i].dst, &d);
		if (rf_rss_hash4(&r, s.s_addr, d.s_addr, vec4[i].sport, vec4[i].dport) !=
		    rf_rss_hash4(&r, d.s_addr, s.s_addr, vec4[i].dport, vec4[i].sport)) {
			printf("FAIL symmetric key: %s:%u <-> %s:%u hash differently\n", vec4[i].src,
			       vec4[i].sport, vec4[i].dst, vec4[i].dport);
			bad++;
		}
	}
	for (size_t i = 0; i < sizeof(vec6) / sizeof(vec6[0]); i++) {
		uint8_t s[16], d[16];

		inet_pton(AF_INET6, vec6[i].src, s);
		inet_pton(AF_INET6, vec6[i].dst, d);
		if (rf_rss_hash6(&r, s, d, vec6[i].sport, vec6[i].dport) !=
		    rf_rss_hash6(&r, d, s, vec6[i].dport, vec6[i].sport)) {
			printf("FAIL symmetric key: [%s]:%u <-> [%s]:%u hash differently\n",
			       vec6[i].src, vec6[i].sport, vec6[i].dst, vec6[i].dport);
			bad++;
		}
	}
	printf("%d of %d Toeplitz vectors match%s\n", n - bad, n,
	       bad ? "" : "; default table ok; symmetric key symmetric");
	return bad ? 1 : 0;
}
