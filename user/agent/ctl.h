/* ctl.h - the agent's control socket: a Unix stream socket (mode 0600), one JSON request
 * per connection, answered with one JSON object. */
#ifndef ILB_CTL_H
#define ILB_CTL_H

#include <cjson/cJSON.h>

/* Returns the response (the server frees it); NULL answers {"ok":false,"error":"..."}. */
typedef cJSON *(*ilb_ctl_handler)(const char *cmd, const cJSON *request, void *ctx);

struct ilb_ctl;

struct ilb_ctl *ilb_ctl_open(const char *path, ilb_ctl_handler handler, void *ctx);
int ilb_ctl_fd(const struct ilb_ctl *ctl);
/* Accepts and answers every pending connection. */
void ilb_ctl_process(struct ilb_ctl *ctl);
void ilb_ctl_close(struct ilb_ctl *ctl);

/* An error response in the shape every command uses. */
cJSON *ilb_ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
