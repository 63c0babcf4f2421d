/* l4.c - attaches xdp_steer and tc_reverse_nat, or adopts the ones a previous agent left,
 * so that a restart never detaches the data path. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "l4.h"
#include "log.h"
#include "tc_reverse_nat.skel.h"
#include "xdp_steer.skel.h"

/* Not in Debian 12's uapi headers; the kernel has had them since 6.6. */
#ifndef BPF_TCX_EGRESS
#define BPF_TCX_EGRESS 47
#endif
#define TC_PRIORITY 0xb7 /* clsact fallback: our filter's priority and handle */

const char *ilb_xdp_mode_name(enum ilb_xdp_mode mode)
{
	return mode == ILB_XDP_SKB ? "skb" : "native";
}

static bool xdp_already_attached(int ifindex)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *prog = NULL;
	bool found = false;

	if (libxdp_get_error(mp))
		return false;
	if (xdp_multiprog__is_legacy(mp)) {
		prog = xdp_multiprog__main_prog(mp);
		found = prog && !strcmp(xdp_program__name(prog), "xdp_steer");
	} else {
		while ((prog = xdp_multiprog__next_prog(prog, mp)))
			if (!strcmp(xdp_program__name(prog), "xdp_steer"))
				found = true;
	}
	xdp_multiprog__close(mp);
	return found;
}

static int attach_xdp(struct ilb_l4 *l4, const char *pin_dir)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct xdp_steer *skel;
	struct xdp_program *prog;
	int err;

	if (xdp_already_attached(l4->ifindex)) {
		l4->xdp_adopted = true;
		pr_info("xdp_steer already on %s: adopted", l4->iface);
		return 0;
	}
	skel = xdp_steer__open_opts(&opts);
	if (!skel)
		return -errno;
	prog = xdp_program__from_bpf_obj(skel->obj, "xdp");
	err = libxdp_get_error(prog);
	if (err) {
		prog = NULL;
		goto out;
	}
	err = xdp_program__attach(prog, l4->ifindex, l4->mode == ILB_XDP_SKB ? XDP_MODE_SKB : XDP_MODE_NATIVE, 0);
	if (err) {
		char msg[128];

		libxdp_strerror(err, msg, sizeof(msg));
		pr_warn("attaching xdp_steer to %s in %s mode: %s%s", l4->iface, ilb_xdp_mode_name(l4->mode), msg,
			l4->mode == ILB_XDP_NATIVE ? " (try --xdp-mode skb)" : "");
		goto out;
	}
	pr_info("xdp_steer attached to %s (%s)", l4->iface, ilb_xdp_mode_name(l4->mode));
out:
	xdp_program__close(prog);
	xdp_steer__destroy(skel);
	return err;
}

static void tc_link_path(char *buf, size_t len, const char *pin_dir, const char *iface)
{
	snprintf(buf, len, "%s/link_tc_%s", pin_dir, iface);
}

static int attach_tc(struct ilb_l4 *l4, const char *pin_dir)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	char link_path[320];
	struct tc_reverse_nat *skel;
	int prog_fd, link_fd, err = 0;

	tc_link_path(link_path, sizeof(link_path), pin_dir, l4->iface);
	link_fd = bpf_obj_get(link_path);
	if (link_fd >= 0) {
		close(link_fd);
		l4->tc_adopted = true;
		return 0;
	}
	skel = tc_reverse_nat__open_opts(&opts);
	if (!skel)
		return -errno;
	err = tc_reverse_nat__load(skel);
	if (err)
		goto out;
	prog_fd = bpf_program__fd(skel->progs.tc_reverse_nat);
	link_fd = bpf_link_create(prog_fd, l4->ifindex, BPF_TCX_EGRESS, NULL);
	if (link_fd >= 0) {
		err = bpf_obj_pin(link_fd, link_path) ? -errno : 0;
		close(link_fd);
		if (!err)
			pr_info("tc_reverse_nat attached to %s egress (tcx)", l4->iface);
		goto out;
	}
	/* No tcx (kernels before 6.6): a clsact filter, which also outlives us. */
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l4->ifindex, .attach_point = BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, tc, .handle = TC_PRIORITY, .priority = TC_PRIORITY, .prog_fd = prog_fd,
			    .flags = BPF_TC_F_REPLACE);
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		goto out;
	err = bpf_tc_attach(&hook, &tc);
	if (!err) {
		l4->tc_clsact = true;
		pr_info("tc_reverse_nat attached to %s egress (clsact)", l4->iface);
	}
out:
	if (err)
		pr_warn("attaching tc_reverse_nat to %s: %s", l4->iface, strerror(-err));
	tc_reverse_nat__destroy(skel);
	return err;
}

int ilb_l4_attach(struct ilb_l4 *l4, const char *pin_dir, const char *iface, enum ilb_xdp_mode mode)
{
	int err;

	memset(l4, 0, sizeof(*l4));
	snprintf(l4->iface, sizeof(l4->iface), "%s", iface);
	l4->mode = mode;
	l4->ifindex = if_nametoindex(iface);
	if (!l4->ifindex) {
		pr_warn("interface %s: %s", iface, strerror(errno));
		return -ENODEV;
	}
	err = attach_xdp(l4, pin_dir);
	if (err)
		return err;
	return attach_tc(l4, pin_dir);
}

int ilb_l4_detach(const char *pin_dir, const char *iface)
{
	int ifindex = if_nametoindex(iface);
	struct xdp_multiprog *mp;
	struct xdp_program *prog = NULL;
	char link_path[320];
	int err = 0;

	if (!ifindex)
		return -ENODEV;
	mp = xdp_multiprog__get_from_ifindex(ifindex);
	if (!libxdp_get_error(mp)) {
		if (xdp_multiprog__is_legacy(mp)) {
			prog = xdp_multiprog__main_prog(mp);
			if (prog && !strcmp(xdp_program__name(prog), "xdp_steer"))
				err = xdp_program__detach(prog, ifindex, xdp_multiprog__attach_mode(mp), 0);
		} else {
			while ((prog = xdp_multiprog__next_prog(prog, mp)))
				if (!strcmp(xdp_program__name(prog), "xdp_steer"))
					err = xdp_program__detach(prog, ifindex, xdp_multiprog__attach_mode(mp), 0);
		}
		xdp_multiprog__close(mp);
	}
	tc_link_path(link_path, sizeof(link_path), pin_dir, iface);
	int link_fd = bpf_obj_get(link_path);

	if (link_fd >= 0) {
		bpf_link_detach(link_fd);
		close(link_fd);
		unlink(link_path);
	} else {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, tc, .handle = TC_PRIORITY, .priority = TC_PRIORITY);
		bpf_tc_detach(&hook, &tc);
	}
	return err;
}
