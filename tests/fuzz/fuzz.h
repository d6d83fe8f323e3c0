/*
 * The fuzz target's world: a whole rawflow stack (rf_loop_create on a net_ring port, the
 * loop's real passes, lwIP, flow/) with a listening flow and two connecting flows, fed
 * Ethernet frames and time steps by an input (input.c says how an input reads; README.md in
 * this folder is the user's page).
 *
 *   fz_start()         once per process: EAL + loop on --vdev=net_ring0 (no NIC, no root
 *                      beyond what the EAL wants, no hugepages), fake clock, deterministic
 *                      randomness; then fz_reset()
 *   fz_begin()         the flows of one input: listener on port FZ_LISTEN_PORT of every
 *                      address (both families), rf_connect to 198.18.0.1:80 and
 *                      [2001:2::1]:80; ARP and neighbour solicitations are answered, so the
 *                      stack's two SYNs are out when this returns
 *   fz_frame()         one frame from the fuzzer into the stack (see enum fz_mode)
 *   fz_act()           an application action (enum fz_action)
 *   fz_advance(ms)     moves the fake clock, a loop pass per 100 ms step
 *   fz_end()           back to the state fz_begin() starts from (fz_reset), then checks that
 *                      nothing leaked: every packet buffer back in the pool, no lwIP
 *                      connection block, no flow, no listener. A leak abort()s, which the
 *                      fuzzer and the replay both report as a crash.
 *
 * Frames given to the stack sit in memory AddressSanitizer watches, attached to packet-pool
 * mbufs as external buffers (memory.c): a read one byte past a frame, or after the stack
 * freed it, is reported (pool memory would hide both).
 */
#ifndef RF_FUZZ_H
#define RF_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#define FZ_STACK_MAC {0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
#define FZ_PEER_MAC {0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
#define FZ_STACK_IP "198.18.0.2"
#define FZ_PEER_IP "198.18.0.1"
#define FZ_STACK_IP6 "2001:2::2"
#define FZ_PEER_IP6 "2001:2::1"
#define FZ_LISTEN_PORT 7
#define FZ_CONNECT_PORT 80

/* Largest frame an input may give (longer ones are cut); the port's MTU is 1500. */
#define FZ_MAX_FRAME 4096

/* How the harness treats a frame's bytes before the stack gets them (input.c). */
enum fz_mode {
	FZ_RAW = 0,       /* as they are */
	FZ_FIX_CKSUM = 1, /* IPv4 header, TCP, UDP, ICMP and ICMPv6 checksums made right */
	/* TCP to a connection the stack opened (or answered with a SYN-ACK) to the frame's
	 * source port: destination port set to the stack's, the ack field taken as an offset
	 * from the stack's initial sequence number; checksums keep their error (a right one
	 * stays right, a wrong one stays exactly as wrong) */
	FZ_RELATIVE = 2,
	FZ_RELATIVE_FIX = 3, /* FZ_RELATIVE, then checksums made right */
};

enum fz_action {
	FZ_NONE = 0,
	FZ_WRITE = 1,       /* every connected flow writes 3000 bytes */
	FZ_CLOSE_ACCEPTED = 2,
	FZ_CLOSE_CONNECTED = 3,
	FZ_SHUTDOWN_WR = 4, /* every flow */
	FZ_HOLD = 5,        /* keep what is read from now on (the windows close) */
	FZ_RELEASE = 6,     /* release what was held */
	FZ_ABORT = 7,       /* every flow */
};

/* Observers, for a test that checks what the stack did with an input (ooseq_window.c); NULL
 * in the fuzzer and the replay. fz_seen_sent: every frame the stack sent, as it comes off
 * the wire; fz_seen_read: every buffer a flow read (accepted: a flow of the listener). */
extern void (*fz_seen_sent)(const uint8_t *frame, size_t len);
extern void (*fz_seen_read)(int accepted, const uint8_t *data, size_t len);

void fz_start(void);
void fz_begin(void);
void fz_frame(const uint8_t *f, size_t len, enum fz_mode mode);
void fz_act(enum fz_action a);
void fz_advance(uint64_t ms);
void fz_end(void);

/* input.c: one input, as LLVMFuzzerTestOneInput runs it. */
void fz_run_input(const uint8_t *data, size_t size);

/* frames.c: checksums and the FZ_RELATIVE rewrite, on a frame in memory. */
struct fz_iss {
	uint8_t family; /* 4 or 6 */
	uint16_t peer_port, stack_port;
	uint32_t iss;
};
/* Big-endian fields of a frame. */
static inline uint16_t
fz_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
fz_get32(const uint8_t *p)
{
	return (uint32_t)fz_get16(p) << 16 | fz_get16(p + 2);
}

static inline void
fz_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
fz_put32(uint8_t *p, uint32_t v)
{
	fz_put16(p, (uint16_t)(v >> 16));
	fz_put16(p + 2, (uint16_t)v);
}

void fz_fix_frame(uint8_t *f, size_t len, enum fz_mode mode, const struct fz_iss *(*find)(
	uint8_t family, uint16_t peer_port));
uint16_t fz_cksum_fold(uint32_t sum);
uint32_t fz_cksum_add(const uint8_t *p, size_t len, uint32_t sum);

#endif /* RF_FUZZ_H */
