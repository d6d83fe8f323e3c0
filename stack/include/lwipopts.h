/*
 * lwIP configuration for rawflow.
 *
 * lwIP runs bare (NO_SYS=1) inside one run-to-completion loop per process: no threads, no
 * sequential APIs, no lwIP timers of its own (the engine calls tcp_tmr() and friends from the
 * TSC clock). Received data lives in DPDK mbufs wrapped as custom pbufs, and written data is
 * handed to tcp_write() without the copy flag, so lwIP's own buffer pools only ever hold
 * headers and bookkeeping. Memory for lwIP's structures comes from libc malloc (glibc's
 * per-thread caches make that cheap); pool usage is still counted in lwIP's stats, which the
 * leak checks read.
 *
 * Every value here is a deliberate choice; where lwIP's default is kept it is not repeated.
 */
#ifndef RF_LWIPOPTS_H
#define RF_LWIPOPTS_H

/* ---- system ---------------------------------------------------------------------------- */
#define NO_SYS 1
#define NO_SYS_NO_TIMERS 1 /* timers are driven by stack/engine.c, from the TSC */
#define SYS_LIGHTWEIGHT_PROT 0 /* one thread owns the stack */
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
#define LWIP_DNS 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_RAW 0
#define LWIP_UDP 0
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_HAVE_LOOPIF 0
/* htons() and friends come from the C library; lwIP uses its lwip_ names internally */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1

/* ---- memory ---------------------------------------------------------------------------- */
#define MEM_ALIGNMENT 8
#define MEM_LIBC_MALLOC 1 /* header pbufs and pool elements from glibc's tcache */
#define MEMP_MEM_MALLOC 1 /* pool limits are enforced by rawflow (max flows), not lwIP */
#define MEM_STATS 1
#define MEMP_STATS 1
/* Nominal pool sizes: with MEMP_MEM_MALLOC they only bound nothing, but some lwIP checks
 * compare against them. */
#define MEMP_NUM_TCP_PCB 65535
#define MEMP_NUM_TCP_PCB_LISTEN 1024
#define MEMP_NUM_TCP_SEG 65535
#define MEMP_NUM_PBUF 65535
#define MEMP_NUM_REASSDATA 64
#define MEMP_NUM_ARP_QUEUE 256
#define PBUF_POOL_SIZE 16 /* lwIP's own pool pbufs are unused: RX data is in mbufs */
#define LWIP_SUPPORT_CUSTOM_PBUF 1 /* received mbufs become pbuf_custom */

/* ---- link and IP ----------------------------------------------------------------------- */
#define LWIP_ARP 1
#define ARP_TABLE_SIZE 64
#define ARP_QUEUEING 1
/* Frames held per destination while its ARP answer is pending: a burst of connects (a load
 * generator opening 64 flows) would otherwise lose all but 3 SYNs for a retry period. */
#define ARP_QUEUE_LEN 64
#define ETHARP_SUPPORT_STATIC_ENTRIES 1
#define LWIP_ETHERNET 1
#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_ICMP 1
#define IP_REASSEMBLY 1
#define IP_FRAG 0 /* TCP never needs fragments: MSS follows the MTU */
#define LWIP_IPV6_FRAG 0
#define LWIP_IPV6_REASS 1
#define IPV6_FRAG_COPYHEADER 1 /* 64-bit pointers do not fit in the fragment header */
#define LWIP_NETIF_TX_SINGLE_PBUF 0 /* the driver turns pbuf chains into mbuf chains */
#define LWIP_SINGLE_NETIF 0

/* Checksums: generated and checked in software unless the port offers offload, in which case
 * drivers/ asks the NIC and stack/netif.c turns lwIP's work off for that netif only. */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
#define LWIP_CHECKSUM_ON_COPY 0
/* The software sum: stack/chksum.c, 32 bytes per step instead of lwIP's 2 (the largest lwIP
 * entry in a bulk flow's profile over net_memif, which has no offload). */
#define LWIP_CHKSUM rf_chksum
unsigned short rf_chksum(const void *data, int len);

/* ---- TCP ------------------------------------------------------------------------------- */
#define LWIP_TCP 1
/* The largest MSS (MTU 9000 less 40): with TCP_CALCULATE_EFF_SEND_MSS (below) lwIP advertises
 * and sends min(TCP_MSS, netif MTU - 40), so the segment size follows --mtu (1460 on a 1500
 * link) and stops at 8960 above 9000. SYN cookies (stack/syncookie.c) encode 1460 at most. */
