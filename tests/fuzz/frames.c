/*
 * The fuzz target's frame rewrites (enum fz_mode in fuzz.h): checksums made right, and TCP
 * made relative to a connection of the stack's, on a frame in memory before it is handed to
 * the stack. Whatever the bytes, nothing here reads or writes outside [f, f + len): the
 * headers are only followed as far as the frame holds them.
 */
#include "fuzz.h"

#define ETH_HLEN 14
#define IP4_HLEN 20
#define IP6_HLEN 40
#define TCP_HLEN 20

uint32_t
fz_cksum_add(const uint8_t *p, size_t len, uint32_t sum)
{
	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

uint16_t
fz_cksum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The transport protocol's payload as the frame holds it, and the sum of its pseudo-header
 * (ICMP for IPv4 has none). */
struct l4 {
	uint8_t family, proto;
	uint8_t *p;
	size_t len;
	uint32_t pseudo;
};

/* The right checksum of l at offset off (the field counted as zero). */
static uint16_t
l4_cksum(const struct l4 *l, size_t off)
{
	uint32_t sum = fz_cksum_add(l->p, off, l->pseudo);
	uint16_t c;

	sum = fz_cksum_add(l->p + off + 2, l->len - off - 2, sum);
	c = fz_cksum_fold(sum);
	return l->proto == 17 && c == 0 ? 0xffff : c; /* UDP: 0 means "no checksum" */
}

/* Where the protocol keeps its checksum, or 0 when it has none or the frame is too short. */
static size_t
cksum_offset(const struct l4 *l)
{
	switch (l->proto) {
	case 6:
		return l->len >= TCP_HLEN ? 16 : 0;
	case 17:
		return l->len >= 8 ? 6 : 0;
	case 1:
	case 58:
		return l->len >= 4 ? 2 : 0;
	default:
		return 0;
	}
}

/* IPv4: the header checksum made right when asked; the transport part unless fragmented. */
static int
parse4(uint8_t *ip, size_t avail, enum fz_mode mode, struct l4 *l)
{
	size_t ihl, tot;

	if (avail < IP4_HLEN || ip[0] >> 4 != 4)
		return -1;
	ihl = (ip[0] & 0xfu) * 4u;
	if (ihl < IP4_HLEN || ihl > avail)
		return -1;
	if (mode & FZ_FIX_CKSUM) {
		fz_put16(ip + 10, 0);
		fz_put16(ip + 10, fz_cksum_fold(fz_cksum_add(ip, ihl, 0)));
	}
	tot = fz_get16(ip + 2);
	if (tot < ihl || (fz_get16(ip + 6) & 0x3fff) != 0) /* short, or a fragment */
		return -1;
	l->family = 4;
	l->proto = ip[9];
	l->p = ip + ihl;
	l->len = (tot < avail ? tot : avail) - ihl;
	l->pseudo = l->proto == 1 ? 0 : fz_cksum_add(ip + 12, 8, l->proto + (uint32_t)l->len);
	return 0;
}

/* IPv6: only a transport header right after the fixed header (no extension headers). */
static int
parse6(uint8_t *ip, size_t avail, struct l4 *l)
{
	size_t plen;

	if (avail < IP6_HLEN || ip[0] >> 4 != 6)
		return -1;
	plen = fz_get16(ip + 4);
	l->family = 6;
	l->proto = ip[6];
	l->p = ip + IP6_HLEN;
	l->len = plen < avail - IP6_HLEN ? plen : avail - IP6_HLEN;
	l->pseudo = fz_cksum_add(ip + 8, 32, l->proto + (uint32_t)l->len);
	return 0;
}

void
fz_fix_frame(uint8_t *f, size_t len, enum fz_mode mode,
	     const struct fz_iss *(*find)(uint8_t family, uint16_t peer_port))
{
	struct l4 l;
	size_t off;
	int rc;

	if (mode == FZ_RAW || len < ETH_HLEN)
		return;
	switch (fz_get16(f + 12)) {
	case 0x0800:
		rc = parse4(f + ETH_HLEN, len - ETH_HLEN, mode, &l);
		break;
	case 0x86dd:
		rc = parse6(f + ETH_HLEN, len - ETH_HLEN, &l);
		break;
	default:
		return;
	}
	if (rc != 0 || (off = cksum_offset(&l)) == 0)
		return;
	if ((mode & FZ_RELATIVE) && l.proto == 6) {
		const struct fz_iss *c = find(l.family, fz_get16(l.p));

		if (c != NULL) {
			/* the checksum's error, kept across the rewrite */
			uint16_t err = (uint16_t)(fz_get16(l.p + off) ^ l4_cksum(&l, off));

			fz_put16(l.p + 2, c->stack_port);
			fz_put32(l.p + 8, fz_get32(l.p + 8) + c->iss);
			fz_put16(l.p + off, (uint16_t)(l4_cksum(&l, off) ^ err));
		}
	}
	if (mode & FZ_FIX_CKSUM)
		fz_put16(l.p + off, l4_cksum(&l, off));
}
