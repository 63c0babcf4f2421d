/* neigh.c - route and neighbour lookups with libmnl. One request at a time on one
 * socket: the agent resolves a handful of next hops per second. */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_arp.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>
#include "neigh.h"

struct ilb_netlink {
	struct mnl_socket *sock;
	uint32_t portid, seq;
	char buf[8192];
};

struct ilb_netlink *ilb_netlink_open(void)
{
	struct ilb_netlink *nl = calloc(1, sizeof(*nl));

	if (!nl)
		return NULL;
	nl->sock = mnl_socket_open(NETLINK_ROUTE);
	if (!nl->sock || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ilb_netlink_close(nl);
		return NULL;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = time(NULL);
	return nl;
}

void ilb_netlink_close(struct ilb_netlink *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl);
}

static int af_of(const struct ilb_addr *a)
{
	return a->family == 6 ? AF_INET6 : AF_INET;
}

static int addr_len(const struct ilb_addr *a)
{
	return a->family == 6 ? 16 : 4;
}

/* Sends nlh and runs cb over the answer. */
static int talk(struct ilb_netlink *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	int ret;

	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		ret = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
		if (ret < 0)
			return -errno;
		ret = mnl_cb_run(nl->buf, ret, nl->seq, nl->portid, cb, data);
	} while (ret > 0);
	return ret < 0 ? -errno : 0;
}

struct route_answer {
	uint32_t oif;
	uint8_t gateway[16];
	bool has_gateway;
};

static int route_attr(const struct nlattr *attr, void *data)
{
	struct route_answer *ans = data;

	switch (mnl_attr_get_type(attr)) {
	case RTA_OIF:
		ans->oif = mnl_attr_get_u32(attr);
		break;
	case RTA_GATEWAY:
		memcpy(ans->gateway, mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr) > 16 ? 16 : mnl_attr_get_payload_len(attr));
		ans->has_gateway = true;
		break;
	}
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	mnl_attr_parse(nlh, sizeof(struct rtmsg), route_attr, data);
	return MNL_CB_OK;
}

struct neigh_answer {
	uint8_t mac[6];
	bool valid;
};

static int neigh_attr(const struct nlattr *attr, void *data)
{
	struct neigh_answer *ans = data;

	if (mnl_attr_get_type(attr) == NDA_LLADDR && mnl_attr_get_payload_len(attr) == 6)
		memcpy(ans->mac, mnl_attr_get_payload(attr), 6);
	return MNL_CB_OK;
}

static int neigh_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);
	struct neigh_answer *ans = data;

	mnl_attr_parse(nlh, sizeof(*ndm), neigh_attr, data);
	ans->valid = (ndm->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT |
					 NUD_NOARP)) != 0;
	return MNL_CB_OK;
}

static int src_mac_of(uint32_t ifindex, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	if (!if_indextoname(ifindex, ifr.ifr_name) || ioctl(fd, SIOCGIFHWADDR, &ifr))
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return err;
}

/* Asks the kernel to resolve the neighbour (NTF_USE starts resolution as traffic would). */
static void neigh_kick(struct ilb_netlink *nl, int family, const uint8_t *addr, int alen, uint32_t ifindex)
{
	char buf[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ndmsg *ndm;

	nlh->nlmsg_type = RTM_NEWNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = family;
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_state = NUD_NONE;
	ndm->ndm_flags = NTF_USE;
	mnl_attr_put(nlh, NDA_DST, alen, addr);
	talk(nl, nlh, NULL, NULL);
}

int ilb_nexthop_resolve(struct ilb_netlink *nl, const struct ilb_addr *dst, struct ilb_nexthop *out)
{
	char buf[256];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	struct ndmsg *ndm;
	struct route_answer route = { 0 };
	struct neigh_answer neigh = { 0 };
	const uint8_t *hop;
	int err;

	memset(out, 0, sizeof(*out));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK; /* the ack ends the answer */
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = af_of(dst);
	rtm->rtm_dst_len = addr_len(dst) * 8;
	mnl_attr_put(nlh, RTA_DST, addr_len(dst), dst->bytes);
	err = talk(nl, nlh, route_cb, &route);
	if (err)
		return err;
	if (!route.oif)
		return -ENETUNREACH;
	out->ifindex = route.oif;
	err = src_mac_of(route.oif, out->src_mac);
	if (err)
		return err;

	hop = route.has_gateway ? route.gateway : dst->bytes;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK; /* the ack ends the answer */
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = af_of(dst);
	ndm->ndm_ifindex = route.oif;
	mnl_attr_put(nlh, NDA_DST, addr_len(dst), hop);
	err = talk(nl, nlh, neigh_cb, &neigh);
	if (err || !neigh.valid) {
		neigh_kick(nl, af_of(dst), hop, addr_len(dst), route.oif);
		return -EAGAIN;
	}
	memcpy(out->dst_mac, neigh.mac, 6);
	return 0;
}

int ilb_netlink_local_route(struct ilb_netlink *nl, const struct ilb_addr *addr, bool add)
{
	char buf[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;
	int err;

	nlh->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = af_of(addr);
	rtm->rtm_dst_len = addr_len(addr) * 8;
	rtm->rtm_table = RT_TABLE_LOCAL;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_HOST;
	rtm->rtm_type = RTN_LOCAL;
	mnl_attr_put(nlh, RTA_DST, addr_len(addr), addr->bytes);
	mnl_attr_put_u32(nlh, RTA_OIF, if_nametoindex("lo"));
	err = talk(nl, nlh, NULL, NULL);
	return err == -ESRCH && !add ? 0 : err;
}
