/*
 * Unit suite "lwipopts": our lwIP configuration (stack/include/lwipopts.h) is sane, and the
 * lwIP library we link was really built with it.
 *
 * Two halves:
 *   - compile time: the rules that make large windows work (window scaling on, TCP_WND
 *     representable with the scale factor, the u16 low-water marks below their limits) and the
 *     choices the rest of rawflow depends on (bare NO_SYS with our own timers, per-netif
 *     checksum control for offload, stats for the leak checks, no oversize pre-allocation
 *     since writes are never copied, custom pbufs for mbufs). lwIP's own start-up checks for
 *     some of these are switched off by LWIP_DISABLE_TCP_SANITY_CHECKS, so they live here.
 *     A broken rule stops the build with a message naming it.
 *   - run time: lwIP behaves as the options promise: a pcb takes the send buffer we
 *     configured, pool usage is counted and returns to zero (the baseline every leak check
 *     compares against), a custom pbuf's free function runs exactly at its last reference,
 *     a new netif checksums in software until a driver turns that off, and the IPv6
 *     reassembly options suit a 64-bit platform.
 *
 * Needs stack/clock.c for lwIP's platform hooks (sys_now, assert, random); no EAL.
 */
#include <string.h>

#include "lwip/init.h"
#include "lwip/ip6_frag.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/opt.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "netif/ethernet.h"

#include "unit.h"

/* ---- compile time ------------------------------------------------------------------------ */

#if NO_SYS != 1
#error "lwipopts: NO_SYS must be 1: lwIP runs bare inside the per-core loop"
#endif
#ifdef LWIP_DEBUG
#error "lwipopts: LWIP_DEBUG must stay undefined (lwIP tests #ifdef): nothing may print on the data path"
#endif
#if NO_SYS_NO_TIMERS != 1
#error "lwipopts: NO_SYS_NO_TIMERS must be 1: stack/timers.c drives lwIP's timers"
#endif
#if !LWIP_WND_SCALE
#error "lwipopts: LWIP_WND_SCALE must be on: windows above 64 KiB need it"
#endif
#if TCP_RCV_SCALE < 0 || TCP_RCV_SCALE > 14
#error "lwipopts: TCP_RCV_SCALE must be 0..14 (RFC 7323 caps the shift at 14)"
#endif
#if TCP_WND > (0xffff << TCP_RCV_SCALE)
#error "lwipopts: TCP_WND cannot be announced: it exceeds 0xffff << TCP_RCV_SCALE"
#endif
#if TCP_WND < TCP_MSS
#error "lwipopts: TCP_WND is smaller than one segment"
#endif
#if TCP_SND_BUF < 2 * TCP_MSS
#error "lwipopts: TCP_SND_BUF must hold at least two segments"
#endif
#if TCP_SND_QUEUELEN > 0xffff
#error "lwipopts: TCP_SND_QUEUELEN is a u16 in lwIP: at most 65535"
#endif
#if TCP_SND_QUEUELEN < (2 * TCP_SND_BUF / TCP_MSS)
#error "lwipopts: TCP_SND_QUEUELEN cannot hold a full send buffer of MSS-sized segments"
#endif
#if TCP_SNDLOWAT >= TCP_SND_BUF
#error "lwipopts: TCP_SNDLOWAT must be less than TCP_SND_BUF"
#endif
#if TCP_SNDLOWAT >= (0xffff - 4 * TCP_MSS)
#error "lwipopts: TCP_SNDLOWAT must be at least 4 * TCP_MSS below u16 overflow"
#endif
#if TCP_SNDQUEUELOWAT >= TCP_SND_QUEUELEN
#error "lwipopts: TCP_SNDQUEUELOWAT must be less than TCP_SND_QUEUELEN"
#endif
#if LWIP_CHECKSUM_CTRL_PER_NETIF != 1
#error "lwipopts: LWIP_CHECKSUM_CTRL_PER_NETIF must be 1: offload is decided per port"
#endif
#if !LWIP_STATS || !MEMP_STATS || !TCP_STATS
#error "lwipopts: LWIP_STATS, MEMP_STATS and TCP_STATS must be on: leak checks and counters read them"
#endif
#if TCP_OVERSIZE != 0
#error "lwipopts: TCP_OVERSIZE must be 0: writes are never copied, so no room is pre-allocated"
#endif
#if LWIP_SUPPORT_CUSTOM_PBUF != 1
#error "lwipopts: LWIP_SUPPORT_CUSTOM_PBUF must be 1: received mbufs become pbuf_custom"
#endif

/* ---- run time ---------------------------------------------------------------------------- */

static void
setup(void)
{
	lwip_init();
}

static u16_t
tcp_pcbs_used(void)
{
	return lwip_stats.memp[MEMP_TCP_PCB]->used;
}

