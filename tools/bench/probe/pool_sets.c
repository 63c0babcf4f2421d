/* pool_sets.c - the pools' ready sets as XDP reads them: the pinned `pools`, `pool_backends`
 * and `backends` maps, read through the agent's own map accessors (kern/maps.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "probe.h"

/* Opens one pin and checks that its values have the size include/inferlb.h gives them. */
static int open_map(const char *pin_dir, const char *name, uint32_t value_size, uint32_t *max_entries,
		    char *err_msg, size_t err_len)
{
	struct bpf_map_info info = { 0 };
	uint32_t info_len = sizeof(info);
	char path[512];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		snprintf(err_msg, err_len, "cannot open %s: %s", path, strerror(-err));
		return err;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len)) {
		err = -errno;
		snprintf(err_msg, err_len, "cannot read what %s is: %s", path, strerror(-err));
		goto fail;
	}
	if (info.value_size != value_size) {
		err = -EPROTO;
		snprintf(err_msg, err_len, "%s holds %u-byte values, not the %u of include/inferlb.h", path,
			 info.value_size, value_size);
		goto fail;
	}
	if (max_entries)
		*max_entries = info.max_entries;
	return fd;
fail:
	close(fd);
	return err;
}

int pool_sets_open(struct pool_sets *s, const char *pin_dir, char *err_msg, size_t err_len)
{
	int fd;

	memset(s, 0, sizeof(*s));
	s->maps.pools = s->maps.pool_backends = s->maps.backends = -1;
	fd = open_map(pin_dir, "pools", sizeof(struct pool_value), NULL, err_msg, err_len);
	if (fd < 0)
		goto fail;
	s->maps.pools = fd;
	fd = open_map(pin_dir, "pool_backends", sizeof(uint32_t), NULL, err_msg, err_len);
	if (fd < 0)
		goto fail;
	s->maps.pool_backends = fd;
	fd = open_map(pin_dir, "backends", sizeof(struct backend), &s->max_backends, err_msg, err_len);
	if (fd < 0)
		goto fail;
	s->maps.backends = fd;
	return 0;
fail:
	pool_sets_close(s);
	return fd;
}

void pool_sets_close(struct pool_sets *s)
{
	if (s->maps.pools >= 0)
		close(s->maps.pools);
	if (s->maps.pool_backends >= 0)
		close(s->maps.pool_backends);
	if (s->maps.backends >= 0)
		close(s->maps.backends);
	s->maps.pools = s->maps.pool_backends = s->maps.backends = -1;
}

uint32_t pool_sets_find_pool(struct pool_sets *s, const char *name)
{
	struct pool_value pool;

	for (uint32_t id = 1; id < ILB_MAX_POOLS; id++) {
		if (ilb_maps_pool_get(&s->maps, id, &pool))
			continue;
		if (!strncmp(pool.name, name, sizeof(pool.name)))
			return id;
	}
	return 0;
}

uint32_t pool_sets_find_backend(struct pool_sets *s, uint32_t pool_id, const char *ip)
{
	struct in_addr want;
	struct backend b;

	if (inet_pton(AF_INET, ip, &want) != 1)
		return 0;
	for (uint32_t id = 1; id < s->max_backends; id++) {
		if (ilb_maps_backend_get(&s->maps, id, &b))
			continue;
		if (b.family == ILB_AF_INET && !memcmp(b.addr, &want, 4) && b.pool_id == pool_id)
			return id;
	}
	return 0;
}

int pool_sets_count(struct pool_sets *s, uint32_t pool_id)
{
	struct pool_value pool;
	int err = ilb_maps_pool_get(&s->maps, pool_id, &pool);

	return err ?: (int)pool.backend_count[pool.active_gen & 1];
}

bool pool_sets_has(struct pool_sets *s, uint32_t pool_id, uint32_t id)
{
	uint32_t ids[ILB_MAX_POOL_BACKENDS];
	int n = ilb_maps_pool_ready(&s->maps, pool_id, ids, ILB_MAX_POOL_BACKENDS);

	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}
