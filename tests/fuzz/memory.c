/*
 * Memory for the frames the fuzz target gives the stack, laid out so that AddressSanitizer
 * sees what the stack does with it (packet-pool memory would hide every overrun).
 *
 * Each frame gets a slot of a region mapped for the purpose: a poisoned guard, 128 bytes of
 * headroom, the frame (starting 64-byte aligned, as in an mbuf), then poison again (ASan
 * poisons to the byte: the granule the frame ends in is addressable only up to its end); the slot is attached to a
 * packet-pool mbuf as an external buffer (rte_pktmbuf_attach_extbuf), so the stack handles it
 * as any received mbuf (stack/netif.c wraps it as a pbuf in the mbuf's private area). A read
 * one byte past the frame hits the guard, a header pushed more than the headroom back hits
 * the previous slot's guard, and a slot is poisoned again when the stack frees the mbuf (and
 * reused last, first in first out), so a use after free is reported too.
 *
 * Why a region of its own rather than malloc: lwIP lets a header be pushed back into a
 * PBUF_POOL pbuf's payload as long as the payload stays above the struct pbuf (it takes the
 * memory in between for headroom, which it is for an mbuf: stack/netif.c). The struct pbuf
 * lives in the mbuf, so frame memory must lie above the packet pool, as it does in an mbuf;
 * malloc's heap lies below it. The region is mapped before the EAL starts (mmap places later
 * mappings below earlier ones) and fz_mem_check() verifies the order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <rte_mbuf.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#endif
#ifdef FZ_ASAN
#include <sanitizer/asan_interface.h>
#define FZ_POISON(a, n) ASAN_POISON_MEMORY_REGION((a), (n))
#define FZ_UNPOISON(a, n) ASAN_UNPOISON_MEMORY_REGION((a), (n))
#else
#define FZ_POISON(a, n) ((void)(a), (void)(n))
#define FZ_UNPOISON(a, n) ((void)(a), (void)(n))
#endif

#include "fuzz_internal.h"

#define FZ_SLOTS 8192 /* more than the packet pool's mbufs: the pool runs out first */
#define FZ_SLOT 4608
#define FZ_GUARD 64
#define FZ_HEADROOM 128

_Static_assert(FZ_SLOT - FZ_GUARD - FZ_HEADROOM - FZ_GUARD >= FZ_MAX_FRAME, "a slot holds any frame");
_Static_assert(FZ_SLOT % 64 == 0 && FZ_GUARD % 64 == 0 && FZ_HEADROOM % 64 == 0, "aligned frames");

static uint8_t *region;
static struct rte_mbuf_ext_shared_info shinfo[FZ_SLOTS];
static uint32_t free_q[FZ_SLOTS]; /* free slots, first in first out */
static uint32_t q_head, q_tail;   /* free slots are free_q[head .. tail), mod FZ_SLOTS */

void
fz_mem_init(void)
{
	region = mmap(NULL, (size_t)FZ_SLOTS * FZ_SLOT, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (region == MAP_FAILED) {
		perror("fuzz: mmap of the frame region");
		exit(1);
	}
	FZ_POISON(region, (size_t)FZ_SLOTS * FZ_SLOT);
	for (uint32_t i = 0; i < FZ_SLOTS; i++)
		free_q[i] = i;
	q_head = 0;
	q_tail = FZ_SLOTS;
}

void
fz_mem_check(struct rte_mempool *pool)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

	if (m == NULL || (uint8_t *)m > region) {
		fprintf(stderr, "fuzz: the frame region (%p) does not lie above the packet pool "
				"(%p): lwIP could not push headers into it (memory.c)\n",
			(void *)region, (void *)m);
		exit(1);
	}
	rte_pktmbuf_free(m);
}

static void
slot_free(void *addr, void *opaque)
{
	uint32_t i = (uint32_t)(uintptr_t)opaque;

	(void)addr;
	FZ_POISON(region + (size_t)i * FZ_SLOT, FZ_SLOT);
	free_q[q_tail++ % FZ_SLOTS] = i;
}

struct rte_mbuf *
fz_mem_frame(const uint8_t *f, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(fz.pool);
	uint8_t *buf, *data;
	uint32_t i;

	if (m == NULL || q_head == q_tail || len > FZ_MAX_FRAME) {
		fprintf(stderr, "fuzz: no memory for a frame of %zu bytes (packet pool %s, %u "
				"slots free)\n", len, m == NULL ? "empty" : "ok", q_tail - q_head);
		abort();
	}
	i = free_q[q_head++ % FZ_SLOTS];
	buf = region + (size_t)i * FZ_SLOT + FZ_GUARD;
	data = buf + FZ_HEADROOM;
	FZ_UNPOISON(buf, FZ_HEADROOM + len);
	memcpy(data, f, len);
	shinfo[i].free_cb = slot_free;
	shinfo[i].fcb_opaque = (void *)(uintptr_t)i;
	rte_mbuf_ext_refcnt_set(&shinfo[i], 1);
	rte_pktmbuf_attach_extbuf(m, buf, 0, (uint16_t)(len + FZ_HEADROOM), &shinfo[i]);
	m->data_off = FZ_HEADROOM;
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	return m;
}