START_TEST(test_tcp_pcb_pool_usage_returns_to_zero_after_new_and_close)
{
	struct tcp_pcb *pcb;

	ck_assert_ptr_nonnull(lwip_stats.memp[MEMP_TCP_PCB]);
	ck_assert_uint_eq(tcp_pcbs_used(), 0);

	pcb = tcp_new();
	ck_assert_ptr_nonnull(pcb);
	ck_assert_uint_eq(tcp_pcbs_used(), 1);

	ck_assert_int_eq(tcp_close(pcb), ERR_OK);
	ck_assert_uint_eq(tcp_pcbs_used(), 0);
}
END_TEST

START_TEST(test_new_pcb_has_our_send_buffer_and_unscaled_initial_window)
{
	struct tcp_pcb *pcb = tcp_new();

	ck_assert_ptr_nonnull(pcb);
	/* The library and this header agree on the options (and so on struct tcp_pcb's layout):
	 * a pcb starts with exactly the send buffer lwipopts.h asks for. */
	ck_assert_uint_eq(pcb->snd_buf, TCP_SND_BUF);
	ck_assert_uint_eq(tcp_sndqueuelen(pcb), 0);
	/* Until the SYN exchange agrees on scaling, the window must fit in 16 bits. */
	ck_assert_uint_eq(pcb->rcv_wnd, 0xffff);
	ck_assert_uint_eq(pcb->rcv_ann_wnd, 0xffff);

	ck_assert_int_eq(tcp_close(pcb), ERR_OK);
	ck_assert_uint_eq(tcp_pcbs_used(), 0);
}
END_TEST

static struct pbuf_custom custom;
static unsigned int custom_frees;
static struct pbuf *custom_freed;

static void
count_custom_free(struct pbuf *p)
{
	custom_frees++;
	custom_freed = p;
}

START_TEST(test_custom_pbuf_free_function_runs_at_last_reference)
{
	static u8_t memory[256];
	struct pbuf *p;

	custom.custom_free_function = count_custom_free;
	p = pbuf_alloced_custom(PBUF_RAW, 100, PBUF_REF, &custom, memory, sizeof(memory));
	ck_assert_ptr_eq(p, &custom.pbuf);
	ck_assert_ptr_eq(p->payload, memory);
	ck_assert_uint_eq(p->tot_len, 100);

	pbuf_ref(p);
	ck_assert_uint_eq(pbuf_free(p), 0); /* one reference left: nothing freed */
	ck_assert_uint_eq(custom_frees, 0);

	ck_assert_uint_eq(pbuf_free(p), 1);
	ck_assert_uint_eq(custom_frees, 1);
	ck_assert_ptr_eq(custom_freed, &custom.pbuf);
	/* A custom pbuf takes nothing from lwIP's pools. */
	ck_assert_uint_eq(lwip_stats.memp[MEMP_PBUF]->used, 0);
	ck_assert_uint_eq(lwip_stats.memp[MEMP_PBUF_POOL]->used, 0);
}
END_TEST

static err_t
bare_netif_init(struct netif *nif)
{
	nif->name[0] = 't';
	nif->name[1] = 'u';
	nif->mtu = 1500;
	return ERR_OK;
}

START_TEST(test_new_netif_checksums_in_software_until_told_otherwise)
{
	struct netif nif;

	memset(&nif, 0, sizeof(nif));
	ck_assert_ptr_eq(netif_add(&nif, NULL, NULL, NULL, NULL, bare_netif_init, ethernet_input),
			 &nif);
	/* Software checksums by default; stack/netif.c clears flags only for what the port
	 * offloads. */
	ck_assert_uint_eq(nif.chksum_flags, NETIF_CHECKSUM_ENABLE_ALL);
	netif_remove(&nif);
}
END_TEST

START_TEST(test_ipv6_reassembly_timer_runs_on_this_platform)
{
	/* lwIP stores its reassembly bookkeeping (a pointer and two u16) in place of the 8-byte
	 * fragment header unless IPV6_FRAG_COPYHEADER is set; with 64-bit pointers it does not
	 * fit, and ip6_reass_tmr() asserts (aborting this test) on its first run. The engine
	 * runs it every IP6_REASS_TMR_INTERVAL. */
	ip6_reass_tmr();
	ck_assert_uint_eq(lwip_stats.memp[MEMP_IP6_REASSDATA]->used, 0);
}
END_TEST

static Suite *
lwipopts_suite(void)
{
	Suite *s = suite_create("lwipopts");
	TCase *tc = tcase_create("runtime");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_tcp_pcb_pool_usage_returns_to_zero_after_new_and_close);
	tcase_add_test(tc, test_new_pcb_has_our_send_buffer_and_unscaled_initial_window);
	tcase_add_test(tc, test_custom_pbuf_free_function_runs_at_last_reference);
	tcase_add_test(tc, test_new_netif_checksums_in_software_until_told_otherwise);
	tcase_add_test(tc, test_ipv6_reassembly_timer_runs_on_this_platform);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(lwipopts_suite());
}
