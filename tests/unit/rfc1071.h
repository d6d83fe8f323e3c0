/*
 * RFC 1071's definition of the Internet checksum, one 16-bit word at a time: what the unit
 * suites compare the fast routines against (stack/chksum.c, and the checksums the capture
 * fills in, drivers/capture.c).
 */
#ifndef RF_UNIT_RFC1071_H
#define RF_UNIT_RFC1071_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The non-inverted sum, folded to 16 bits, of the words in memory order (an odd last byte
 * padded with a zero byte), as LWIP_CHKSUM returns it. */
static inline uint16_t
rfc1071_sum(const uint8_t *p, size_t n)
{
	uint64_t sum = 0;
	uint16_t w;

	for (; n >= 2; n -= 2, p += 2) {
		memcpy(&w, p, 2);
		sum += w;
	}
	if (n == 1) {
		w = 0;
		memcpy(&w, p, 1);
		sum += w;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Ones' complement addition of two 16-bit words (memory order, as the sums above). */
static inline uint16_t
rfc1071_add(uint16_t a, uint16_t b)
{
	uint32_t t = (uint32_t)a + b;

	return (uint16_t)((t & 0xffff) + (t >> 16));
}

/* The TCP checksum to put in the header of the len-byte segment seg (its checksum field
 * counted as it is): the inverted sum over the pseudo-header (alen 4: RFC 793's for IPv4;
 * 16: RFC 8200's for IPv6, section 8.1) and the segment. */
static inline uint16_t
rfc1071_tcp(const uint8_t *src, const uint8_t *dst, size_t alen, const uint8_t *seg, size_t len)
{
	/* IPv4: zero, protocol 6, TCP length; IPv6: 32-bit length, 3 zero bytes, next header */
	const uint8_t t4[4] = {0, 6, (uint8_t)(len >> 8), (uint8_t)len};
	const uint8_t t6[8] = {0, 0, (uint8_t)(len >> 8), (uint8_t)len, 0, 0, 0, 6};
	/* every part but the last has an even length: their sums add up */
	uint32_t sum = (uint32_t)rfc1071_sum(src, alen) + rfc1071_sum(dst, alen) +
		       (alen == 16 ? rfc1071_sum(t6, 8) : rfc1071_sum(t4, 4)) +
		       rfc1071_sum(seg, len);

	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#endif /* RF_UNIT_RFC1071_H */
