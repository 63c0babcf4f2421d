/* ctl_client.h - one request to the agent over its control socket: connect, write one JSON
 * line, shut the write side, read the JSON response until EOF. */
#ifndef ILB_CLI_CTL_CLIENT_H
#define ILB_CLI_CTL_CLIENT_H

#include <stddef.h>

struct cJSON;

#define CTL_TIMEOUT_MS 5000
#define CTL_MAX_RESPONSE (64u << 20)

/* Sends request to the agent at socket_path. On {"ok":true,...} stores the response (owned by
 * the caller) and returns 0. Otherwise returns -errno with a one-line reason in err:
 * -ECONNREFUSED/-ENOENT/... when the agent cannot be reached, -EBADMSG for a response that is
 * not JSON, -EREMOTEIO when the agent answered {"ok":false,"error":...}. */
int ctl_request(const char *socket_path, const struct cJSON *request, struct cJSON **response,
		char *err, size_t err_len);

/* {"cmd":cmd} plus one string argument when arg_name is not NULL. */
int ctl_call(const char *socket_path, const char *cmd, const char *arg_name, const char *arg_value,
	     struct cJSON **response, char *err, size_t err_len);

#endif
