/*
 * lwIP's hooks in rawflow (LWIP_HOOK_FILENAME): lwIP's TCP sources include this file, and
 * lwipopts.h maps each LWIP_HOOK_* to a function declared here.
 *
 *   LWIP_HOOK_TCP_ISN                   rf__tcp_isn (stack/isn.c): RFC 6528 initial sequence
 *                                       numbers, for passive and active opens
 *   LWIP_HOOK_TCP_CHALLENGE_ACK_ALLOWED rf__tcp_challenge_ack_allowed (stack/challenge_ack.c):
 *                                       the RFC 5961 section 7 budget; the hook itself is
 *                                       added to lwIP by stack/patches/0003
 *   LWIP_HOOK_TCP_OOW_ACK_ALLOWED       rf__tcp_oow_ack_allowed (stack/challenge_ack.c): the
 *                                       ACK to an out-of-window segment, at most one per
 *                                       500 ms per connection, within the same budget; hook
 *                                       added by stack/patches/0027
 *   LWIP_HOOK_TCP_SYNCOOKIE_MAKE/_CHECK rf__tcp_syncookie_make/_check (stack/syncookie.c):
 *                                       SYN cookies for a full listen backlog; hooks added
 *                                       by stack/patches/0005
 *   TCP_OOSEQ_PBUFS_LIMIT               rf__tcp_ooseq_pbufs_limit (stack/bounds.c): the
 *                                       per-flow bound, tightened by the per-core one
 *                                       (counted by stack/patches/0016)
 *   LWIP_HOOK_TCP_HALF_OPEN_FULL        rf__tcp_half_open_full (stack/bounds.c): the
 *                                       per-core bound on half-open connections; hook
 *                                       added by stack/patches/0017
 *   LWIP_HOOK_TCP_LOCAL_PORT_OK         rf__tcp_local_port_ok (flow/loop.c, weak here): with
 *                                       --cores, a local port for an active open whose
 *                                       replies come back to this core; hook added by
 *                                       stack/patches/0025
 *   LWIP_HOOK_TCP_INPACKET_PCB          rf__tcp_inpacket (stack/pressure.c): segments
 *                                       dropped while the packet pool is low
 *
 * All run inside lwIP's input processing, on the core that owns the stack; neither fails.
 */
#ifndef RF_LWIP_HOOKS_H
#define RF_LWIP_HOOKS_H

#include "lwip/arch.h"
#include "lwip/err.h"
#include "lwip/ip_addr.h"

u32_t rf__tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
		  u16_t remote_port);

/* 1 when one more challenge ACK may be sent now, 0 when this second's budget is spent. */
int rf__tcp_challenge_ack_allowed(void);

struct tcp_pcb;
/* 1 when pcb may answer a segment outside its receive window with an ACK now; old_data: the
 * segment is data wholly before RCV.NXT. */
int rf__tcp_oow_ack_allowed(struct tcp_pcb *pcb, int old_data);

/* The cookie (our initial sequence number) for a SYN with sequence number client_isn; *mss
 * in: the client's effective MSS, out: the MSS to announce (what the cookie encodes). */
u32_t rf__tcp_syncookie_make(const ip_addr_t *local_ip, u16_t local_port,
			     const ip_addr_t *remote_ip, u16_t remote_port, u32_t client_isn,
			     u16_t *mss);
/* The MSS a returning cookie encodes, or 0 when it is not one of ours (or too old). */
u16_t rf__tcp_syncookie_check(const ip_addr_t *local_ip, u16_t local_port,
			      const ip_addr_t *remote_ip, u16_t remote_port, u32_t client_isn,
			      u32_t cookie);

struct tcp_pcb;
struct tcp_pcb_listen;
/* The out-of-order pbufs pcb may hold now (TCP_OOSEQ_MAX_PBUFS or less, when all connections
 * together reach the per-core bound). */
u16_t rf__tcp_ooseq_pbufs_limit(const struct tcp_pcb *pcb);
/* 1 when the half-open connections of all listeners reach the per-core bound: the SYN for
 * lpcb is answered with a SYN cookie. */
int rf__tcp_half_open_full(const struct tcp_pcb_listen *lpcb);
/* 1 when tcp_connect() may take local port `port` for pcb (its addresses and remote port
 * set). */
int rf__tcp_local_port_ok(const struct tcp_pcb *pcb, u16_t port) __attribute__((weak));
struct pbuf;
/* ERR_OK to process the segment p (its TCP header removed) for pcb, else it is dropped:
 * while the packet pool is low (stack/pressure.c). */
err_t rf__tcp_inpacket(struct tcp_pcb *pcb, const struct pbuf *p);

#endif /* RF_LWIP_HOOKS_H */
