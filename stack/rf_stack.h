/*
 * stack/: lwIP integration.
 *
 * lwIP keeps its state in globals, so a process holds one stack: one struct rf_stack, owned by
 * the lcore that runs its loop. It wires one lwIP netif per DPDK port (stack/netif.c), keeps
 * time from the TSC (stack/clock.c), runs lwIP's timers when due (stack/timers.c) and runs the
 * per-core loop (stack/engine.c):
 *
 *     rx burst -> stack input -> due timers -> completions (flow/'s hook) -> tx flush
 *
 * Received frames stay in their mbufs: each becomes a pbuf_custom that lives in the mbuf's
 * private area (struct rf_mbuf_priv), so wrapping allocates nothing; the pbuf's free function
 * frees the mbuf. flow/ uses the rest of the private area for its buffer header.
 */
#ifndef RF_STACK_H
#define RF_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>

#include "lwip/netif.h"
#include "lwip/pbuf.h"

#include "rf_drivers.h"

#define RF_MAX_PORTS 4

/* Bytes of the mbuf private area left for flow/'s buffer header, after the pbuf_custom. */
#define RF_PRIV_UPPER_SIZE 64

struct rf_mbuf_priv {
	struct pbuf_custom pc;
	uint8_t upper[RF_PRIV_UPPER_SIZE] __rte_aligned(8);
};

static inline struct rf_mbuf_priv *
rf_mbuf_priv(struct rte_mbuf *m)
{
	return (struct rf_mbuf_priv *)rte_mbuf_to_priv(m);
}

/* The mbuf a received (custom) pbuf wraps, or NULL for any other pbuf. */
struct rte_mbuf *rf_pbuf_mbuf(const struct pbuf *p);

/*
 * Counters of one core. "Payload" is TCP payload. "Copied" counts payload bytes the stack
 * itself copied: zero on the zero-copy paths, so zero-copy is a measured fact.
 */
struct rf_stack_stats {
	uint64_t rx_payload_bytes;  /* delivered to the application (flow/ counts) */
	uint64_t tx_payload_bytes;  /* handed to the device, retransmissions included */
	uint64_t rx_copied_bytes;   /* copied on the way to the application */
	uint64_t tx_copied_bytes;   /* copied on the way to the device (no multi-seg TX) */
	uint64_t rx_segments;       /* TCP segments received */
	uint64_t tx_segments;       /* TCP segments sent */
	uint64_t rx_frames_dropped; /* bad checksum flagged by the device, or undeliverable */
	uint64_t rx_bad_cksum;      /* frames the device marked with a bad checksum */
	uint64_t alloc_failures;    /* mbufs the stack needed and could not get */
};

/* The stack's configuration for one process (one core). Addresses in network order. */
struct rf_stack_conf {
	uint32_t ip4_be, mask4_be, gw4_be;
	uint8_t ip6[16]; /* global IPv6 address (network order), used when ip6_set; /64 */
	bool ip6_set;
	struct rte_ether_addr mac; /* used when mac_set */
	bool mac_set;
	unsigned int pkt_mbufs; /* packet pool size */
	unsigned int max_flows; /* --max-flows: sizes the per-core half-open bound */
	bool force_copy;        /* send by copying even where the device could chain (benchmarks) */
	bool embedded;          /* the process runs on the embedded default (tap rf0) */
	const char *impair;     /* NULL, or an impairment spec for every port (drivers/impair.c) */
	const char *pcap;       /* NULL, or a pcapng file capturing every port both ways */
	uint32_t pcap_snaplen;  /* bytes kept per captured frame; 0: whole frames */
	uint16_t cores, core;   /* --cores: processes in all, and this one's queue pair; 0: one */
	uint16_t mtu;           /* every port's MTU (--mtu); 0: each device's own */
};

struct rf_iface {
	struct rf_port port;
	struct netif nif;
	struct rf_stack *stack;
};

struct rf_timer {
	void (*fn)(void);
	uint32_t interval_ms;
	uint64_t due_ms;
};

#define RF_NUM_TIMERS 6

