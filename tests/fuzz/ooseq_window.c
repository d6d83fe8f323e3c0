/*
 * test_ooseq_window: lwIP 2.1.3's out-of-order window overrun (stack/patches/0002), through a
 * whole rawflow stack under AddressSanitizer and UndefinedBehaviorSanitizer, checked on the
 * wire and at the application (suites fuzz and security; docs/security.md).
 *
 *   test_ooseq_window INPUT...
 *
 * Each INPUT is a fuzz input (input.c's records; tests/fuzz/make_corpus.py writes
 * regress-lwip-tcp-ooseq-replace-trimmed-last-v4 and -v6): a passive open from the peer
 * without window scaling, then segments of one connection. It runs through the fuzz target
 * as the replay runs it, frames in watched memory (memory.c), and this program watches what
 * the stack sent and what the application read (fz_seen_sent, fz_seen_read). It asserts:
 *   - no ACK from the stack acknowledges a byte past the right edge it had advertised
 *     (ACK + window of its earlier segments, the SYN-ACK's first): no byte accepted beyond
 *     the window;
 *   - the window filled exactly: an ACK of the first window's edge with window 0;
 *   - at the end every byte and the FIN the peer sent are acknowledged (the flow still works
 *     after the attack), and the application read every byte once, in order, each equal to
 *     its offset in the stream (& 0xff): bytes past the window, which the input makes differ,
 *     were not taken.
 * An lwIP assertion, a sanitizer report or a leak ends the program with an error (as in the
 * replay). The peer is the first SYN without ACK in the input; the stream's bytes are
 * (offset & 0xff), offsets from its ISN + 1.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define REC_HDR 4
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_ACK 0x10

struct seg {
	int family;
	uint16_t sport, dport, wnd;
	uint32_t seq, ack;
	uint8_t flags;
	const uint8_t *data;
	uint32_t len;
};

/* The TCP segment of an Ethernet frame (IPv4, or IPv6 without extension headers). */
static bool
parse(const uint8_t *f, size_t len, struct seg *s)
{
	const uint8_t *ip = f + 14, *tcp;
	size_t iplen;

	if (len < 14 + 40)
		return false;
	if (fz_get16(f + 12) == 0x0800 && ip[9] == 6) {
		s->family = 4;
		iplen = fz_get16(ip + 2);
		tcp = ip + (ip[0] & 0xfu) * 4;
	} else if (fz_get16(f + 12) == 0x86dd && ip[6] == 6) {
		s->family = 6;
		iplen = 40u + fz_get16(ip + 4);
		tcp = ip + 40;
	} else {
		return false;
	}
	if (iplen > len - 14 || tcp + 20 > ip + iplen || tcp + (tcp[12] >> 4) * 4 > ip + iplen)
		return false;
	s->sport = fz_get16(tcp);
	s->dport = fz_get16(tcp + 2);
	s->seq = fz_get32(tcp + 4);
	s->ack = fz_get32(tcp + 8);
	s->flags = tcp[13];
	s->wnd = fz_get16(tcp + 14);
	s->data = tcp + (tcp[12] >> 4) * 4;
	s->len = (uint32_t)(ip + iplen - s->data);
	return true;
}

static bool
seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* What the input says: the peer's connection, and how far its stream goes (FIN included). */
static struct {
	int family;
	uint16_t port;
	uint32_t isn;
	uint32_t end; /* offset from isn + 1 past the last byte (and FIN) the peer sent */
	bool found;
} in;

/* What the stack did. */
static struct {
	bool synack, edge_zero, ack_past_edge, bad_byte;
	uint32_t wnd0, edge, last_ack, past_by, past_ack;
	uint64_t read, bad_at;
	unsigned int segs;
} ob;

static void
seen_sent(const uint8_t *f, size_t len)
{
	struct seg s;

	if (!in.found || !parse(f, len, &s) || s.family != in.family || s.dport != in.port)
		return;
	if ((s.flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)) {
		ob.synack = true;
		ob.wnd0 = s.wnd; /* the peer offered no window scaling */
		ob.edge = in.isn + 1 + s.wnd;
		ob.last_ack = s.ack;
		return;
	}
	if (!ob.synack || !(s.flags & TCP_ACK))
		return;
	ob.segs++;
	if (seq_gt(s.ack, ob.edge) && !ob.ack_past_edge) {
		ob.ack_past_edge = true;
		ob.past_ack = s.ack - (in.isn + 1);
		ob.past_by = s.ack - ob.edge;
	}
	if (s.ack == in.isn + 1 + ob.wnd0 && s.wnd == 0)
		ob.edge_zero = true;
	if (seq_gt(s.ack + s.wnd, ob.edge))
		ob.edge = s.ack + s.wnd;
	ob.last_ack = s.ack;
}

