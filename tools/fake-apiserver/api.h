/* api.h - the kube-apiserver side: HTTPS, bearer tokens, discovery, get/list/watch. */
#ifndef FAS_API_H
#define FAS_API_H

#include <stdbool.h>
#include <microhttpd.h>

struct api_user {
	char *token;
	char *name;
	bool denied;		/* authenticated but allowed nothing beyond discovery: 403 */
};

struct api_opts {
	const char *bind;
	int port;
	char *cert, *key;	/* PEM text; NULL for plain HTTP */
	struct api_user *users;
	int n_users;
	bool anonymous;		/* a request without a token acts as system:anonymous */
	const char *version;	/* gitVersion for /version */
};

struct MHD_Daemon *api_start(const struct api_opts *o);
/* Under the store lock: lets stalled requests go once the stall is over. */
void api_tick(double now);
/* Under the store lock, before stopping the daemon: resumes every held request. */
void api_release_all(void);

#endif
