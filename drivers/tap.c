/*
 * The kernel side of the embedded default's tap device.
 *
 * With the embedded default the "wire" is net_tap's rf0 interface, whose other end is the
 * kernel of the same network namespace. So that `ping 198.18.0.2` works with no other step,
 * the program gives rf0 the kernel-side address (198.18.0.1/24 by default) and brings it up,
 * with the same ioctls `ip addr add` and `ip link set up` use. With --mtu, any net_tap port's
 * kernel interface gets the MTU (`ip link set mtu`): its MTU is the device's (drivers/port.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rf_drivers.h"

static int
set_addr(int fd, const char *ifname, unsigned long req, uint32_t addr_be)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = addr_be;
	return ioctl(fd, req, &ifr);
}

int
rf_tap_kernel_setup(const char *ifname, uint32_t ip_be, uint32_t mask_be)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (set_addr(fd, ifname, SIOCSIFADDR, ip_be) != 0 ||
	    set_addr(fd, ifname, SIOCSIFNETMASK, mask_be) != 0) {
		rc = -errno;
		goto out;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
		rc = -errno;
		goto out;
	}
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
		rc = -errno;
out:
	close(fd);
	return rc;
}

int
rf_tap_kernel_set_mac(const char *ifname, const struct rte_ether_addr *mac)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), rc = 0;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	/* down first: the kernel derives its IPv6 link-local address from the MAC when the
	 * interface comes up (net_tap has brought it up already) */
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags &= ~IFF_UP;
		(void)ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac->addr_bytes, RTE_ETHER_ADDR_LEN);
	if (ioctl(fd, SIOCSIFHWADDR, &ifr) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* The kernel's own struct in6_ifreq (linux/ipv6.h), which glibc does not export. */
struct rf_in6_ifreq {
	struct in6_addr addr;
	uint32_t prefixlen;
	int ifindex;
};

int
rf_tap_kernel_setup6(const char *ifname, const uint8_t ip6[16])
{
	char path[128];
	struct rf_in6_ifreq req;
	int fd, rc = 0;

	/* no duplicate address detection: the address would stay tentative for a second */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_dad", ifname);
	fd = open(path, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "0", 1) != 1)
			rc = -errno;
		close(fd);
	}
	if (rc != 0)
		return rc;
	memset(&req, 0, sizeof(req));
	memcpy(&req.addr, ip6, 16);
	req.prefixlen = 64;
	req.ifindex = (int)if_nametoindex(ifname);
	if (req.ifindex == 0)
		return -errno;
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCSIFADDR, &req) != 0 && errno != EEXIST)
		rc = -errno;
	close(fd);
	return rc;
}

int
rf_tap_set_mtu(unsigned int ifindex, uint16_t mtu)
{
	struct ifreq ifr;
	int fd, rc = 0;

	memset(&ifr, 0, sizeof(ifr));
	if (if_indextoname(ifindex, ifr.ifr_name) == NULL)
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	ifr.ifr_mtu = mtu;
	if (ioctl(fd, SIOCSIFMTU, &ifr) != 0)
		rc = -errno;
	close(fd);
	return rc;
}
