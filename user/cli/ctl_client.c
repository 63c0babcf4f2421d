/* ctl_client.c - the CLI side of the control socket protocol. Every failure becomes one
 * line that names the socket, so an operator sees at once whether the agent is there. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "ctl_client.h"
#include "log.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Waits for fd to become ready for events before the deadline; -ETIMEDOUT when it does not. */
static int wait_fd(int fd, short events, long long deadline_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		long long left = deadline_ms - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int connect_agent(const char *socket_path, int *fd_out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		err = -errno;
		close(fd);
		return err;
	}
	*fd_out = fd;
	return 0;
}

static int send_all(int fd, const char *buf, size_t len, long long deadline_ms)
{
	while (len) {
		ssize_t n;
		int err = wait_fd(fd, POLLOUT, deadline_ms);

		if (err)
			return err;
		/* MSG_NOSIGNAL: an agent that hangs up must not kill the CLI with SIGPIPE */
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

static int recv_all(int fd, char **out, size_t *out_len, long long deadline_ms)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *grown;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (cap - len < 2) {
			if (cap >= CTL_MAX_RESPONSE) {
				err = -EMSGSIZE;
				goto out;
			}
			grown = realloc(buf, cap * 2);
			if (!grown) {
				err = -ENOMEM;
				goto out;
			}
			buf = grown;
			cap *= 2;
		}
		err = wait_fd(fd, POLLIN, deadline_ms);
		if (err)
			goto out;
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
out:
	free(buf);
	return err;
}

/* One request line out, the write side shut (the agent's end-of-request), the answer in. */
static int exchange(int fd, const char *line, char **reply, size_t *reply_len, long long deadline)
{
	int err = send_all(fd, line, strlen(line), deadline);

	if (!err)
		err = send_all(fd, "\n", 1, deadline);
	if (err)
		return err;
	if (shutdown(fd, SHUT_WR))
		return -errno;
	return recv_all(fd, reply, reply_len, deadline);
}

int ctl_request(const char *socket_path, const cJSON *request, cJSON **response, char *err_msg,
		size_t err_len)
{
	long long deadline = now_ms() + CTL_TIMEOUT_MS;
	char *line = NULL, *reply = NULL;
	size_t reply_len = 0;
	cJSON *resp = NULL;
	const cJSON *ok, *error;
	int fd = -1, err;

	*response = NULL;
	err = connect_agent(socket_path, &fd);
	if (err) {
		snprintf(err_msg, err_len, "cannot reach the agent at %s: %s", socket_path, strerror(-err));
		goto out;
	}
	line = cJSON_PrintUnformatted(request);
	if (!line) {
		err = -ENOMEM;
		snprintf(err_msg, err_len, "building the request: %s", strerror(ENOMEM));
		goto out;
	}
	pr_debug("ctl %s -> %s", socket_path, line);
	err = exchange(fd, line, &reply, &reply_len, deadline);
	if (err) {
		snprintf(err_msg, err_len, "talking to the agent at %s: %s", socket_path,
			 err == -ETIMEDOUT ? "no answer within 5 s" : strerror(-err));
		goto out;
	}
	pr_debug("ctl %s <- %zu bytes", socket_path, reply_len);

	resp = cJSON_ParseWithLength(reply, reply_len);
	if (!resp || !cJSON_IsObject(resp)) {
		err = -EBADMSG;
		snprintf(err_msg, err_len, "the agent at %s sent %s", socket_path,
			 reply_len ? "a response that is not a JSON object" : "an empty response");
		goto out;
	}
	ok = cJSON_GetObjectItemCaseSensitive(resp, "ok");
	if (!cJSON_IsTrue(ok)) {
		error = cJSON_GetObjectItemCaseSensitive(resp, "error");
		err = -EREMOTEIO;
		snprintf(err_msg, err_len, "%s",
			 cJSON_IsString(error) && error->valuestring[0] ? error->valuestring
									: "the agent refused the request");
		goto out;
	}
	*response = resp;
	resp = NULL;
out:
	cJSON_Delete(resp);
	free(reply);
	free(line);
	if (fd >= 0)
		close(fd);
	return err;
}

int ctl_call(const char *socket_path, const char *cmd, const char *arg_name, const char *arg_value,
	     cJSON **response, char *err_msg, size_t err_len)
{
	cJSON *req = cJSON_CreateObject();
	int err = -ENOMEM;

	*response = NULL;
	if (!req || !cJSON_AddStringToObject(req, "cmd", cmd))
		goto nomem;
	if (arg_name && !cJSON_AddStringToObject(req, arg_name, arg_value))
		goto nomem;
	err = ctl_request(socket_path, req, response, err_msg, err_len);
	cJSON_Delete(req);
	return err;
nomem:
	snprintf(err_msg, err_len, "building the request: %s", strerror(ENOMEM));
	cJSON_Delete(req);
	return err;
}
