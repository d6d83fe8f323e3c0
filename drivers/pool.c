/*
 * Packet memory pools, and the map from a payload pointer back to its mbuf.
 *
 * Zero-copy TX needs that map: lwIP hands the netif pbufs whose payload pointers point into
 * application buffers, which are packet-pool mbufs. The pool is laid out so that the map is
 * one division: each element (object header, mbuf, private area, data room) is exactly one
 * 4 KiB page, and spreading over memory channels is off, so element k of a memory chunk starts
 * at first_obj + k * 4096 whether the pool lives on 4 KiB pages (no-huge) or on hugepages
 * (which hold a whole number of elements). Creation checks that every element sits where the
 * formula says; if a DPDK build lays it out otherwise, the map falls back to a binary search
 * over the sorted element addresses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>

#include "rf_drivers.h"

/* Header mbufs hold Ethernet + IPv6 + TCP with options (at most 14 + 40 + 60 = 114 bytes)
 * after the standard headroom (allocation leaves RTE_PKTMBUF_HEADROOM in front); they are
 * also used as indirect mbufs, which need no data room at all. */
#define RF_HDR_DATA_ROOM (RTE_PKTMBUF_HEADROOM + 128)
#define RF_PKT_ELT_TOTAL 4096 /* one page per packet mbuf, all included */
#define RF_POOL_CACHE 256
#define RF_MAX_CHUNKS 64

struct rf_chunk {
	uintptr_t start, end; /* the chunk's memory */
	uintptr_t first_obj;  /* the lowest element (mbuf) address in it */
};

/* The packet pool's geometry, written once at start-up and read-only afterwards. */
static struct {
	struct rf_chunk chunk[RF_MAX_CHUNKS];
	unsigned int n;
	size_t elt_total; /* header + element + trailer: the stride between mbufs */
	bool uniform;     /* every element where first_obj + k * elt_total says */
	uintptr_t *objs;  /* sorted element addresses, for the non-uniform case */
	unsigned int nobjs;
} geometry;

static void
record_chunk(struct rte_mempool *mp, void *opaque, struct rte_mempool_memhdr *memhdr,
	     unsigned int idx)
{
	(void)mp;
	(void)opaque;
	(void)idx;
	if (geometry.n == RF_MAX_CHUNKS)
		return;
	geometry.chunk[geometry.n].start = (uintptr_t)memhdr->addr;
	geometry.chunk[geometry.n].end = (uintptr_t)memhdr->addr + memhdr->len;
	geometry.chunk[geometry.n].first_obj = UINTPTR_MAX;
	geometry.n++;
}

static void
record_obj(struct rte_mempool *mp, void *opaque, void *obj, unsigned int idx)
{
	(void)mp;
	(void)opaque;
	geometry.objs[idx] = (uintptr_t)obj;
}

static int
cmp_addr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/* Records chunk starts and checks the element layout; 0 or -ENOMEM. */
static int
learn_geometry(struct rte_mempool *mp)
{
	geometry.n = 0;
	geometry.elt_total = mp->header_size + mp->elt_size + mp->trailer_size;
	geometry.nobjs = mp->size;
	geometry.objs = malloc(mp->size * sizeof(*geometry.objs));
	if (geometry.objs == NULL)
		return -ENOMEM;
	rte_mempool_mem_iter(mp, record_chunk, NULL);
	rte_mempool_obj_iter(mp, record_obj, NULL);
	qsort(geometry.objs, geometry.nobjs, sizeof(*geometry.objs), cmp_addr);
	geometry.uniform = true;
	for (unsigned int i = 0; i < geometry.nobjs; i++) {
		uintptr_t o = geometry.objs[i];

		for (unsigned int c = 0; c < geometry.n; c++) {
			struct rf_chunk *ch = &geometry.chunk[c];

			if (o < ch->start || o >= ch->end)
				continue;
			if (ch->first_obj == UINTPTR_MAX)
				ch->first_obj = o;
			else if ((o - ch->first_obj) % geometry.elt_total != 0)
				geometry.uniform = false;
		}
	}
	return 0;
}

static struct rte_mbuf *
mbuf_by_search(uintptr_t p)
{
	unsigned int lo = 0, hi = geometry.nobjs;

	/* the last element address <= p */
	while (hi - lo > 1) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (geometry.objs[mid] <= p)
			lo = mid;
		else
			hi = mid;
	}
	return geometry.nobjs && geometry.objs[lo] <= p ? (struct rte_mbuf *)geometry.objs[lo] : NULL;
}

struct rte_mbuf *
rf_pool_mbuf_of(const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;

	for (unsigned int i = 0; i < geometry.n; i++) {
		const struct rf_chunk *c = &geometry.chunk[i];
		struct rte_mbuf *m;
		uintptr_t buf;

		if (p < c->first_obj || p >= c->end)
			continue;
		if (likely(geometry.uniform))
			m = (struct rte_mbuf *)(c->first_obj + (p - c->first_obj) / geometry.elt_total *
								       geometry.elt_total);
		else
			m = mbuf_by_search(p);
		if (m == NULL)
			return NULL;
		buf = (uintptr_t)m->buf_addr;
		return p >= buf && p < buf + m->buf_len ? m : NULL;
	}
	return NULL;
}

