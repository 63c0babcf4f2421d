/* exporter.c - libmicrohttpd on its own thread; each scrape of /metrics has the owner
 * render the text then, so it is as fresh as the scrape and costs nothing between scrapes. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include "exporter.h"
#include "log.h"

struct ilb_exporter {
	struct MHD_Daemon *daemon;
	struct ilb_exporter_ops ops;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type, const char *body)
{
	struct MHD_Response *res = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!res)
		return MHD_NO;
	MHD_add_response_header(res, "Content-Type", type);
	ret = MHD_queue_response(conn, status, res);
	MHD_destroy_response(res);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **state)
{
	struct ilb_exporter *e = cls;
	enum MHD_Result ret;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(conn, 405, "text/plain", "method not allowed\n");
	if (!strcmp(url, "/healthz"))
		return reply(conn, 200, "text/plain", "ok\n");
	if (!strcmp(url, "/readyz"))
		return e->ops.ready(e->ops.ctx) ? reply(conn, 200, "text/plain", "ready\n")
						: reply(conn, 503, "text/plain", "sources not synced yet\n");
	if (!strcmp(url, "/metrics")) {
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);

		if (!out)
			return MHD_NO;
		e->ops.render(e->ops.ctx, out);
		if (fclose(out)) {
			free(text);
			return MHD_NO;
		}
		ret = reply(conn, 200, "text/plain; version=0.0.4", text);
		free(text);
		return ret;
	}
	return reply(conn, 404, "text/plain", "not found\n");
}

struct ilb_exporter *ilb_exporter_start(const char *addr, const struct ilb_exporter_ops *ops)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(addr, ':');
	struct ilb_exporter *e;

	if (!colon || colon - addr >= (long)sizeof(host)) {
		pr_warn("--metrics-addr %s: expected IP:PORT", addr);
		return NULL;
	}
	memcpy(host, addr, colon - addr);
	host[colon - addr] = '\0';
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1 || atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535) {
		pr_warn("--metrics-addr %s: expected IPv4:PORT", addr);
		return NULL;
	}
	sin.sin_port = htons(atoi(colon + 1));
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->ops = *ops;
	e->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, handle, e,
				     MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!e->daemon) {
		pr_warn("metrics endpoint on %s: cannot listen", addr);
		free(e);
		return NULL;
	}
	return e;
}

void ilb_exporter_stop(struct ilb_exporter *e)
{
	if (!e)
		return;
	MHD_stop_daemon(e->daemon);
	free(e);
}
