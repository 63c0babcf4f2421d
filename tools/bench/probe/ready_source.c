/* ready_source.c - the change `row7-probe ready` times, and its floor: a manifest file renamed
 * into place (watched with inotify) or a Pod applied on fake-apiserver (watched with a watch
 * stream of its own, libcurl on a thread). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include "probe.h"
#include "ready.h"

enum source_kind { SOURCE_MANIFESTS, SOURCE_KUBE };

struct pod_source {
	enum source_kind kind;
	struct pod pod;
	double noticed; /* now_ms(), NaN until the watcher sees the change */
	/* manifests */
	char *file, *tmp;
	int inotify_fd;
	/* kube */
	CURL *apply;
	char *apply_url;
	CURL *watch;
	struct curl_slist *watch_headers;
	pthread_t watch_thread;
	bool watching;
	pthread_mutex_t lock; /* noticed, want, stop, between the watch thread and the probe */
	int want; /* the readiness the watch waits for: 0, 1, or -1 before the first change */
	bool stop;
	char *line; /* the watch stream's partial line */
	size_t line_len;
};

static char *pod_yaml(const struct pod *pod, bool ready)
{
	char *yaml;

	if (asprintf(&yaml,
		     "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: default\n  labels:\n    app: %s\n"
		     "spec:\n  nodeName: node-a\n  containers:\n  - name: vllm\n    image: vllm\n    ports:\n"
		     "    - containerPort: 8000\nstatus:\n  phase: Running\n  podIP: %s\n  conditions:\n"
		     "  - type: Ready\n    status: \"%s\"\n",
		     pod->name, pod->app, pod->ip, ready ? "True" : "False") < 0)
		return NULL;
	return yaml;
}

static struct pod_source *source_new(enum source_kind kind, const struct pod *pod)
{
	struct pod_source *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->kind = kind;
	s->pod = *pod;
	s->noticed = NAN;
	s->inotify_fd = -1;
	s->want = -1;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

/* ---- manifests ---- */

int pod_source_manifests(struct pod_source **out, const char *file, const struct pod *pod, char *err_msg,
			 size_t err_len)
{
	struct pod_source *s = source_new(SOURCE_MANIFESTS, pod);
	char *copy = NULL, *dir;
	int err = -ENOMEM;

	if (!s || !(s->file = strdup(file)) || !(copy = strdup(file)))
		goto fail;
	dir = dirname(copy);
	if (asprintf(&s->tmp, "%s/.row7.tmp", dir) < 0) {
		s->tmp = NULL;
		goto fail;
	}
	s->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (s->inotify_fd < 0 || inotify_add_watch(s->inotify_fd, dir, IN_MOVED_TO) < 0) {
		err = -errno;
		snprintf(err_msg, err_len, "inotify on %s: %s", dir, strerror(-err));
		goto fail;
	}
	free(copy);
	*out = s;
	return 0;
fail:
	if (err == -ENOMEM)
		snprintf(err_msg, err_len, "out of memory");
	free(copy);
	pod_source_free(s);
	return err;
}

/* Reads every pending event; the time of the read that found some is when it was seen. */
static void drain_inotify(struct pod_source *s)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(s->inotify_fd, buf, sizeof(buf)) > 0)
		s->noticed = now_ms();
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

static int manifests_set_ready(struct pod_source *s, bool ready, double *t0)
{
	char *yaml = pod_yaml(&s->pod, ready);
	int err;

	if (!yaml)
		return -ENOMEM;
	err = write_file(s->tmp, yaml);
	free(yaml);
	if (err)
		return err;
	drain_inotify(s); /* nothing seen before the change counts */
	s->noticed = NAN;
	*t0 = now_ms();
	return rename(s->tmp, s->file) ? -errno : 0;
}

/* ---- kube ---- */

/* One watch event: when it shows our pod at the readiness waited for, that is the notice. */
static void watch_event(struct pod_source *s, const char *line, size_t len, double at)
{
	cJSON *ev = cJSON_ParseWithLength(line, len);
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object"), *name, *cond;
	bool ready = false;

	name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name");
	if (!cJSON_IsString(name) || strcmp(name->valuestring, s->pod.name))
		goto out;
	cJSON_ArrayForEach(cond, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "status"),
								   "conditions")) {
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(cond, "type");
		const cJSON *status = cJSON_GetObjectItemCaseSensitive(cond, "status");

		if (cJSON_IsString(type) && !strcmp(type->valuestring, "Ready") && cJSON_IsString(status) &&
		    !strcmp(status->valuestring, "True"))
			ready = true;
	}
	pthread_mutex_lock(&s->lock);
	if (s->want == ready && isnan(s->noticed))
		s->noticed = at;
	pthread_mutex_unlock(&s->lock);
out:
	cJSON_Delete(ev);
}

/* The watch stream's bytes (libcurl has undone the chunking): one event per line. */
static size_t watch_write(char *data, size_t size, size_t n, void *arg)
{
	struct pod_source *s = arg;
	double at = now_ms();
	size_t len = size * n;
	char *grown, *start, *nl;

	grown = realloc(s->line, s->line_len + len + 1);
	if (!grown)
		return 0;
	s->line = grown;
	memcpy(s->line + s->line_len, data, len);
	s->line_len += len;
	start = s->line;
	while ((nl = memchr(start, '\n', s->line + s->line_len - start))) {
		watch_event(s, start, nl - start, at);
		start = nl + 1;
	}
	s->line_len -= start - s->line;
	memmove(s->line, start, s->line_len);
	return len;
}

