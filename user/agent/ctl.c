/* ctl.c - serves the control socket. Requests are small and answered at once, so each
 * connection is handled inline with a short receive timeout: a stuck client cannot hold
 * the agent's loop for longer than that. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "ctl.h"
#include "log.h"

#define CTL_MAX_REQUEST 65536
#define CTL_TIMEOUT_MS 200

struct ilb_ctl {
	int fd;
	char path[108];
	ilb_ctl_handler handler;
	void *ctx;
};

cJSON *ilb_ctl_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	cJSON *res = cJSON_CreateObject();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_AddBoolToObject(res, "ok", 0);
	cJSON_AddStringToObject(res, "error", msg);
	return res;
}

static int mkdir_parent(const char *path)
{
	char dir[108];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

struct ilb_ctl *ilb_ctl_open(const char *path, ilb_ctl_handler handler, void *ctx)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct ilb_ctl *ctl;
	mode_t old_mask;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return NULL;
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	ctl->handler = handler;
	ctl->ctx = ctx;
	mkdir_parent(path);
	strcpy(addr.sun_path, path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0)
		goto fail;
	unlink(path);
	old_mask = umask(0177); /* the socket is born 0600 */
	int rc = bind(ctl->fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old_mask);
	if (rc || listen(ctl->fd, 64))
		goto fail;
	return ctl;
fail:
	pr_warn("control socket %s: %s", path, strerror(errno));
	if (ctl->fd >= 0)
		close(ctl->fd);
	free(ctl);
	return NULL;
}

int ilb_ctl_fd(const struct ilb_ctl *ctl)
{
	return ctl->fd;
}

static void answer(struct ilb_ctl *ctl, int conn)
{
	char *buf = malloc(CTL_MAX_REQUEST + 1), *out = NULL;
	size_t len = 0;
	cJSON *req = NULL, *res = NULL;
	const cJSON *cmd;

	if (!buf)
		return;
	/* Read until the client shuts its side, a newline, or the limit. */
	while (len < CTL_MAX_REQUEST) {
		struct pollfd pfd = { .fd = conn, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, CTL_TIMEOUT_MS) <= 0)
			break;
		n = read(conn, buf + len, CTL_MAX_REQUEST - len);
		if (n <= 0)
			break;
		len += n;
		if (memchr(buf + len - n, '\n', n))
			break;
	}
	buf[len] = '\0';
	req = cJSON_Parse(buf);
	cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
	if (!req)
		res = ilb_ctl_error("request is not JSON");
	else if (!cJSON_IsString(cmd))
		res = ilb_ctl_error("request has no \"cmd\"");
	else
		res = ctl->handler(cmd->valuestring, req, ctl->ctx);
	if (!res)
		res = ilb_ctl_error("command failed");
	if (!cJSON_GetObjectItem(res, "ok"))
		cJSON_AddBoolToObject(res, "ok", 1);
	out = cJSON_PrintUnformatted(res);
	if (out) {
		size_t off = 0, total = strlen(out);

		while (off < total) {
			struct pollfd pfd = { .fd = conn, .events = POLLOUT };
			ssize_t n;

			if (poll(&pfd, 1, CTL_TIMEOUT_MS) <= 0)
				break;
			n = write(conn, out + off, total - off);
			if (n <= 0)
				break;
			off += n;
		}
		if (write(conn, "\n", 1) < 0)
			pr_debug("control client went away");
	}
	free(out);
	cJSON_Delete(req);
	cJSON_Delete(res);
	free(buf);
}

void ilb_ctl_process(struct ilb_ctl *ctl)
{
	int conn;

	while ((conn = accept4(ctl->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		answer(ctl, conn);
		close(conn);
	}
}

void ilb_ctl_close(struct ilb_ctl *ctl)
{
	if (!ctl)
		return;
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl);
}
