/*
 * Connections: listeners and what they accept, and connecting out (rf_listen,
 * rf_listener_close, rf_connect, with lwIP's accept and connected callbacks). The flow
 * objects themselves are flow.c's.
 */
#include <stdlib.h>

#include "lwip/ip4.h"
#include "lwip/netif.h"
#include "lwip/tcp.h"

#include "flow_internal.h"
#include "rf_pressure.h"

#define RF_LISTEN_BACKLOG 255

static err_t
on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct rf_flow *f = arg;

	(void)pcb;
	(void)err; /* lwIP 2.1 always passes ERR_OK; failures go to on_err */
	f->connecting = false;
	rf__flow_queue(f, RF__C_CONNECT, RF_OK, (void (*)(void))f->connect_cb, f->connect_arg, NULL);
	rf__flow_push(f);
	return ERR_OK;
}

static err_t
on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct rf_listener *ls = arg;
	struct rf_flow *f;

	if (err != ERR_OK || pcb == NULL)
		return ERR_VAL;
	f = rf__flow_new(ls->loop);
	if (f == NULL) {
		ls->loop->accept_refused++;
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	rf__flow_attach(f, pcb);
	ls->pending++;
	struct rf__comp c = {.kind = RF__C_ACCEPT, .flow = f, .ls = ls};
	rf__complete(ls->loop, &c);
	return ERR_OK;
}

/* ---- the API ------------------------------------------------------------------------- */

int
rf_listen(struct rf_loop *l, const struct rf_addr *addr, uint16_t port, rf_accept_cb *cb,
	  void *arg, struct rf_listener **out)
{
	struct rf_listener *ls;
	struct tcp_pcb *pcb, *lpcb;
	ip_addr_t ip;
	err_t err;

	if (l == NULL || cb == NULL || out == NULL || port == 0)
		return RF_EINVAL;
	if (addr != NULL && rf__addr_to_lwip(addr, &ip) != 0)
		return RF_EAFNOSUPPORT;
	ls = calloc(1, sizeof(*ls));
	if (ls == NULL)
		return RF_ENOMEM;
	pcb = tcp_new_ip_type(addr == NULL ? IPADDR_TYPE_ANY : IP_GET_TYPE(&ip));
	if (pcb == NULL) {
		free(ls);
		return RF_ENOMEM;
	}
	err = tcp_bind(pcb, addr == NULL ? IP_ANY_TYPE : &ip, port);
	if (err != ERR_OK) {
		tcp_close(pcb);
		free(ls);
		return err == ERR_USE ? RF_EADDRINUSE : RF_EINVAL;
	}
	lpcb = tcp_listen_with_backlog_and_err(pcb, RF_LISTEN_BACKLOG, &err);
	if (lpcb == NULL) {
		tcp_close(pcb);
		free(ls);
		return RF_ENOMEM;
	}
	ls->loop = l;
	ls->pcb = lpcb;
	ls->cb = cb;
	ls->arg = arg;
	tcp_arg(lpcb, ls);
	tcp_accept(lpcb, on_accept);
	ls->next = l->listening;
	if (l->listening != NULL)
		l->listening->prev = ls;
	l->listening = ls;
	l->listeners++;
	*out = ls;
	return 0;
}

void
rf_listener_close(struct rf_listener *ls)
{
	struct rf_loop *l;

	if (ls == NULL || ls->closed)
		return;
	l = ls->loop;
	tcp_arg(ls->pcb, NULL);
	tcp_accept(ls->pcb, NULL);
	tcp_close(ls->pcb);
	ls->pcb = NULL;
	ls->closed = true;
	if (ls->prev != NULL)
		ls->prev->next = ls->next;
	else
		l->listening = ls->next;
	if (ls->next != NULL)
		ls->next->prev = ls->prev;
	l->listeners--;
	if (ls->pending == 0)
		free(ls); /* else the last pending accept frees it (rf__dispatch) */
}

/* lwIP routes every destination to the default interface; an off-link IPv4 address is
 * reachable only through a gateway (etharp_output fails every SYN with ERR_RTE otherwise). */
static bool
reachable(const ip_addr_t *ip)
{
	const struct netif *n;

	if (!IP_IS_V4(ip))
		return true;
	n = ip4_route(ip_2_ip4(ip));
	if (n == NULL)
		return false;
	return ip4_addr_netcmp(ip_2_ip4(ip), netif_ip4_addr(n), netif_ip4_netmask(n)) ||
	       !ip4_addr_isany_val(*netif_ip4_gw(n));
}

int
rf_connect(struct rf_loop *l, const struct rf_addr *addr, uint16_t port, rf_connect_cb *cb,
	   void *arg, struct rf_flow **out)
{
	struct rf_flow *f;
	struct tcp_pcb *pcb;
	ip_addr_t ip;
	err_t err;

	if (l == NULL || addr == NULL || cb == NULL || out == NULL || port == 0)
		return RF_EINVAL;
	if (rf__addr_to_lwip(addr, &ip) != 0)
		return RF_EAFNOSUPPORT;
	if (!reachable(&ip))
		return RF_EHOSTUNREACH;
	if (rf_pool_low())
		return RF_ENOBUFS; /* no room for what the connection will receive (pressure.c) */
	f = rf__flow_new(l);
	if (f == NULL)
		return RF_ENOMEM;
	pcb = tcp_new_ip_type(IP_GET_TYPE(&ip));
	if (pcb == NULL) {
		f->app_done = true;
		rf__flow_maybe_free(f);
		return RF_ENOMEM;
	}
	rf__flow_attach(f, pcb);
	f->connecting = true;
	f->connect_cb = cb;
	f->connect_arg = arg;
	err = tcp_connect(pcb, &ip, port, on_connected);
	if (err != ERR_OK) {
		rf__flow_detach(f);
		tcp_abort(pcb);
		f->app_done = true;
		rf__flow_maybe_free(f);
		return err == ERR_RTE ? RF_EHOSTUNREACH : err == ERR_USE ? RF_EADDRINUSE : RF_ENOMEM;
	}
	f->snd_max = pcb->snd_nxt; /* the ISN is chosen now (the SYN is not payload) */
	rf__tel_flow_state(f, false);
	*out = f;
	return 0;
}