/* Called by libcurl at least once a second: a nonzero return ends the watch. */
static int watch_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct pod_source *s = arg;
	bool stop;

	pthread_mutex_lock(&s->lock);
	stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

static void *watch_run(void *arg)
{
	struct pod_source *s = arg;

	curl_easy_perform(s->watch);
	return NULL;
}

static char *read_token(const char *path)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return strdup(buf);
}

static int watch_start(struct pod_source *s, const struct kube_endpoint *kube, char *err_msg, size_t err_len)
{
	char *token = read_token(kube->token_file), *auth = NULL, *url = NULL;
	int err = -ENOMEM;

	if (!token) {
		err = -errno ?: -EIO;
		snprintf(err_msg, err_len, "cannot read the token %s: %s", kube->token_file, strerror(-err));
		return err;
	}
	s->watch = curl_easy_init();
	if (!s->watch || asprintf(&auth, "Authorization: Bearer %s", token) < 0 ||
	    asprintf(&url, "%s/api/v1/namespaces/default/pods?watch=1", kube->api) < 0)
		goto out;
	s->watch_headers = curl_slist_append(s->watch_headers, auth);
	s->watch_headers = curl_slist_append(s->watch_headers, "Accept: application/json");
	if (!s->watch_headers)
		goto out;
	curl_easy_setopt(s->watch, CURLOPT_URL, url);
	curl_easy_setopt(s->watch, CURLOPT_HTTPHEADER, s->watch_headers);
	curl_easy_setopt(s->watch, CURLOPT_CAINFO, kube->ca_file);
	curl_easy_setopt(s->watch, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(s->watch, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(s->watch, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->watch, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(s->watch, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->watch, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(s->watch, CURLOPT_XFERINFOFUNCTION, watch_progress);
	curl_easy_setopt(s->watch, CURLOPT_XFERINFODATA, s);
	err = -pthread_create(&s->watch_thread, NULL, watch_run, s);
	if (err) {
		snprintf(err_msg, err_len, "cannot start the watch: %s", strerror(-err));
		goto out;
	}
	s->watching = true;
out:
	if (err == -ENOMEM)
		snprintf(err_msg, err_len, "out of memory");
	free(url);
	free(auth);
	free(token);
	return err;
}

int pod_source_kube(struct pod_source **out, const struct kube_endpoint *kube, const struct pod *pod,
		    char *err_msg, size_t err_len)
{
	struct pod_source *s = source_new(SOURCE_KUBE, pod);
	int err = -ENOMEM;

	if (!s || asprintf(&s->apply_url, "%s/admin/apply", kube->admin) < 0 || !(s->apply = curl_easy_init())) {
		snprintf(err_msg, err_len, "out of memory");
		goto fail;
	}
	curl_easy_setopt(s->apply, CURLOPT_URL, s->apply_url);
	curl_easy_setopt(s->apply, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(s->apply, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->apply, CURLOPT_TIMEOUT, 5L);
	err = watch_start(s, kube, err_msg, err_len);
	if (err)
		goto fail;
	*out = s;
	return 0;
fail:
	pod_source_free(s);
	return err;
}

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
	return size * n;
}

static int kube_set_ready(struct pod_source *s, bool ready, double *t0)
{
	char *yaml = pod_yaml(&s->pod, ready);
	long status = 0;
	CURLcode rc;

	if (!yaml)
		return -ENOMEM;
	curl_easy_setopt(s->apply, CURLOPT_POSTFIELDS, yaml);
	curl_easy_setopt(s->apply, CURLOPT_WRITEFUNCTION, discard);
	pthread_mutex_lock(&s->lock);
	s->want = ready;
	s->noticed = NAN;
	pthread_mutex_unlock(&s->lock);
	*t0 = now_ms();
	rc = curl_easy_perform(s->apply);
	free(yaml);
	if (rc != CURLE_OK) {
		fprintf(stderr, "row7-probe: apply: %s\n", curl_easy_strerror(rc));
		return -EIO;
	}
	curl_easy_getinfo(s->apply, CURLINFO_RESPONSE_CODE, &status);
	if (status / 100 != 2) {
		fprintf(stderr, "row7-probe: apply: HTTP %ld\n", status);
		return -EREMOTEIO;
	}
	return 0;
}

/* ---- either ---- */

int pod_source_set_ready(struct pod_source *s, bool ready, double *t0)
{
	return s->kind == SOURCE_MANIFESTS ? manifests_set_ready(s, ready, t0) : kube_set_ready(s, ready, t0);
}

double pod_source_noticed(struct pod_source *s)
{
	double at;

	if (s->kind == SOURCE_MANIFESTS) {
		if (isnan(s->noticed))
			drain_inotify(s);
		return s->noticed;
	}
	pthread_mutex_lock(&s->lock);
	at = s->noticed;
	pthread_mutex_unlock(&s->lock);
	return at;
}

int pod_source_fd(const struct pod_source *s)
{
	return s->inotify_fd;
}

void pod_source_free(struct pod_source *s)
{
	if (!s)
		return;
	if (s->watching) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->watch_thread, NULL);
	}
	curl_easy_cleanup(s->watch);
	curl_slist_free_all(s->watch_headers);
	curl_easy_cleanup(s->apply);
	if (s->inotify_fd >= 0)
		close(s->inotify_fd);
	pthread_mutex_destroy(&s->lock);
	free(s->line);
	free(s->apply_url);
	free(s->tmp);
	free(s->file);
	free(s);
}
