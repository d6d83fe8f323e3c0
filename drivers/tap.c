/*
 * The kernel side of the embedded default's tap device.
 *
 * With the embedded default the "wire" is net_tap's rf0 interface, whose other end is the
 * kernel of the same network namespace. So that `ping 198.18.0.2` works with no other step,
 * the program gives rf0 the kernel-side address (198.18.0.1/24 by default) and brings it up,
 * with the same ioctls `ip addr add` and `ip link set up` use.
 */
#include <errno.h>
#include <net/if.h>
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