struct rf_stack {
	struct rf_pools pools;
	uint16_t nports;
	struct rf_iface ifs[RF_MAX_PORTS];
	struct rf_timer timers[RF_NUM_TIMERS];
	/* TSC at which the next timer is due: a pass before it skips the timers phase (no
	 * division to milliseconds, no walk of the table) */
	uint64_t timers_due_tsc;
	struct rf_stack_stats stats;
	unsigned int idle_mbufs; /* packet mbufs in use right after start-up (the RX rings) */
	bool force_copy;
	bool tx_refused; /* a send queue refused a frame since lwIP's fast timer last ran */
	/* flow/'s completion phase, called once per loop pass; returns completions run */
	unsigned int (*completions)(void *arg);
	void *completions_arg;
	struct rf_capture *cap; /* --pcap, or NULL (each port points to it too) */
} __rte_cache_aligned;

/* ---- clock (stack/clock.c) ----------------------------------------------------------- */
/* After the EAL started (it measures the TSC); 0, or -1 when the TSC rate is unknown. */
int rf_clock_init(void);
uint64_t rf_clock_ms(void);
/* Milliseconds at TSC value tsc (the fake time when one is set). */
uint64_t rf_clock_ms_at(uint64_t tsc);
/* For tests that drive TCP's timers deterministically: from now on rf_clock_ms() (and so
 * sys_now() and the engine's timers) returns now_ms; 0 goes back to the TSC. */
void rf_clock_fake(uint64_t now_ms);
extern uint64_t rf__clock_fake_ms; /* rf_clock_fake()'s time, 0 when none */
/* The first TSC value at which rf_clock_ms_at() reads ms (TSC time, never the fake). */
uint64_t rf_clock_tsc_at_ms(uint64_t ms);
uint64_t rf_clock_tsc_hz(void);
extern double rf__clock_ns_per_tsc; /* 1e9 / TSC Hz, set by rf_clock_init(); 0 before */
/* Nanoseconds at TSC value tsc: a multiplication, no division (hot paths read it every loop
 * pass). 0 before rf_clock_init(), so that time reads 0 until a loop has started the EAL.
 * TSC time, never the fake. */
static inline uint64_t
rf_clock_tsc_to_ns(uint64_t tsc)
{
	return (uint64_t)((double)tsc * rf__clock_ns_per_tsc);
}

/* ---- timers (stack/timers.c) --------------------------------------------------------- */
void rf_timers_init(struct rf_timer *t, uint64_t now_ms);
/* Runs every timer whose deadline is at or before now_ms; time is passed in, so tests drive
 * it with a fake clock. Returns the earliest deadline left (ms): nothing is due before it. */
uint64_t rf_timers_run(struct rf_timer *t, uint64_t now_ms);

/* ---- netif (stack/netif.c) ----------------------------------------------------------- */
int rf_netif_add(struct rf_stack *s, struct rf_iface *ifc, const struct rf_stack_conf *conf);
/* Passes a burst of received frames to lwIP (consumes them). */
void rf_netif_input(struct rf_iface *ifc, struct rte_mbuf **pkts, uint16_t n);

/* ---- engine (stack/engine.c) --------------------------------------------------------- */
/* Starts lwIP, creates pools, sets up every port the EAL probed; 0 or negative errno, with a
 * one-line message printed naming the cause. */
int rf_stack_init(struct rf_stack *s, const struct rf_stack_conf *conf);
/* One pass of the loop; returns the work done: frames received plus completions run. */
unsigned int rf_stack_poll(struct rf_stack *s, uint64_t now_tsc);
/* Closes the ports and frees the pools; returns the packet buffers that were not back in
 * the pool after the ports closed (logged when not 0). */
unsigned int rf_stack_fini(struct rf_stack *s);
/* Flushes TX batches and lets devices free what they sent (before counting buffers). */
void rf_stack_reclaim(struct rf_stack *s);
/* Refreshes device-side counters into each port's stats. */
void rf_stack_read_port_stats(struct rf_stack *s);

#endif /* RF_STACK_H */
