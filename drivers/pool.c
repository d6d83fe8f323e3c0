/*
 * Packet memory pools, and the map from a payload pointer back to its mbuf.
 *
 * Zero-copy TX needs that map: lwIP hands the netif pbufs whose payload pointers point into
 * application buffers, which are packet-pool mbufs. Every pool element has the same size, so
 * within one memory chunk of the pool, element k starts at first_obj + k * elt_total. The
 * chunks (one or a few; rte_mempool_mem_iter lists them) are recorded once at creation.
 */
#include <errno.h>
#include <stdio.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "rf_drivers.h"

/* Header mbufs hold Ethernet + IPv6 + TCP with options (at most 14 + 40 + 60); they are also
 * used as indirect mbufs, which need no data room at all. */
#define RF_HDR_DATA_ROOM 192
#define RF_PKT_DATA_ROOM (RTE_MBUF_DEFAULT_BUF_SIZE)
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
record_first_obj(struct rte_mempool *mp, void *opaque, void *obj, unsigned int idx)
{
	(void)mp;
	(void)opaque;
	(void)idx;
	for (unsigned int i = 0; i < geometry.n; i++) {
		struct rf_chunk *c = &geometry.chunk[i];

		if ((uintptr_t)obj >= c->start && (uintptr_t)obj < c->end && (uintptr_t)obj < c->first_obj)
			c->first_obj = (uintptr_t)obj;
	}
}

struct rte_mbuf *
rf_pool_mbuf_of(const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;

	for (unsigned int i = 0; i < geometry.n; i++) {
		const struct rf_chunk *c = &geometry.chunk[i];

		if (p >= c->first_obj && p < c->end) {
			uintptr_t k = (p - c->first_obj) / geometry.elt_total;
			struct rte_mbuf *m = (struct rte_mbuf *)(c->first_obj + k * geometry.elt_total);
			uintptr_t buf = (uintptr_t)m->buf_addr;

			return p >= buf && p < buf + m->buf_len ? m : NULL;
		}
	}
	return NULL;
}

int
rf_pools_create(struct rf_pools *pools, unsigned int pkt_count, uint16_t priv_size)
{
	int socket = (int)rte_socket_id();

	pools->pkt_count = pkt_count;
	pools->hdr_count = pkt_count;
	pools->pkt = rte_pktmbuf_pool_create("rf_pkt", pkt_count, RF_POOL_CACHE, priv_size,
					     RF_PKT_DATA_ROOM, socket);
	if (pools->pkt == NULL) {
		fprintf(stderr, "cannot create the packet pool (%u mbufs of %u bytes): %s\n", pkt_count,
			RF_PKT_DATA_ROOM, rte_strerror(rte_errno));
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

	geometry.n = 0;
	geometry.elt_total =
		pools->pkt->header_size + pools->pkt->elt_size + pools->pkt->trailer_size;
	rte_mempool_mem_iter(pools->pkt, record_chunk, NULL);
	rte_mempool_obj_iter(pools->pkt, record_first_obj, NULL);
	RF_LOG(INFO, drivers, "packet pool: %u mbufs in %u chunk(s), stride %zu bytes\n", pkt_count,
	       geometry.n, geometry.elt_total);
	return 0;
}

void
rf_pools_free(struct rf_pools *pools)
{
	rte_mempool_free(pools->pkt);
	rte_mempool_free(pools->hdr);
	pools->pkt = pools->hdr = NULL;
	geometry.n = 0;
}

unsigned int
rf_pool_in_use(const struct rte_mempool *mp)
{
	return rte_mempool_in_use_count(mp);
}