#define TCP_MSS 8960
/* Window updates once 4 x 1460 bytes have reopened, as when TCP_MSS was 1460 (lwIP derives
 * 4 * TCP_MSS, 35840 bytes, which would delay them on every 1500-byte link). */
#define TCP_WND_UPDATE_THRESHOLD (4 * 1460)
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 7
/* Receive window and send buffer per flow. Received bytes sit in mbufs (about 1.5x their
 * size with 2 KiB data rooms) until the application releases them. */
#define TCP_WND (2 * 1024 * 1024)
#define TCP_SND_BUF (2 * 1024 * 1024)
/* u16 quantities: one pbuf per segment per write at most, so 4x the segments in a buffer */
#define TCP_SND_QUEUELEN 65535
#define TCP_SNDLOWAT (0xffff - 4 * TCP_MSS - 1)
#define TCP_SNDQUEUELOWAT 0xfff0
/* lwIP checks that TCP_WND fits in its own PBUF_POOL; received data lives in mbufs here, so
 * that check (and its TCP_SND_QUEUELEN twin) does not apply. */
#define LWIP_DISABLE_TCP_SANITY_CHECKS 1
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_SACK_OUT 1
#define TCP_OVERSIZE 0 /* writes are never copied, so never pre-allocate room to copy into */
#define TCP_LISTEN_BACKLOG 1
#define LWIP_TCP_KEEPALIVE 1
#define LWIP_TCP_TIMESTAMPS 0
#define TCP_CALCULATE_EFF_SEND_MSS 1
/* The fast timer (delayed ACKs) every 100 ms, the slow one (RTO, TIME-WAIT, keepalive) every
 * 200 ms: RTO granularity of 200 ms, close to Linux's 200 ms minimum. */
#define TCP_TMR_INTERVAL 100
/* TIME-WAIT lasts 2 * TCP_MSL: 60 s as on Linux (lwIP's default is 120 s), so that
 * short-flow clients do not run out of ephemeral ports twice as fast. */
#define TCP_MSL 30000

/* ---- security (issue 9; docs/security.md) ---------------------------------------------- */
/* What a peer that does not play by the rules can make lwIP do: each knob here is one
 * defence; stack/patches/ holds the fixes to lwIP's own code that these rely on. */

/* lwIP's hooks are declared in rf_lwip_hooks.h (stack/include), implemented in stack/. */
#define LWIP_HOOK_FILENAME "rf_lwip_hooks.h"
/* RFC 6528 initial sequence numbers (stack/isn.c): a keyed hash of the 4-tuple plus a 4 us
 * clock. lwIP's default counts up by its timer ticks: guessable from one SYN-ACK. */
#define LWIP_HOOK_TCP_ISN rf__tcp_isn
/* RFC 5961 section 7: challenge ACKs within a per-process budget of about 1000 a second
 * (stack/challenge_ack.c); the hook point is added to lwIP by stack/patches/0003. */
#define LWIP_HOOK_TCP_CHALLENGE_ACK_ALLOWED(pcb) rf__tcp_challenge_ack_allowed()
/* ... and the ACK to a segment outside the receive window: at most one per 500 ms per
 * connection, each from the same budget; data wholly before RCV.NXT (a peer's retransmission
 * after our ACK was lost) from the budget only (stack/patches/0027). */
#define LWIP_HOOK_TCP_OOW_ACK_ALLOWED(pcb, old_data) rf__tcp_oow_ack_allowed(pcb, old_data)

/* Out-of-order data per flow. Every queued out-of-order segment pins the mbuf it arrived in:
 * one 4 KiB element of the core's packet pool (drivers/pool.c; 65535 elements by default,
 * shared by the RX rings, all received data and all sends), whatever its payload. Unbounded,
 * one peer sending 1-byte segments into a 2 MiB window asks for 2 million mbufs: the pool
 * runs dry and every flow of the core stops receiving. With these bounds one flow pins at
 * most 1024 mbufs (4 MiB, 1.6% of the default pool) and, since stack/patches/0002 keeps the
 * queue inside the window, at most TCP_WND bytes. 1024 full-sized segments are 1.4 MiB, 70%
 * of a window, so ordinary loss recovery is barely affected: beyond the bound lwIP drops the
 * highest segments (and their SACK blocks) and the sender retransmits them.
 * Per core: 64 flows at their limit would hold the default pool, so all flows together hold
 * at most a quarter of the pool (stack/bounds.c; lwIP counts, stack/patches/0016): past it a
 * flow's queue cannot grow. */
