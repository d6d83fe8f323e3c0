/*
 * Between the fuzz target's files (wire.c: the wire, passes and time; app.c: the flows and
 * the reset between inputs).
 */
#ifndef RF_FUZZ_INTERNAL_H
#define RF_FUZZ_INTERNAL_H

#include <stdbool.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "rawflow.h"

#include "fuzz.h"

/* Fake time at the start of every input, in ms (non-zero: 0 means "the TSC" to
 * rf_clock_fake). */
#define FZ_T0 1000000u
#define FZ_MAX_ISS 16
#define FZ_MAX_APPS 32
#define FZ_MAX_HELD 64

struct fz_app {
	struct rf_flow *flow; /* NULL once freed, or given up (aborted) */
	bool accepted, connected, reading, closing;
	struct rf_buf *held[FZ_MAX_HELD];
	unsigned int nheld;
};

struct fz {
	struct rf_loop *loop;
	struct rte_ring *ring;
	struct rte_mempool *pool;
	char prefix[64];
	uint32_t stack_ip_be;
	uint8_t stack_ip6[16];
	uint64_t now;
	struct rte_mbuf *inject[32]; /* frames for the next pass */
	unsigned int ninject;
	struct fz_iss iss[FZ_MAX_ISS]; /* the stack's SYNs and SYN-ACKs, oldest first */
	unsigned int niss;
	struct rf_listener *ls;
	struct fz_app apps[FZ_MAX_APPS];
	unsigned int napps;
	bool hold;
	uint64_t mbufs_baseline;
	unsigned int tcp_tmr_calls;
};

extern struct fz fz;

/* wire.c */
void fz_collect(void);
unsigned int fz_pass(void);
/* Passes at the current time until one does nothing (at most 64). */
void fz_settle(void);
const struct fz_iss *fz_find_iss(uint8_t family, uint16_t peer_port);

/* memory.c: frame memory AddressSanitizer watches (fz_mem_init before the EAL starts). */
void fz_mem_init(void);
void fz_mem_check(struct rte_mempool *pool);
/* A packet-pool mbuf holding a copy of the frame; abort()s when out of memory. */
struct rte_mbuf *fz_mem_frame(const uint8_t *f, size_t len);

/* app.c: after the loop is created: the reset, and the baseline of packet buffers. */
void fz_reset_init(void);

#endif /* RF_FUZZ_INTERNAL_H */
