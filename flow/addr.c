/*
 * Tagged IP addresses: text forms and conversion to and from lwIP's ip_addr_t.
 */
#include <arpa/inet.h>
#include <string.h>

#include "flow_internal.h"

int
rf_addr_parse(const char *s, struct rf_addr *out)
{
	if (s == NULL || out == NULL)
		return RF_EINVAL;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->bytes) == 1) {
		out->family = RF_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->bytes) == 1) {
		out->family = RF_AF_INET6;
		return 0;
	}
	return RF_EINVAL;
}

char *
rf_addr_format(const struct rf_addr *a, char *buf, size_t len)
{
	int af = a->family == RF_AF_INET6 ? AF_INET6 : AF_INET;

	if (inet_ntop(af, a->bytes, buf, (socklen_t)len) == NULL && len > 0)
		buf[0] = '\0';
	return buf;
}

int
rf__addr_to_lwip(const struct rf_addr *a, ip_addr_t *out)
{
	if (a->family == RF_AF_INET) {
		uint32_t v;

		memcpy(&v, a->bytes, 4);
		ip_addr_set_ip4_u32_val(*out, v);
		return 0;
	}
	if (a->family == RF_AF_INET6) {
		uint32_t w[4];

		memcpy(w, a->bytes, 16);
		IP_ADDR6(out, w[0], w[1], w[2], w[3]);
		ip6_addr_clear_zone(ip_2_ip6(out));
		return 0;
	}
	return RF_EAFNOSUPPORT;
}

void
rf__addr_from_lwip(const ip_addr_t *ip, struct rf_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (IP_IS_V6(ip)) {
		out->family = RF_AF_INET6;
		memcpy(out->bytes, ip_2_ip6(ip)->addr, 16);
	} else {
		uint32_t v = ip4_addr_get_u32(ip_2_ip4(ip));

		out->family = RF_AF_INET;
		memcpy(out->bytes, &v, 4);
	}
}
