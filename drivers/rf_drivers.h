/*
 * drivers/: the DPDK boundary.
 *
 * This layer starts the EAL (with rawflow's embedded default when the program was given no EAL
 * arguments), creates the packet memory pools, and sets up ports for whatever PMD the EAL
 * probed: it reads each device's capabilities and asks only for what the device offers. Above
 * it, stack/ sees a port as: a MAC, an MTU, a set of capabilities, and three calls
 * (rf_port_rx, rf_port_tx, rf_port_flush). Nothing above drivers/ calls rte_eth_*.
 *
 * Two pools: the packet pool (RX buffers and the application's TX buffers, with a private area
 * the stack uses for its per-mbuf bookkeeping) and the header pool (small mbufs for TCP/IP
 * headers and for indirect mbufs that point into packet-pool memory, so payload is sent by
 * reference). rf_pool_mbuf_of() maps any pointer into packet-pool memory back to its mbuf.
 */
#ifndef RF_DRIVERS_H
#define RF_DRIVERS_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_log.h>
#include <rte_mbuf.h>

extern int rf_logtype_drivers;
extern int rf_logtype_stack;
extern int rf_logtype_flow;

#define RF_LOG(level, layer, ...) \
	rte_log(RTE_LOG_##level, rf_logtype_##layer, "rawflow." #layer ": " __VA_ARGS__)

/* ---- EAL ------------------------------------------------------------------------------- */

/* Name of the tap interface the embedded default creates (the kernel side of the wire). */
#define RF_EMBEDDED_IFACE "rf0"

/*
 * Starts the EAL. If argv holds "--", everything before it is EAL arguments and everything
 * after it is the program's; otherwise all arguments are the program's and the EAL gets the
 * embedded default (no hugepages, no PCI, no shared config, one lcore, a net_tap named rf0).
 * On success returns the index in argv of the first program argument (argv[0] is kept in
 * place as the program name for getopt) and sets *embedded; on failure returns -1 after
 * printing one line that names the cause.
 */
int rf_eal_start(int argc, char **argv, bool *embedded);
void rf_eal_stop(void);

/* Gives the kernel side of the tap interface `ifname` an IPv4 address and brings it up; 0 or
 * a negative errno. */
int rf_tap_kernel_setup(const char *ifname, uint32_t ip_be, uint32_t mask_be);
/* Gives the kernel side of `ifname` an IPv6 address (/64), without duplicate address
 * detection (the test network is ours); 0 or a negative errno. */
int rf_tap_kernel_setup6(const char *ifname, const uint8_t ip6[16]);
/* Sets the kernel side's MAC address, leaving the interface down (rf_tap_kernel_setup brings
 * it up). net_tap gives the kernel interface the PMD's own MAC,
 * so both ends would derive the same IPv6 link-local address (and fail DAD). */
int rf_tap_kernel_set_mac(const char *ifname, const struct rte_ether_addr *mac);
/* Sets the MTU of the kernel interface with index `ifindex` (a net_tap port's); 0 or a
 * negative errno. */
int rf_tap_set_mtu(unsigned int ifindex, uint16_t mtu);

/* ---- pools ----------------------------------------------------------------------------- */

struct rf_pools {
	struct rte_mempool *pkt; /* RX and application buffers; private area for the stack */
	struct rte_mempool *hdr; /* header mbufs and indirect mbufs */
	unsigned int pkt_count;
	unsigned int hdr_count;
};

/* Packet mbufs: 2 KiB of data plus headroom, a private area of priv_size bytes. */
int rf_pools_create(struct rf_pools *pools, unsigned int pkt_count, uint16_t priv_size);
void rf_pools_free(struct rf_pools *pools);
/* Mbufs currently taken from the pool (allocated and not yet freed). */
unsigned int rf_pool_in_use(const struct rte_mempool *mp);
/* The packet-pool mbuf whose data buffer holds ptr, or NULL if ptr is not in that memory. */
struct rte_mbuf *rf_pool_mbuf_of(const void *ptr);

/* ---- ports ----------------------------------------------------------------------------- */

struct rf_port_caps {
	bool tx_multiseg;   /* mbuf chains can be sent as they are */
	uint16_t tx_max_segs; /* longest chain the device takes for one frame */
	bool tx_ipv4_cksum; /* the NIC fills IPv4 header checksums */
	bool tx_tcp_cksum;  /* the NIC fills TCP checksums (pseudo-header sum given) */
	bool rx_ipv4_cksum; /* received mbufs say whether the IPv4 checksum was good */
	bool rx_tcp_cksum;  /* ... and the TCP checksum */
};

struct rf_port_stats {
	uint64_t rx_pkts, rx_bytes;
	uint64_t tx_pkts, tx_bytes;
	uint64_t tx_drops;     /* frames the device would not take after retrying */
	uint64_t tx_queue_full; /* frames the stack held back (TCP sends them later) because
				   the send queue was full: rf_port_tx_room() */
	uint64_t tx_link_down; /* queued frames dropped because the link went down */
	uint64_t rx_missed;    /* frames the device dropped (no descriptor), from its stats */
	uint64_t rx_nombuf;    /* RX mbuf allocation failures reported by the device */
	uint64_t alloc_fails;  /* mbufs the stack could not get for sending */
	uint64_t handoff_rx;   /* frames another core received for this one (--cores) */
	uint64_t handoff_tx;   /* frames this core received for another and passed on */
	uint64_t handoff_dropped; /* ... that did not fit in the owner's hand-off ring */
};

/* Frames leave in bursts of RF_TX_BATCH. A device whose ring is full keeps the rest in the
 * port's queue (up to RF_TX_QUEUE frames) for the next pass instead of dropping them: a full
 * ring is back-pressure, not loss. When the queue is full too, the stack is told before it
 * builds a frame (rf_port_tx_room()) and TCP keeps the segment; a frame queued anyway (the
 * impairment layer's copies) is dropped and counted in tx_drops. */
#define RF_TX_BATCH 32
#define RF_TX_QUEUE 1024

struct rf_impair;
struct rf_steer;

struct rf_port {
	uint16_t id;
	uint16_t queue; /* the RX/TX queue pair this process owns: its core (--cores) */
	uint16_t mtu;
	struct rte_ether_addr mac;
	struct rf_port_caps caps;
	char name[64];
	uint16_t tx_len;
	uint16_t tx_captured; /* frames at the head of tx_buf already captured (--pcap) */
	struct rte_mbuf *tx_buf[RF_TX_QUEUE];
	struct rf_port_stats stats;
	struct rf_impair *impair; /* NULL: no impairment (drivers/impair.c) */
	struct rf_capture *cap;   /* NULL: no capture (drivers/capture.c) */
	struct rf_steer *steer;   /* NULL: one process (drivers/rss.c) */
	uint64_t link_checked_tsc; /* last link check after a refused burst (rf_port_flush) */
	/* The loop pass's TSC (set by the stack at each pass): the link check's clock. A bulk
	 * sender's ring is full on most passes, and a TSC read of its own per refused burst was
	 * 4% of its samples on this VM (~19 ns per read). */
	uint64_t pass_tsc;
};

/* Number of ports the EAL probed. */
uint16_t rf_port_count(void);
/* Configures and starts port `id` with one queue pair, RX into `pool`. Logs what it chose.
 * With several cores (cores > 1), the primary process configures `cores` queue pairs (device
 * RSS where offered) and every process owns queue `core`, with steering (drivers/rss.c);
 * a secondary process only attaches to what the primary set up. mtu 0 keeps the device's
 * MTU; else the port is set to it before it starts (receiving scattered frames where one no
 * longer fits a packet buffer), or setup fails with a line that says why. */
int rf_port_setup(struct rf_port *port, uint16_t id, struct rte_mempool *pool, uint16_t cores,
		  uint16_t core, uint16_t mtu);
void rf_port_close(struct rf_port *port);
/* Fills port->stats' device-side counters (rx_missed, rx_nombuf) from the device. */
void rf_port_read_stats(struct rf_port *port);
/* Sends what is queued and asks the device to free mbufs it has finished sending, so that
 * pool counts mean "held by the stack or the application", not "still in a TX ring". */
void rf_port_reclaim(struct rf_port *port);
/* Sets the device's MAC address; 0 or a negative errno. */
int rf_port_set_mac(struct rf_port *port, const struct rte_ether_addr *mac);
/* True when the device reports its link up. */
bool rf_port_link_up(const struct rf_port *port);

/* Receives up to n frames (a burst from the port's queue; with several cores, the frames
 * this core owns, handed-off ones included). */
uint16_t rf_port_rx(struct rf_port *port, struct rte_mbuf **pkts, uint16_t n);

/* ---- several cores: steering (drivers/rss.c) ------------------------------------------
 *
 * One process per core, each owning queue pair `core` of every port. A TCP segment belongs
 * to the core whose queue the Toeplitz hash of its 4-tuple (as received: source address,
 * destination address, source port, destination port) selects in the redirection table.
 * Mode "rss": the device hashes with that key and table (checked on the first segments that
 * carry the device's hash); mode "handoff": the device cannot (or does not match), so each
 * core computes the owner of every TCP segment it receives and passes misdirected ones to
 * their owner over an rte_ring in shared memory. ARP and IPv6 neighbour discovery frames
 * are copied to every core (ARP requests reach the others as replies, so only the
 * receiving core answers); everything else is handled where received. */
#define RF_MAX_CORES 16
#define RF_RSS_KEY_MAX 64

enum rf_steer_mode { RF_STEER_RSS, RF_STEER_HANDOFF };

struct rf_rss {
	uint8_t key[RF_RSS_KEY_MAX];
	uint16_t key_len;
	uint16_t reta_size;
	uint16_t reta[512]; /* queue per hash & (reta_size - 1) */
};

/* The standard (Microsoft) 40-byte Toeplitz key, which most NICs use by default. */
extern const uint8_t rf_rss_default_key[40];
/* Toeplitz hash of an IPv4 / IPv6 4-tuple (addresses in network order, ports host order). */
uint32_t rf_rss_hash4(const struct rf_rss *r, uint32_t src_be, uint32_t dst_be, uint16_t sport,
		      uint16_t dport);
uint32_t rf_rss_hash6(const struct rf_rss *r, const uint8_t src[16], const uint8_t dst[16],
		      uint16_t sport, uint16_t dport);
static inline uint16_t
rf_rss_queue(const struct rf_rss *r, uint32_t hash)
{
	return r->reta[hash % r->reta_size];
}
/* The standard key and a table of `size` entries spreading over `queues` (i mod queues). */
void rf_rss_default(struct rf_rss *r, uint16_t queues, uint16_t size);
/* The same with a symmetric key (0x6d5a repeated): a 4-tuple and its reverse (addresses and
 * ports swapped) hash alike. Software hand-off uses it. */
void rf_rss_symmetric(struct rf_rss *r, uint16_t queues, uint16_t size);

/* Steering of port for this process (called by rf_port_setup); 0 or a negative errno. */
int rf_steer_create(struct rf_port *port, uint16_t cores, uint16_t core, bool device_rss,
		    struct rte_mempool *pool);
void rf_steer_destroy(struct rf_port *port);
uint16_t rf_steer_rx(struct rf_port *port, struct rte_mbuf **pkts, uint16_t n);
enum rf_steer_mode rf_steer_mode(const struct rf_port *port);
/* True when a connection from local to remote (addresses in network order, 4 or 16 bytes)
 * comes back to this core: for active opens choosing a local port. Always true without
 * steering. */
bool rf_steer_mine(const struct rf_port *port, bool v6, const void *local, uint16_t lport,
		   const void *remote, uint16_t rport);

/* Hands queued frames to the device; what its ring does not take stays queued, unless the
 * link is down: then the queue is dropped (counted in tx_link_down). */
void rf_port_flush(struct rf_port *port);

void rf_impair_tx(struct rf_port *port, struct rte_mbuf *m);

/* rf_port_tx() without the impairment layer: for drivers/ only. */
static inline void
rf__port_enqueue(struct rf_port *port, struct rte_mbuf *m)
{
	if (unlikely(port->tx_len == RF_TX_QUEUE)) {
		rf_port_flush(port);
		if (port->tx_len == RF_TX_QUEUE) {
			port->stats.tx_drops++;
			rte_pktmbuf_free(m);
			return;
		}
	}
	port->tx_buf[port->tx_len++] = m;
	if (port->tx_len % RF_TX_BATCH == 0)
		rf_port_flush(port);
}

/* Whether the send queue has room for one more frame; a full one is handed to the device
 * first. The stack asks before it builds a frame: what TCP is refused it keeps and sends
 * again later (lwIP patch 0013), where a frame queued into a full queue would be lost. Counts
 * each refusal in tx_queue_full. */
static inline bool
rf_port_tx_room(struct rf_port *port)
{
	if (likely(port->tx_len < RF_TX_QUEUE))
		return true;
	rf_port_flush(port);
	if (port->tx_len < RF_TX_QUEUE)
		return true;
	port->stats.tx_queue_full++;
	return false;
}

/* Queues one frame for sending; frames leave in batches (at the latest at rf_port_flush). The
 * port takes ownership of m in every case. With impairment on, the frame goes through it
 * first (and may be dropped, copied or held back). */
static inline void
rf_port_tx(struct rf_port *port, struct rte_mbuf *m)
{
	if (unlikely(port->impair != NULL))
		rf_impair_tx(port, m);
	else
		rf__port_enqueue(port, m);
}

/* ---- impairment (drivers/impair.c) ------------------------------------------------------
 *
 * A seeded bad wire inside rf_port_rx / rf_port_tx / rf_port_flush, for tests: drop,
 * duplicate, reorder, corrupt, delay and blackout, each with its own setting per direction.
 * The spec is text (struct rf_config's impair, programs' --impair), comma-separated KEY=VALUE:
 *
 *   drop=P  dup=P  reorder=P  corrupt=P   probability per frame: 0..1 or a percentage (2%)
 *   reorder_gap=K      a reordered frame is held until K later frames passed (default 3)
 *   reorder_max=T      ... or T elapsed (default 1ms)
 *   delay=T[@P]        hold frames for T (us, ms or s), all of them or with probability P
 *   blackout=S+L[/R]   drop every frame during [S, S+L) after start-up (ms unless a unit is
 *                      given), once or repeating every R
 *   queue=N            frames a direction may hold back (default 1024)
 *   seed=N             PRNG seed (default 1); each port and direction gets its own stream
 *   dir=rx|tx|both     the direction(s) keys without a prefix apply to (default both)
 *   rx.KEY=V tx.KEY=V  one direction only, over what a key without prefix said
 */
enum { RF_IMPAIR_RX = 0, RF_IMPAIR_TX = 1, RF_IMPAIR_DIRS = 2 };

struct rf_impair_dir_conf {
	double drop, dup, reorder, corrupt; /* probabilities per frame */
	double delay;                       /* probability that a frame is delayed */
	uint64_t delay_us;
	uint32_t reorder_gap;
	uint64_t reorder_max_us;
	uint64_t blackout_start_us, blackout_len_us; /* len 0: no blackout */
	uint64_t blackout_period_us;                 /* 0: once */
};

struct rf_impair_conf {
	struct rf_impair_dir_conf dir[RF_IMPAIR_DIRS];
	uint64_t seed;
	uint32_t queue;
};

struct rf_impair_counters {
	uint64_t dropped, duplicated, reordered, corrupted, delayed, blackout_dropped;
};

/* Parses spec into conf (defaults for what it does not say); 0, or -EINVAL with a message
 * naming the bad token in err. Needs no EAL. */
int rf_impair_parse(const char *spec, struct rf_impair_conf *conf, char *err, size_t errlen);
/* True when conf impairs anything at all. */
bool rf_impair_conf_active(const struct rf_impair_conf *conf);
/* One line saying what conf does ("rx: drop 2% ...; tx: ...; seed 7, queue 1024"). */
int rf_impair_describe(const struct rf_impair_conf *conf, char *buf, size_t len);
/* The PRNG (splitmix64): the next number of the stream in *state. */
uint64_t rf_impair_rand(uint64_t *state);

/* Turns impairment on for a port, copies coming from pool; logs what it does. 0 or -ENOMEM.
 * rf_port_close() turns it off and frees the frames it held. */
int rf_port_impair(struct rf_port *port, const struct rf_impair_conf *conf,
		   struct rte_mempool *pool);

/* The layer itself, with time passed in (tests drive it with a fake clock). A frame given to
 * rf_impair_frame() leaves through out() zero, one or two times, now or from a later
 * rf_impair_release(), which lets out at most max held frames that are due, in order. */
typedef void(rf_impair_out)(void *arg, struct rte_mbuf *m);
struct rf_impair *rf_impair_create(const struct rf_impair_conf *conf, uint16_t port_id,
				   struct rte_mempool *pool, uint64_t now_tsc, uint64_t tsc_hz);
void rf_impair_destroy(struct rf_impair *im); /* frees the frames it holds */
void rf_impair_frame(struct rf_impair *im, int dir, struct rte_mbuf *m, uint64_t now_tsc,
		     rf_impair_out *out, void *arg);
unsigned int rf_impair_release(struct rf_impair *im, int dir, uint64_t now_tsc, unsigned int max,
			       rf_impair_out *out, void *arg);
void rf_impair_counters(const struct rf_impair *im, int dir, struct rf_impair_counters *out);
/* Frames held now (both directions, RX frames waiting for the stack included). */
unsigned int rf_impair_held(const struct rf_impair *im);

/* The port's side (drivers/port.c): how many frames to take from the device now; the burst
 * of `got` frames through the layer, what is due back into pkts (at most n, the count
 * returned); due TX frames into the TX queue. */
uint16_t rf_impair_rx_room(const struct rf_impair *im, uint16_t n);
uint16_t rf_impair_rx(struct rf_impair *im, struct rte_mbuf **pkts, uint16_t got, uint16_t n,
		      uint64_t now_tsc);
void rf_impair_tx_release(struct rf_port *port);

/* ---- packet capture (drivers/capture.c) -------------------------------------------------
 *
 * Frames both ways into a pcapng file (rte_pcapng), one interface block per port. Frames are
 * copied at once into the capture's own small pool and written in batches from the loop;
 * what cannot be copied or written is counted as dropped, never printed. */
struct rf_capture;

struct rf_capture_stats {
	uint64_t frames;  /* frames written to the file */
	uint64_t bytes;   /* bytes written (pcapng blocks) */
	uint64_t dropped; /* frames not captured: no capture buffer, or the file write failed */
};

/* Creates path (truncated if it exists) and writes the pcapng header and one interface block
 * per probed port; call after the ports exist. snaplen 0: whole frames. max_mtu: the ports'
 * largest MTU (--mtu; ethdev's figure stays 1500 on net_memif). 0 or a negative
 * errno after one line naming the cause. */
int rf_capture_open(struct rf_capture **out, const char *path, uint32_t snaplen,
		    uint16_t max_mtu);
/* Copies n frames (RX: as received; tx: before the device, offloaded checksums filled in
 * the copy). The frames themselves are not touched. */
void rf_capture_burst(struct rf_capture *cap, uint16_t port_id, struct rte_mbuf *const *pkts,
		      uint16_t n, bool tx);
/* Writes the copies waiting in the batch (one writev); from the loop, once per pass. */
void rf_capture_flush(struct rf_capture *cap);
void rf_capture_stats(const struct rf_capture *cap, struct rf_capture_stats *out);
/* Writes what is pending and a statistics block per port, closes the file, logs a summary
 * line. Call while the ports still exist. NULL is ignored. */
void rf_capture_close(struct rf_capture *cap);

/* ---- frames and offloads (drivers/offload.c) ----------------------------------------- */

/* Header lengths of an outgoing frame whose headers all lie in its first `len` bytes. l3 is 0
 * for anything but IPv4/IPv6, l4 is 0 for anything but TCP. */
struct rf_frame_info {
	uint16_t l2, l3, l4;
	bool ipv6;
};
void rf_frame_parse(const void *frame, uint32_t len, struct rf_frame_info *fi);
/* Asks the device for the checksums it offers on frame m (headers in its first segment,
 * writable): sets the mbuf's offload flags and lengths, and the pseudo-header sum the device
 * expects in the TCP checksum field. */
void rf_port_tx_offload(const struct rf_port *port, struct rte_mbuf *m,
			const struct rf_frame_info *fi);
/* Does in software what the device was asked to by ol_flags (and l2_len, l3_len) for a frame
 * of frame_len bytes whose first len bytes are at `frame` (contiguous, writable): the IPv4
 * header checksum, and the TCP checksum when the whole frame is there (len == frame_len).
 * For copies of a frame that never reach a device: --pcap's, the impairment layer's. */
void rf_offload_fill(uint8_t *frame, uint32_t len, uint32_t frame_len, uint64_t ol_flags,
		     uint16_t l2_len, uint16_t l3_len);

#endif /* RF_DRIVERS_H */
