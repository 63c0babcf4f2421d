/* maps.c - loads or adopts the pinned maps and writes them. A pool's backend set is never
 * edited in place: the inactive generation is written whole, then one index flips. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "maps.h"
#include "log.h"
#include "xdp_steer.skel.h"

static const char *const stat_names[ILB_STAT_MAX] = { ILB_STAT_NAMES };

const char *ilb_stat_name(int idx)
{
	return idx >= 0 && idx < ILB_STAT_MAX ? stat_names[idx] : "?";
}

uint64_t ilb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int ensure_bpffs(const char *pin_dir)
{
	struct statfs fs;

	if (statfs("/sys/fs/bpf", &fs) == 0 && fs.f_type == BPF_FS_MAGIC)
		goto mkdir;
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		pr_warn("mounting bpffs at /sys/fs/bpf: %s", strerror(errno));
		return -errno;
	}
mkdir:
	if (mkdir(pin_dir, 0700) && errno != EEXIST) {
		pr_warn("creating %s: %s", pin_dir, strerror(errno));
		return -errno;
	}
	return 0;
}

int ilb_maps_count_stale(struct bpf_object *obj)
{
	struct bpf_map *map;
	int stale = 0;

	bpf_object__for_each_map(map, obj) {
		const char *path = bpf_map__pin_path(map); /* set at open for LIBBPF_PIN_BY_NAME */
		struct bpf_map_info info = { 0 };
		uint32_t len = sizeof(info);
		int fd;

		if (!path)
			continue;
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		/* what libbpf compares before it reuses a pinned map */
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
		     info.value_size != bpf_map__value_size(map) || info.max_entries != bpf_map__max_entries(map) ||
		     info.map_flags != bpf_map__map_flags(map))) {
			pr_warn("%s: pinned by another version (type %u, key %u, value %u, %u entries, flags %#x; this "
				"agent's: type %u, key %u, value %u, %u entries, flags %#x)",
				path, info.type, info.key_size, info.value_size, info.max_entries, info.map_flags,
				bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map),
				bpf_map__max_entries(map), bpf_map__map_flags(map));
			stale++;
		}
		close(fd);
	}
	return stale;
}

bool ilb_maps_pins_stale(const char *pin_dir)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct xdp_steer *skel = xdp_steer__open_opts(&opts);
	int stale;

	if (!skel)
		return false;
	stale = ilb_maps_count_stale(skel->obj);
	xdp_steer__destroy(skel);
	return stale > 0;
}

int ilb_maps_open(struct ilb_maps *m, const char *pin_dir)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	char probe[300];
	int err;

	memset(m, 0, sizeof(*m));
	snprintf(m->pin_dir, sizeof(m->pin_dir), "%s", pin_dir);
	err = ensure_bpffs(pin_dir);
	if (err)
		return err;
	snprintf(probe, sizeof(probe), "%s/conntrack", pin_dir);
	m->adopted = access(probe, F_OK) == 0;

	m->skel = xdp_steer__open_opts(&opts);
	if (!m->skel)
		return -errno;
	err = xdp_steer__load(m->skel);
	if (err) {
		pr_warn("loading the maps (pinned under %s): %s", pin_dir, strerror(-err));
		goto fail;
	}
	m->vips = bpf_map__fd(m->skel->maps.vips);
	m->pools = bpf_map__fd(m->skel->maps.pools);
	m->pool_backends = bpf_map__fd(m->skel->maps.pool_backends);
	m->backends = bpf_map__fd(m->skel->maps.backends);
	m->backend_conns = bpf_map__fd(m->skel->maps.backend_conns);
	m->maglev = bpf_map__fd(m->skel->maps.maglev);
	m->conntrack = bpf_map__fd(m->skel->maps.conntrack);
	m->stats = bpf_map__fd(m->skel->maps.stats);
	m->heartbeat = bpf_map__fd(m->skel->maps.heartbeat);
	return 0;
fail:
	xdp_steer__destroy(m->skel);
	m->skel = NULL;
	return err;
}

void ilb_maps_close(struct ilb_maps *m)
{
	xdp_steer__destroy(m->skel);
	m->skel = NULL;
}

int ilb_maps_unpin(const char *pin_dir)
{
	char path[512];
	struct dirent *de;
	DIR *dir = opendir(pin_dir);
	int err = 0;

	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, de->d_name);
		if (de->d_type == DT_DIR) {
			int sub = ilb_maps_unpin(path);

			err = err ?: sub;
		} else if (unlink(path)) {
			err = err ?: -errno;
		}
	}
	closedir(dir);
	if (rmdir(pin_dir) && errno != ENOENT)
		err = err ?: -errno;
	return err;
}

static void vip_marker(const struct vip_key *key, struct vip_key *marker)
{
	memset(marker, 0, sizeof(*marker));
	marker->family = key->family;
	memcpy(marker->addr, key->addr, sizeof(marker->addr));
}

int ilb_maps_vip_set(struct ilb_maps *m, const struct vip_key *key, const struct vip_value *val)
{
	struct vip_value marker_val = { .pool_id = val->pool_id, .flags = ILB_VIP_ADDR_ONLY, .lane = val->lane };
	struct vip_key marker;

	vip_marker(key, &marker);
	if (bpf_map_update_elem(m->vips, &marker, &marker_val, BPF_ANY))
		return -errno;
	if (bpf_map_update_elem(m->vips, key, val, BPF_ANY))
		return -errno;
	return 0;
}

