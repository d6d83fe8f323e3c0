/*
 * Packet-pool pressure (pressure.c): received segments the stack drops while its packet pool
 * is low, so that it never runs dry (docs/scaling.md, "When the pool runs low").
 */
#ifndef RF_PRESSURE_H
#define RF_PRESSURE_H

#include <stdbool.h>
#include <stdint.h>

/* Low: fewer free elements than 1/8 of those the RX rings left free at start-up (at least 64,
 * or half of them for a pool barely larger than the rings). */
#define RF_PRESSURE_RESERVE_SHARE 8
#define RF_PRESSURE_RESERVE_MIN 64
/* Bytes a connection may hold (received, not released) and still get data while it is low. */
#define RF_PRESSURE_FLOW_SHARE (256 * 1024)

struct rf_pool_pressure {
	uint32_t avail;   /* free elements, sampled by the stack after each RX burst */
	uint32_t reserve; /* below it the pool becomes low; at 1.5 times it, no longer */
	bool low;
	uint64_t dropped; /* segments dropped while low (rf_stats.rx_pool_low_dropped) */
};
extern struct rf_pool_pressure rf_pool_pressure; /* one lwIP per process, like lwIP's globals */

/* Sets the reserve for a pool with free_mbufs free once the RX rings are filled (the stack
 * calls it at start-up). */
void rf_pool_pressure_init(unsigned int free_mbufs);
/* The stack's sample of the free elements (after each RX burst): sets low. */
void rf_pool_pressure_sample(uint32_t avail);
/* true while the pool is low: no new connection should start (rf_connect: RF_ENOBUFS). */
bool rf_pool_low(void);

#endif /* RF_PRESSURE_H */
