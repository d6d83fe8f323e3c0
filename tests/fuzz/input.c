/*
 * The fuzz target's entry point: one input is a sequence of records, each a time step, an
 * application action and an Ethernet frame, run against the stack of fuzz.h.
 *
 *   record = step:u8  ctl:u8  len:u16 (big-endian)  frame:len bytes
 *
 *   step   the fake clock moves first: (step & 0x7f) x 10 ms when bit 7 is clear, (step &
 *          0x7f) seconds when it is set (a loop pass every 100 ms, so lwIP's timers run:
 *          retransmissions, TIME-WAIT, reassembly timeouts); an input covers at most
 *          FZ_MAX_INPUT_S seconds, later steps are not taken
 *   ctl    bits 0-1 how the frame is taken (enum fz_mode: raw, checksums fixed, TCP relative
 *          to the stack's connection with the frame's source port, both); bits 2-4 an
 *          application action done before the frame (enum fz_action: write, close, shut
 *          down, hold or release what was read, abort); bits 5-7 unused
 *   len    the frame's length; cut to what the input has left (and to FZ_MAX_FRAME);
 *          0: no frame, only the step and the action
 *
 * Before the first record the stack listens on port 7 (both families) and has sent its SYNs
 * to 198.18.0.1:80 and [2001:2::1]:80; after the last, everything is reset and checked for
 * leaks (fz_end). The peer is 198.18.0.1 / 2001:2::1 at 02:00:00:00:00:01, the stack
 * 198.18.0.2 / 2001:2::2 at 02:00:00:00:00:02; other addresses of 198.18.0.0/24 and
 * 2001:2::/64 are answered for too (ARP, neighbour discovery), as the peer's.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"

#define FZ_MAX_INPUT_S 600
#define FZ_RECORD_HDR 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A TCP segment from the peer with plen zero bytes of payload, into f (at least 94 + plen
 * bytes); checksums are left to FZ_FIX_CKSUM. Returns its length. */
static size_t
peer_tcp(uint8_t *f, bool v6, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
	 uint8_t flags, uint16_t plen)
{
	static const uint8_t macs[12] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
	uint8_t *tcp = f + (v6 ? 54 : 34);
	size_t len = (size_t)(tcp - f) + 20 + plen;

	memset(f, 0, len);
	memcpy(f, macs, sizeof(macs));
	fz_put16(f + 12, v6 ? 0x86dd : 0x0800);
	if (v6) {
		f[14] = 0x60;
		fz_put16(f + 18, (uint16_t)(20 + plen));
		f[20] = 6;
		f[21] = 64;
		inet_pton(AF_INET6, FZ_PEER_IP6, f + 22);
		inet_pton(AF_INET6, FZ_STACK_IP6, f + 38);
	} else {
		f[14] = 0x45;
		fz_put16(f + 16, (uint16_t)(40 + plen));
		f[22] = 64;
		f[23] = 6;
		inet_pton(AF_INET, FZ_PEER_IP, f + 26);
		inet_pton(AF_INET, FZ_STACK_IP, f + 30);
	}
	fz_put16(tcp, sport);
	fz_put16(tcp + 2, dport);
	fz_put32(tcp + 4, seq);
	fz_put32(tcp + 8, ack);
	tcp[12] = 0x50;
	tcp[13] = flags;
	fz_put16(tcp + 14, 65535);
	return len;
}

/* One conversation before the first input, so that the first input runs the same code as
 * when it comes later (first-time paths: flow and buffer free lists, caches). Both families:
 * handshakes both ways, data both ways, closes from both ends. */
static void
warm_up(void)
{
	enum { SYN = 0x02, FIN = 0x01, ACK = 0x10 };
	uint8_t f[256];

	fz_begin();
	for (int v6 = 0; v6 < 2; v6++) {
		fz_frame(f, peer_tcp(f, v6, FZ_CONNECT_PORT, 0, 5000, 1, SYN | ACK, 0),
			 FZ_RELATIVE_FIX);
		fz_frame(f, peer_tcp(f, v6, 40000, FZ_LISTEN_PORT, 1000, 0, SYN, 0), FZ_FIX_CKSUM);
		fz_frame(f, peer_tcp(f, v6, 40000, FZ_LISTEN_PORT, 1001, 1, ACK, 100),
			 FZ_RELATIVE_FIX);
	}
	fz_act(FZ_WRITE);
	fz_advance(300);
	fz_act(FZ_CLOSE_ACCEPTED);
	fz_act(FZ_CLOSE_CONNECTED);
	for (int v6 = 0; v6 < 2; v6++) {
		fz_frame(f, peer_tcp(f, v6, FZ_CONNECT_PORT, 0, 5001, 3002, FIN | ACK, 0),
			 FZ_RELATIVE_FIX);
		fz_frame(f, peer_tcp(f, v6, 40000, FZ_LISTEN_PORT, 1101, 3002, FIN | ACK, 0),
			 FZ_RELATIVE_FIX);
	}
	fz_advance(2000);
	fz_end();
}

void
fz_run_input(const uint8_t *data, size_t size)
{
	static bool started;
	uint64_t elapsed_ms = 0;

	if (!started) {
		fz_start();
		warm_up();
		started = true;
	}
	fz_begin();
	while (size >= FZ_RECORD_HDR) {
		uint8_t step = data[0], ctl = data[1];
		size_t len = (size_t)data[2] << 8 | data[3];
		uint64_t ms = (step & 0x7fu) * (step & 0x80 ? 1000u : 10u);

		data += FZ_RECORD_HDR;
		size -= FZ_RECORD_HDR;
		if (len > size)
			len = size;
		if (elapsed_ms + ms <= FZ_MAX_INPUT_S * 1000u) {
			fz_advance(ms);
			elapsed_ms += ms;
		}
		fz_act((enum fz_action)((ctl >> 2) & 7));
		if (len > 0)
			fz_frame(data, len, (enum fz_mode)(ctl & 3));
		data += len;
		size -= len;
	}
	fz_end();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run_input(data, size);
	return 0;
}