#define TCP_OOSEQ_MAX_PBUFS 1024
#define TCP_OOSEQ_MAX_BYTES TCP_WND
#define TCP_OOSEQ_PBUFS_LIMIT(pcb) rf__tcp_ooseq_pbufs_limit(pcb)
/* While the packet pool is low, data for connections that hold much and new connections are
 * dropped, so that the pool never runs dry (stack/pressure.c). */
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p) rf__tcp_inpacket(pcb, p)

/* SYN floods: TCP_LISTEN_BACKLOG (above) makes each listener count its half-open
 * connections (SYN_RCVD, until accepted) against the backlog flow/ passes (255, lwIP's u8
 * maximum). Once they fill it, SYNs are answered with SYN cookies and no state
 * (stack/syncookie.c; hooks added by stack/patches/0005): at most 255 half-open pcbs per
 * listener whatever the flood, and clients still connect, without window scaling or SACK.
 * Unpatched lwIP ignores all SYNs for up to 20 s (TCP_SYN_RCVD_TIMEOUT) instead. */
#define LWIP_HOOK_TCP_SYNCOOKIE_MAKE rf__tcp_syncookie_make
#define LWIP_HOOK_TCP_SYNCOOKIE_CHECK rf__tcp_syncookie_check
/* ... and across listeners: at most a quarter of --max-flows (at least 1024) half-open pcbs
 * per core; SYNs beyond get cookies whatever their listener's backlog (stack/bounds.c,
 * patch 0017). */
#define LWIP_HOOK_TCP_HALF_OPEN_FULL(lpcb) rf__tcp_half_open_full(lpcb)
/* Answering spoofed on-link sources costs one ARP request each (one transmitted frame per
 * SYN). At most this many requests a second go out for new ARP entries (stack/patches/0008);
 * an entry left without one gets it from the ARP timer within a second. A burst of connects
 * to 64 new peers stays far below it. Patch 0006 keeps peers that answered in the table. */
#define ETHARP_REQUEST_RATE 1000
/* The same for IPv6: at most this many neighbour solicitations a second for new neighbour
 * entries (stack/patches/0019; nd6_tmr sends the rest within a second). Patch 0018 keeps
 * neighbours that answered in the cache (lwIP's default holds 10). */
#define LWIP_ND6_SOLICIT_RATE 1000
/* lwIP's IPv6 neighbour and destination caches hold 10 entries each by default: a server
 * with more on-link IPv6 peers than that would keep evicting and re-soliciting them. The
 * same size as the ARP table (both are searched linearly, per packet for the destination
 * cache: 64 keeps that short). */
#define LWIP_ND6_NUM_NEIGHBORS 64
#define LWIP_ND6_NUM_DESTINATIONS 64

/* --cores (docs/scaling.md): an active open takes a local port whose Toeplitz hash brings the
 * replies back to the opening core (flow/loop.c; the hook point is stack/patches/0025). The
 * function is weak: without flow/ linked in, every port is fine. */
#define LWIP_HOOK_TCP_LOCAL_PORT_OK(pcb, port) \
	(rf__tcp_local_port_ok == NULL || rf__tcp_local_port_ok((pcb), (port)))

/* ---- statistics and debugging -------------------------------------------------------- */
#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#define LWIP_STATS_LARGE 1 /* 32-bit counters: 16-bit ones wrap within a second here */
#define LINK_STATS 1
#define ETHARP_STATS 1
#define IP_STATS 1
#define IPFRAG_STATS 1
#define ICMP_STATS 1
#define TCP_STATS 1
#define SYS_STATS 0
#define MIB2_STATS 1 /* counts retransmitted segments (mib2.tcpretranssegs) */
/* LWIP_DEBUG stays undefined: lwIP tests it with #ifdef, so even "#define LWIP_DEBUG 0"
 * compiles in its debug text and makes LWIP_ERROR() printf() from the data path (tcp_write,
 * pbuf, etharp). Define it (and a module's *_DEBUG to LWIP_DBG_ON) only to debug lwIP. */

#endif /* RF_LWIPOPTS_H */
