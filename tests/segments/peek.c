/*
 * The segment harness, a look inside lwIP: which TCP state a connection has reached, from
 * lwIP's own pcb lists (h_tcp_state in harness.h). Apart from wire.c because lwIP's protocol
 * headers and the C library's network headers (which DPDK's pull in) clash.
 */
#include "lwip/priv/tcp_priv.h"

#include "harness.h"

static const char *const state_names[] = {
	"CLOSED",   "LISTEN",     "SYN_SENT",   "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
	"FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT",
};

const char *
h_tcp_state(uint16_t pport)
{
	struct tcp_pcb *lists[] = {tcp_active_pcbs, tcp_tw_pcbs};

	for (unsigned int i = 0; i < 2; i++)
		for (struct tcp_pcb *p = lists[i]; p != NULL; p = p->next)
			if (p->remote_port == pport)
				return p->state < sizeof(state_names) / sizeof(state_names[0])
					       ? state_names[p->state]
					       : "?";
	return "CLOSED";
}