int ilb_maps_vip_del(struct ilb_maps *m, const struct vip_key *key)
{
	struct vip_key marker, cur, next;
	const struct vip_key *prev = NULL;
	bool shared = false;

	if (bpf_map_delete_elem(m->vips, key) && errno != ENOENT)
		return -errno;
	vip_marker(key, &marker);
	while (bpf_map_get_next_key(m->vips, prev, &next) == 0) {
		cur = next;
		prev = &cur;
		if (cur.port && cur.family == key->family && !memcmp(cur.addr, key->addr, sizeof(cur.addr)))
			shared = true;
	}
	if (!shared && bpf_map_delete_elem(m->vips, &marker) && errno != ENOENT)
		return -errno;
	return 0;
}

int ilb_maps_backend_set(struct ilb_maps *m, uint32_t id, const struct backend *b)
{
	if (id == 0 || id >= ILB_MAX_BACKENDS)
		return -ERANGE;
	return bpf_map_update_elem(m->backends, &id, b, BPF_ANY) ? -errno : 0;
}

int ilb_maps_backend_get(struct ilb_maps *m, uint32_t id, struct backend *b)
{
	return bpf_map_lookup_elem(m->backends, &id, b) ? -errno : 0;
}

int64_t ilb_maps_backend_active(struct ilb_maps *m, uint32_t id)
{
	struct backend_conns bc = { 0 };

	bpf_map_lookup_elem(m->backend_conns, &id, &bc);
	return bc.active;
}

int ilb_maps_pool_get(struct ilb_maps *m, uint32_t pool_id, struct pool_value *out)
{
	if (pool_id >= ILB_MAX_POOLS)
		return -ERANGE;
	return bpf_map_lookup_elem(m->pools, &pool_id, out) ? -errno : 0;
}

/* Writes n consecutive array slots starting at `first` in one syscall. */
static int write_slots(int fd, uint32_t first, const uint32_t *values, uint32_t n)
{
	uint32_t *keys;
	__u32 count = n;
	int err = 0;

	if (n == 0)
		return 0;
	keys = malloc(n * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		keys[i] = first + i;
	if (bpf_map_update_batch(fd, keys, values, &count, NULL)) {
		/* Kernels without batch ops on arrays: one slot at a time. */
		for (uint32_t i = 0; i < n && !err; i++)
			if (bpf_map_update_elem(fd, &keys[i], &values[i], BPF_ANY))
				err = -errno;
	}
	free(keys);
	return err;
}

int ilb_maps_pool_publish(struct ilb_maps *m, uint32_t pool_id, uint32_t flags, const uint32_t *ready_ids,
			  int n_ready, const uint32_t *ring)
{
	struct pool_value pool = { 0 };
	uint32_t next;
	int err;

	if (pool_id >= ILB_MAX_POOLS)
		return -ERANGE;
	if (n_ready < 0 || n_ready > ILB_MAX_POOL_BACKENDS)
		return -E2BIG;
	bpf_map_lookup_elem(m->pools, &pool_id, &pool);
	next = (pool.active_gen & 1) ^ 1;

	err = write_slots(m->pool_backends, ILB_POOL_SLOT(pool_id, next, 0), ready_ids, n_ready);
	if (!err && ring)
		err = write_slots(m->maglev, ILB_MAGLEV_SLOT(pool_id, next, 0), ring, ILB_MAGLEV_SIZE);
	if (err)
		return err;
	/* First the count of the new generation (readers still use the old one), then the flip. */
	pool.backend_count[next] = n_ready;
	pool.flags = flags;
	if (bpf_map_update_elem(m->pools, &pool_id, &pool, BPF_ANY))
		return -errno;
	pool.active_gen = next;
	if (bpf_map_update_elem(m->pools, &pool_id, &pool, BPF_ANY))
		return -errno;
	return 0;
}

static int read_slots(int fd, uint32_t first, uint32_t *out, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t key = first + i;

		if (bpf_map_lookup_elem(fd, &key, &out[i]))
			return -errno;
	}
	return 0;
}

int ilb_maps_pool_ready(struct ilb_maps *m, uint32_t pool_id, uint32_t *ids, int max)
{
	struct pool_value pool;
	uint32_t n;
	int err = ilb_maps_pool_get(m, pool_id, &pool);

	if (err)
		return err;
	n = pool.backend_count[pool.active_gen & 1];
	if (n > (uint32_t)max)
		n = max;
	err = read_slots(m->pool_backends, ILB_POOL_SLOT(pool_id, pool.active_gen & 1, 0), ids, n);
	return err ?: (int)n;
}

int ilb_maps_pool_ring(struct ilb_maps *m, uint32_t pool_id, uint32_t *ring)
{
	struct pool_value pool;
	int err = ilb_maps_pool_get(m, pool_id, &pool);

	if (err)
		return err;
	return read_slots(m->maglev, ILB_MAGLEV_SLOT(pool_id, pool.active_gen & 1, 0), ring, ILB_MAGLEV_SIZE);
}

int ilb_maps_pool_clear(struct ilb_maps *m, uint32_t pool_id)
{
	struct pool_value empty = { 0 };

	if (pool_id >= ILB_MAX_POOLS)
		return -ERANGE;
	return bpf_map_update_elem(m->pools, &pool_id, &empty, BPF_ANY) ? -errno : 0;
}

int ilb_maps_heartbeat(struct ilb_maps *m)
{
	uint32_t zero = 0;
	uint64_t now = ilb_now_ns();

	return bpf_map_update_elem(m->heartbeat, &zero, &now, BPF_ANY) ? -errno : 0;
}

int ilb_maps_stats(struct ilb_maps *m, uint64_t out[ILB_STAT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *percpu;

	if (ncpu <= 0)
		return ncpu ?: -EINVAL;
	percpu = calloc(ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (uint32_t i = 0; i < ILB_STAT_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(m->stats, &i, percpu))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[i] += percpu[c];
	}
	free(percpu);
	return 0;
}