static void
seen_read(int accepted, const uint8_t *data, size_t len)
{
	if (!accepted)
		return;
	for (size_t i = 0; i < len; i++, ob.read++)
		if (!ob.bad_byte && data[i] != (uint8_t)ob.read) {
			ob.bad_byte = true;
			ob.bad_at = ob.read;
		}
}

/* The peer's SYN and the end of its stream, from the input's frames. */
static void
scan_input(const uint8_t *d, size_t n)
{
	memset(&in, 0, sizeof(in));
	while (n >= REC_HDR) {
		size_t len = (size_t)d[2] << 8 | d[3];
		struct seg s;

		d += REC_HDR;
		n -= REC_HDR;
		if (len > n)
			len = n;
		if (parse(d, len, &s)) {
			if (!in.found && (s.flags & (TCP_SYN | TCP_ACK)) == TCP_SYN) {
				in.found = true;
				in.family = s.family;
				in.port = s.sport;
				in.isn = s.seq;
			} else if (in.found && s.family == in.family && s.sport == in.port) {
				uint32_t end = s.seq - (in.isn + 1) + s.len +
					       (s.flags & TCP_FIN ? 1u : 0u);

				if (end > in.end && end < 0x80000000u)
					in.end = end;
			}
		}
		d += len;
		n -= len;
	}
}

static uint8_t *
read_file(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;

	if (fp != NULL && fseek(fp, 0, SEEK_END) == 0 && (len = ftell(fp)) > 0 &&
	    fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len)) != NULL &&
	    fread(buf, 1, (size_t)len, fp) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	if (buf != NULL)
		*n = (size_t)len;
	if (fp != NULL)
		fclose(fp);
	return buf;
}

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("FAIL: %s: ", name);                        \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
			ok = false;                                        \
		}                                                          \
	} while (0)

static bool
check_input(const char *path)
{
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = 0;
	uint8_t *d = read_file(path, &n);
	bool ok = true;

	if (d == NULL) {
		printf("FAIL: %s: cannot read it\n", path);
		return false;
	}
	scan_input(d, n);
	CHECK(in.found, "no SYN from the peer in the input");
	memset(&ob, 0, sizeof(ob));
	fz_run_input(d, n);
	free(d);
	if (!ok)
		return false;
	CHECK(ob.synack, "no SYN-ACK to port %u", in.port);
	CHECK(!ob.ack_past_edge, "the stack acknowledged byte %u, %u bytes past the right edge "
	      "it had advertised", ob.past_ack, ob.past_by);
	CHECK(ob.edge_zero, "no ACK of the first window's edge (offset %u) with window 0",
	      ob.wnd0);
	CHECK(ob.last_ack == in.isn + 1 + in.end, "last ACK at offset %u, the peer sent %u "
	      "(FIN included)", ob.last_ack - (in.isn + 1), in.end);
	CHECK(ob.read + 1 == in.end, "the application read %llu bytes, the peer sent %u",
	      (unsigned long long)ob.read, in.end - 1);
	CHECK(!ob.bad_byte, "byte %llu read is not the stream's (a byte from past the window?)",
	      (unsigned long long)ob.bad_at);
	if (ok)
		printf("ok: %s (IPv%d): window %u filled to its edge (ACK with window 0), no ACK "
		       "past an advertised edge in %u segments; then all %u bytes and the FIN "
		       "acknowledged and read in order\n",
		       name, in.family, ob.wnd0, ob.segs, in.end - 1);
	return ok;
}

int
main(int argc, char **argv)
{
	int failed = 0;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fprintf(argc < 2 ? stderr : stdout,
			"usage: test_ooseq_window INPUT...\n"
			"Runs each fuzz input (a passive open and one connection's segments, e.g.\n"
			"tests/fuzz/corpus/regress-lwip-tcp-ooseq-*) through the fuzz target and\n"
			"checks that the stack acknowledged nothing past its advertised window, and\n"
			"that every byte the peer sent was acknowledged and read once, in order.\n");
		return argc < 2 ? 2 : 0;
	}
	fz_run_input(NULL, 0); /* the stack started and warmed up (input.c) before watching */
	fz_seen_sent = seen_sent;
	fz_seen_read = seen_read;
	for (int i = 1; i < argc; i++)
		if (!check_input(argv[i]))
			failed++;
	return failed == 0 ? 0 : 1;
}
