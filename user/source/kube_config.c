/* kube_config.c - where the API server is and who we are to it: the current context of a
 * kubeconfig file, or the pod's service account (in-cluster). */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "kube.h"
#include "manifest.h"

#define MAX_CONFIG_SIZE (4 << 20)

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

char *ilb_base64_decode(const char *text, size_t *len)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(strlen(text) / 4 * 3 + 4);
	uint32_t acc = 0;
	int bits = 0, pad = 0;
	size_t n = 0;

	if (!out)
		return NULL;
	for (const char *p = text; *p; p++) {
		const char *pos;

		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
			continue;
		if (*p == '=') {
			pad++;
			continue;
		}
		pos = strchr(alphabet, *p);
		if (!pos || pad)
			goto bad; /* a character after the padding, or outside the alphabet */
		acc = acc << 6 | (uint32_t)(pos - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)(acc >> bits);
		}
	}
	if (pad > 2 || bits >= 6)
		goto bad;
	out[n] = '\0';
	*len = n;
	return out;
bad:
	free(out);
	errno = EINVAL;
	return NULL;
}

static const char *str(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(item) && item->valuestring[0] ? item->valuestring : NULL;
}

/* The `inner` mapping of the entry of list `key` whose name is `name`. */
static const cJSON *named(const cJSON *doc, const char *key, const char *name, const char *inner)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, key))
	{
		const char *n = str(item, "name");

		if (n && !strcmp(n, name))
			return cJSON_GetObjectItemCaseSensitive(item, inner);
	}
	return NULL;
}

/* A file named in a kubeconfig is relative to the kubeconfig's directory. */
static char *config_path(const char *kubeconfig, const char *file)
{
	char dir[PATH_MAX], *out = NULL;

	if (file[0] == '/')
		return strdup(file);
	snprintf(dir, sizeof(dir), "%s", kubeconfig);
	if (asprintf(&out, "%s/%s", dirname(dir), file) < 0)
		return NULL;
	return out;
}

/* Reads "FIELD" (a path) or "FIELD-data" (base64) of obj into *file or *pem. */
static int file_or_data(const char *kubeconfig, const cJSON *obj, const char *field, char **file, char **pem,
			size_t *len, char *err, size_t errlen)
{
	char data_key[64];
	const char *path = str(obj, field), *data;

	snprintf(data_key, sizeof(data_key), "%s-data", field);
	data = str(obj, data_key);
	if (data) {
		*pem = ilb_base64_decode(data, len);
		if (!*pem)
			return fail(err, errlen, -EINVAL, "%s: not valid base64", data_key);
	} else if (path) {
		*file = config_path(kubeconfig, path);
		if (!*file)
			return -ENOMEM;
		if (access(*file, R_OK)) {
			int e = errno;

			return fail(err, errlen, -e, "%s %s: %s", field, *file, strerror(e));
		}
	}
	return 0;
}

static bool truthy(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsTrue(item) || (cJSON_IsString(item) && !strcmp(item->valuestring, "true"));
}

static int read_user(const char *path, const cJSON *user, const char *user_name, struct ilb_kube_creds *c,
		     char *err, size_t errlen)
{
	int ret;

	if (cJSON_GetObjectItemCaseSensitive(user, "exec") || cJSON_GetObjectItemCaseSensitive(user, "auth-provider"))
		return fail(err, errlen, -ENOTSUP,
			    "user %s: credential plugins (exec, auth-provider) are not run; give it a token or a "
			    "client certificate", user_name);
	if (str(user, "token") && !(c->token = strdup(str(user, "token"))))
		return -ENOMEM;
	if (str(user, "tokenFile") && !(c->token_file = config_path(path, str(user, "tokenFile"))))
		return -ENOMEM;
	ret = file_or_data(path, user, "client-certificate", &c->cert_file, &c->cert_pem, &c->cert_len, err, errlen);
	ret = ret ?: file_or_data(path, user, "client-key", &c->key_file, &c->key_pem, &c->key_len, err, errlen);
	if (ret)
		return ret;
	if (!(c->cert_file || c->cert_pem) != !(c->key_file || c->key_pem))
		return fail(err, errlen, -EINVAL, "user %s: a client certificate needs its key, and a key its certificate",
			    user_name);
	if (!c->token && !c->token_file && str(user, "username"))
		return fail(err, errlen, -ENOTSUP, "user %s: basic authentication is not supported", user_name);
	return 0;
}

