/* l4.h - attaches the L4 lane to the node's uplink: xdp_steer through libxdp's dispatcher
 * (so other XDP programs can share the interface) and tc_reverse_nat through a pinned tcx
 * link (clsact where the kernel has no tcx). Both outlive the agent and are adopted. */
#ifndef ILB_L4_H
#define ILB_L4_H

#include <stdbool.h>

enum ilb_xdp_mode { ILB_XDP_NATIVE = 0, ILB_XDP_SKB = 1 };

struct ilb_l4 {
	char iface[32];
	int ifindex;
	enum ilb_xdp_mode mode;
	bool xdp_adopted, tc_adopted;
	bool tc_clsact; /* attached through clsact rather than a tcx link */
};

/* Attaches (or adopts) both programs; maps come from pin_dir. */
int ilb_l4_attach(struct ilb_l4 *l4, const char *pin_dir, const char *iface, enum ilb_xdp_mode mode);
/* Removes both programs from iface (used by --cleanup). */
int ilb_l4_detach(const char *pin_dir, const char *iface);
const char *ilb_xdp_mode_name(enum ilb_xdp_mode mode);

#endif