/* A pktmbuf pool whose elements are exactly RF_PKT_ELT_TOTAL bytes (see the top). */
static struct rte_mempool *
create_pkt_pool(unsigned int n, uint16_t priv_size, int socket)
{
	struct rte_pktmbuf_pool_private pp;
	struct rte_mempool_objsz sz;
	struct rte_mempool *mp;
	uint32_t fixed, elt;

	rte_mempool_calc_obj_size(sizeof(struct rte_mbuf) + priv_size, RTE_MEMPOOL_F_NO_SPREAD, &sz);
	fixed = sz.header_size + sz.trailer_size + sizeof(struct rte_mbuf) + priv_size;
	elt = sizeof(struct rte_mbuf) + priv_size + (RF_PKT_ELT_TOTAL - fixed);
	memset(&pp, 0, sizeof(pp));
	pp.mbuf_data_room_size = (uint16_t)(RF_PKT_ELT_TOTAL - fixed);
	pp.mbuf_priv_size = priv_size;
	mp = rte_mempool_create_empty("rf_pkt", n, elt, RF_POOL_CACHE, sizeof(pp), socket,
				      RTE_MEMPOOL_F_NO_SPREAD);
	if (mp == NULL)
		return NULL;
	if (rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL) != 0)
		goto fail;
	rte_pktmbuf_pool_init(mp, &pp);
	if (rte_mempool_populate_default(mp) < 0)
		goto fail;
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	return mp;
fail:
	rte_mempool_free(mp);
	return NULL;
}

/* A secondary process (--cores) uses the pools the primary made: shared memory, mapped at the
 * same addresses in every process. */
static int
attach_pools(struct rf_pools *pools)
{
	pools->pkt = rte_mempool_lookup("rf_pkt");
	pools->hdr = rte_mempool_lookup("rf_hdr");
	if (pools->pkt == NULL || pools->hdr == NULL) {
		fprintf(stderr, "no packet pools from the primary process: %s\n",
			rte_strerror(rte_errno));
		pools->pkt = pools->hdr = NULL;
		return -ENOENT;
	}
	pools->pkt_count = pools->pkt->size;
	pools->hdr_count = pools->hdr->size;
	if (learn_geometry(pools->pkt) != 0) {
		pools->pkt = pools->hdr = NULL;
		return -ENOMEM;
	}
	return 0;
}

int
rf_pools_create(struct rf_pools *pools, unsigned int pkt_count, uint16_t priv_size)
{
	int socket = (int)rte_socket_id();

	if (rte_eal_process_type() != RTE_PROC_PRIMARY) /* --cores: the primary's pools */
		return attach_pools(pools);
	pools->pkt_count = pkt_count;
	pools->hdr_count = pkt_count;
	pools->pkt = create_pkt_pool(pkt_count, priv_size, socket);
	if (pools->pkt == NULL) {
		fprintf(stderr, "cannot create the packet pool (%u mbufs of %u bytes): %s\n", pkt_count,
			RF_PKT_ELT_TOTAL, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	pools->hdr = rte_pktmbuf_pool_create("rf_hdr", pools->hdr_count, RF_POOL_CACHE, 0,
					     RF_HDR_DATA_ROOM, socket);
	if (pools->hdr == NULL) {
		fprintf(stderr, "cannot create the header pool (%u mbufs): %s\n", pools->hdr_count,
			rte_strerror(rte_errno));
		rte_mempool_free(pools->pkt);
		pools->pkt = NULL;
		return -ENOMEM;
	}

	if (learn_geometry(pools->pkt) != 0) {
		rf_pools_free(pools);
		return -ENOMEM;
	}
	RF_LOG(INFO, drivers, "packet pool: %u mbufs of %u data bytes in %u chunk(s), stride %zu, %s\n",
	       pkt_count, rte_pktmbuf_data_room_size(pools->pkt) - RTE_PKTMBUF_HEADROOM, geometry.n,
	       geometry.elt_total, geometry.uniform ? "uniform" : "searched");
	return 0;
}

void
rf_pools_free(struct rf_pools *pools)
{
	if (rte_eal_process_type() == RTE_PROC_PRIMARY) { /* a secondary's are the primary's */
		rte_mempool_free(pools->pkt);
		rte_mempool_free(pools->hdr);
	}
	pools->pkt = pools->hdr = NULL;
	free(geometry.objs);
	geometry.objs = NULL;
	geometry.n = 0;
}

unsigned int
rf_pool_in_use(const struct rte_mempool *mp)
{
	return rte_mempool_in_use_count(mp);
}