int ilb_kube_creds_kubeconfig(const char *path, struct ilb_kube_creds *c, char *err, size_t errlen)
{
	const cJSON *doc, *context, *cluster, *user;
	const char *ctx_name, *cluster_name, *user_name, *server;
	char reason[256];
	cJSON *docs = NULL;
	size_t len = 0;
	char *text;
	int ret;

	memset(c, 0, sizeof(*c));
	ret = ilb_file_read(path, MAX_CONFIG_SIZE, &text, &len);
	if (ret)
		return fail(err, errlen, ret, "kubeconfig %s: %s", path, strerror(-ret));
	docs = ilb_yaml_to_json(text, len, reason, sizeof(reason));
	free(text);
	if (!docs) {
		ret = fail(err, errlen, -EINVAL, "kubeconfig %s: %s", path, reason);
		goto out;
	}
	doc = cJSON_GetArrayItem(docs, 0);
	ctx_name = str(doc, "current-context");
	if (!ctx_name) {
		ret = fail(err, errlen, -EINVAL, "kubeconfig %s: no current-context", path);
		goto out;
	}
	context = named(doc, "contexts", ctx_name, "context");
	cluster_name = str(context, "cluster");
	if (!context || !cluster_name) {
		ret = fail(err, errlen, -EINVAL, "kubeconfig %s: context %s not found or names no cluster", path, ctx_name);
		goto out;
	}
	cluster = named(doc, "clusters", cluster_name, "cluster");
	server = str(cluster, "server");
	if (!server || (strncmp(server, "https://", 8) && strncmp(server, "http://", 7))) {
		ret = fail(err, errlen, -EINVAL, "kubeconfig %s: cluster %s has no http(s) server", path, cluster_name);
		goto out;
	}
	c->server = strndup(server, strlen(server) - (server[strlen(server) - 1] == '/'));
	if (asprintf(&c->origin, "kubeconfig %s, context %s, %s", path, ctx_name, c->server) < 0)
		c->origin = NULL;
	if (!c->server || !c->origin) {
		ret = -ENOMEM;
		goto out;
	}
	c->insecure = truthy(cluster, "insecure-skip-tls-verify");
	ret = file_or_data(path, cluster, "certificate-authority", &c->ca_file, &c->ca_pem, &c->ca_len, err, errlen);
	if (ret)
		goto out;
	user_name = str(context, "user");
	user = user_name ? named(doc, "users", user_name, "user") : NULL;
	if (user_name && !user) {
		ret = fail(err, errlen, -EINVAL, "kubeconfig %s: user %s not found", path, user_name);
		goto out;
	}
	if (user)
		ret = read_user(path, user, user_name, c, err, errlen);
out:
	cJSON_Delete(docs);
	if (ret)
		ilb_kube_creds_free(c);
	return ret;
}

int ilb_kube_creds_in_cluster(const char *sa_dir, struct ilb_kube_creds *c, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *missing;
	int ret = -ENOMEM;

	memset(c, 0, sizeof(*c));
	if (!host || !host[0])
		return fail(err, errlen, -ENOENT, "in-cluster: KUBERNETES_SERVICE_HOST is not set");
	if (!port || !port[0])
		port = "443";
	/* an IPv6 service address needs brackets in a URL */
	if (asprintf(&c->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0 ||
	    asprintf(&c->token_file, "%s/token", sa_dir) < 0 || asprintf(&c->ca_file, "%s/ca.crt", sa_dir) < 0 ||
	    asprintf(&c->origin, "in-cluster, %s", c->server) < 0)
		goto fail;
	missing = access(c->token_file, R_OK) ? c->token_file : access(c->ca_file, R_OK) ? c->ca_file : NULL;
	if (missing) {
		int e = errno;

		ret = fail(err, errlen, -e, "in-cluster: %s: %s", missing, strerror(e));
		goto fail;
	}
	return 0;
fail:
	ilb_kube_creds_free(c);
	return ret;
}

void ilb_kube_creds_free(struct ilb_kube_creds *c)
{
	free(c->server);
	free(c->origin);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->ca_pem);
	free(c->cert_pem);
	free(c->key_pem);
	free(c->token);
	free(c->token_file);
	memset(c, 0, sizeof(*c));
}
