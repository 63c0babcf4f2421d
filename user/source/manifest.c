/* manifest.c - the embedded default source: every *.yaml / *.yml of a directory, loaded
 * into the store and reloaded on inotify events, applying only what changed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "manifest.h"

#define MAX_FILE_SIZE (16 << 20)
#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_CREATE)

/* What one file provides: its last good objects, and the errors reported for its last
 * load (so that an error that persists across reloads is reported once). */
struct file_state {
	char *name;
	struct ilb_object *objs;
	int n_objs;
	char **errors;
	int n_errors;
};

struct ilb_manifests {
	char *dir;
	int fd;
	struct ilb_store *store;
	struct file_state *files;
	int n_files;
	unsigned long n_errors;
	char last_error[512];
};

/* The next state of a file while it is being loaded. */
struct load {
	struct ilb_object *objs;
	int n_objs;
	int cap;
	char **errors;
	int n_errors;
};

static bool is_manifest_name(const char *name)
{
	size_t n = strlen(name);

	/* dot files are editors' swap files and Kubernetes' ..data links */
	if (name[0] == '.')
		return false;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static void free_errors(char **errors, int n)
{
	for (int i = 0; i < n; i++)
		free(errors[i]);
	free(errors);
}

static void free_objects(struct ilb_object *objs, int n)
{
	for (int i = 0; i < n; i++)
		ilb_object_free(&objs[i]);
	free(objs);
}

static struct file_state *find_file(struct ilb_manifests *m, const char *name)
{
	for (int i = 0; i < m->n_files; i++)
		if (strcmp(m->files[i].name, name) == 0)
			return &m->files[i];
	return NULL;
}

static struct file_state *add_file(struct ilb_manifests *m, const char *name)
{
	struct file_state *files = realloc(m->files, (m->n_files + 1) * sizeof(*files));
	struct file_state *fs;

	if (!files)
		return NULL;
	m->files = files;
	fs = &files[m->n_files];
	memset(fs, 0, sizeof(*fs));
	fs->name = strdup(name);
	if (!fs->name)
		return NULL;
	m->n_files++;
	return fs;
}

static void remove_file(struct ilb_manifests *m, struct file_state *fs)
{
	int idx = fs - m->files;

	free(fs->name);
	free_objects(fs->objs, fs->n_objs);
	free_errors(fs->errors, fs->n_errors);
	memmove(fs, fs + 1, (m->n_files - idx - 1) * sizeof(*fs));
	m->n_files--;
}

/* Records an error in the next state; prints and counts it unless the previous load of the
 * same file reported it already. */
static void report(struct ilb_manifests *m, struct file_state *fs, struct load *next, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void report(struct ilb_manifests *m, struct file_state *fs, struct load *next, const char *fmt, ...)
{
	char msg[sizeof(m->last_error)];
	char **errors;
	bool seen = false;
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "manifest %s/%s: ", m->dir, fs->name);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	for (int i = 0; i < fs->n_errors && !seen; i++)
		seen = strcmp(fs->errors[i], msg) == 0;
	for (int i = 0; i < next->n_errors; i++)
		if (strcmp(next->errors[i], msg) == 0)
			return; /* the same object twice in one file */
	if (!seen) {
		fprintf(stderr, "%s\n", msg);
		m->n_errors++;
		memcpy(m->last_error, msg, sizeof(msg));
	}
	errors = realloc(next->errors, (next->n_errors + 1) * sizeof(*errors));
	if (!errors)
		return;
	next->errors = errors;
	errors[next->n_errors] = strdup(msg);
	if (errors[next->n_errors])
		next->n_errors++;
}

static bool same_identity(const struct ilb_object *a, enum ilb_kind kind, const char *ns, const char *name)
{
	return a->kind == kind && strcmp(a->meta.ns, ns) == 0 && strcmp(a->meta.name, name) == 0;
}

static int find_object(const struct ilb_object *objs, int n, enum ilb_kind kind, const char *ns, const char *name)
{
	for (int i = 0; i < n; i++)
		if (same_identity(&objs[i], kind, ns, name))
			return i;
	return -1;
}

/* Adds obj (taken over) to the next state; a later definition in the same file wins. */
static int load_add(struct load *next, struct ilb_object *obj)
{
	int idx = find_object(next->objs, next->n_objs, obj->kind, obj->meta.ns, obj->meta.name);

	if (idx >= 0) {
		ilb_object_free(&next->objs[idx]);
		next->objs[idx] = *obj;
		return 0;
	}
	if (next->n_objs == next->cap) {
		int cap = next->cap ? next->cap * 2 : 8;
		struct ilb_object *objs = realloc(next->objs, cap * sizeof(*objs));

		if (!objs) {
			ilb_object_free(obj);
			return -ENOMEM;
		}
		next->objs = objs;
		next->cap = cap;
	}
	next->objs[next->n_objs++] = *obj;
	return 0;
}

static enum ilb_kind kind_from_name(const char *name)
{
	for (int k = ILB_KIND_NONE + 1; k < ILB_KIND__COUNT; k++)
		if (strcmp(ilb_kind_name(k), name) == 0)
			return k;
	return ILB_KIND_NONE;
}

static const char *json_string(const cJSON *obj, const char *key, const char *fallback)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(item) && item->valuestring[0] ? item->valuestring : fallback;
}

/* An object that failed to decode keeps its last good state: carry it over. */
static int keep_last_good(struct file_state *fs, struct load *next, const char *kind, const char *ns,
			  const char *name)
{
	struct ilb_object copy;
	int idx = find_object(fs->objs, fs->n_objs, kind_from_name(kind), ns, name);
	int err;

	if (idx < 0 || find_object(next->objs, next->n_objs, fs->objs[idx].kind, ns, name) >= 0)
		return 0;
	err = ilb_object_copy(&copy, &fs->objs[idx]);
	return err ? err : load_add(next, &copy);
}

static int load_document(struct ilb_manifests *m, struct file_state *fs, struct load *next, const cJSON *doc,
			 int line)
{
	const cJSON *md, *items, *item;
	const char *kind, *ns, *name;
	struct ilb_object obj;
	char reason[256];
	int err;

	if (!cJSON_IsObject(doc)) {
		report(m, fs, next, "line %d: a document must be a mapping", line);
		return 0;
	}
	kind = json_string(doc, "kind", "?");
	items = cJSON_GetObjectItemCaseSensitive(doc, "items");
	/* `kubectl get -o yaml` writes a List of objects */
	if (strcmp(kind, "List") == 0 && cJSON_IsArray(items)) {
		cJSON_ArrayForEach(item, items)
		{
			err = load_document(m, fs, next, item, line);
			if (err)
				return err;
		}
		return 0;
	}
	err = ilb_decode(doc, &obj, reason, sizeof(reason));
	if (err == -ENOENT)
		return 0;
	if (err == 0)
		return load_add(next, &obj);
	md = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
	ns = json_string(md, "namespace", "default");
	name = json_string(md, "name", NULL);
	if (!name) {
		report(m, fs, next, "line %d: %s: %s", line, kind, reason);
		return 0;
	}
	report(m, fs, next, "object %s %s/%s: %s", kind, ns, name, reason);
	return keep_last_good(fs, next, kind, ns, name);
}

/* Reads DIR/NAME; -ENOENT when it is gone (or is no longer a regular file). */
static int read_text(struct ilb_manifests *m, const char *name, char **text, size_t *len)
{
	char path[PATH_MAX];

	*text = NULL;
	if (snprintf(path, sizeof(path), "%s/%s", m->dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	/* a file that shrank while read is parsed as it is: its next event follows */
	return ilb_file_read(path, MAX_FILE_SIZE, text, len);
}

/* Withdraws obj from the store, unless another file still defines it: then that one. */
static int withdraw(struct ilb_manifests *m, const struct file_state *fs, const struct ilb_object *obj)
{
	for (int f = 0; f < m->n_files; f++) {
		const struct file_state *other = &m->files[f];
		int idx;

		if (other == fs)
			continue;
		idx = find_object(other->objs, other->n_objs, obj->kind, obj->meta.ns, obj->meta.name);
		if (idx >= 0)
			return ilb_store_apply(m->store, &other->objs[idx]);
	}
	return ilb_store_delete(m->store, obj->kind, obj->meta.ns, obj->meta.name);
}

/* Applies the difference between the file's objects and next, then makes next its state. */
static int commit(struct ilb_manifests *m, struct file_state *fs, struct load *next)
{
	int changes = 0, ret;

	for (int i = 0; i < fs->n_objs; i++) {
		const struct ilb_object *old = &fs->objs[i];

		if (find_object(next->objs, next->n_objs, old->kind, old->meta.ns, old->meta.name) >= 0)
			continue;
		ret = withdraw(m, fs, old);
		if (ret > 0)
			changes++;
	}
	for (int i = 0; i < next->n_objs; i++) {
		ret = ilb_store_apply(m->store, &next->objs[i]);
		if (ret < 0)
			report(m, fs, next, "object %s %s/%s: %s", ilb_kind_name(next->objs[i].kind),
			       next->objs[i].meta.ns, next->objs[i].meta.name, strerror(-ret));
		else
			changes += ret;
	}
	free_objects(fs->objs, fs->n_objs);
	fs->objs = next->objs;
	fs->n_objs = next->n_objs;
	next->objs = NULL;
	next->n_objs = 0;
	return changes;
}

/* Loads (or unloads, when it is gone) one file; returns the number of objects changed. */
static int reload_file(struct ilb_manifests *m, const char *name)
{
	struct file_state *fs = find_file(m, name);
	struct load next = { 0 };
	cJSON *docs = NULL;
	int *lines = NULL, changes = 0, err;
	char reason[256];
	size_t len = 0;
	char *text;

	err = read_text(m, name, &text, &len);
	if (err == -ENOENT) {
		if (!fs)
			return 0;
		/* an empty next state withdraws every object of the file */
		changes = commit(m, fs, &next);
		remove_file(m, fs);
		return changes;
	}
	if (!fs && !(fs = add_file(m, name))) {
		free(text);
		return -ENOMEM;
	}
	if (err) {
		report(m, fs, &next, "%s", strerror(-err));
		goto keep;
	}
	docs = ilb_yaml_to_json_lines(text, len, &lines, reason, sizeof(reason));
	free(text);
	if (!docs) {
		/* a file broken mid-edit keeps what it last provided */
		report(m, fs, &next, "%s", reason);
		goto keep;
	}
	for (int i = 0; i < cJSON_GetArraySize(docs); i++) {
		err = load_document(m, fs, &next, cJSON_GetArrayItem(docs, i), lines[i]);
		if (err) {
			report(m, fs, &next, "%s", strerror(-err));
			goto keep;
		}
	}
	changes = commit(m, fs, &next);
	goto out;
keep:
	free_objects(next.objs, next.n_objs);
	next.objs = NULL;
out:
	free_errors(fs->errors, fs->n_errors);
	fs->errors = next.errors;
	fs->n_errors = next.n_errors;
	cJSON_Delete(docs);
	free(lines);
	return changes;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reloads every manifest of the directory and unloads the files that are gone, in name
 * order so that the result does not depend on readdir's order. */
static int rescan(struct ilb_manifests *m)
{
	char **names = NULL;
	int n_names = 0, changes = 0, ret = 0;
	struct dirent *de;
	DIR *dir = opendir(m->dir);

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		char **grown;

		if (!is_manifest_name(de->d_name))
			continue;
		grown = realloc(names, (n_names + 1) * sizeof(*names));
		if (!grown || !(grown[n_names] = strdup(de->d_name))) {
			names = grown ? grown : names;
			ret = -ENOMEM;
			break;
		}
		names = grown;
		n_names++;
	}
	closedir(dir);
	if (!ret) {
		if (n_names > 1)
			qsort(names, n_names, sizeof(*names), compare_names);
		for (int i = 0; i < m->n_files;) {
			bool listed = n_names > 0 &&
				      bsearch(&m->files[i].name, names, n_names, sizeof(*names), compare_names);
			int before = m->n_files;

			if (!listed) {
				int c = reload_file(m, m->files[i].name);

				changes += c > 0 ? c : 0;
				if (m->n_files < before)
					continue;
			}
			i++;
		}
		for (int i = 0; i < n_names; i++) {
			int c = reload_file(m, names[i]);

			changes += c > 0 ? c : 0;
		}
	}
	free_errors(names, n_names);
	return ret ? ret : changes;
}

struct ilb_manifests *ilb_manifests_open(const char *dir, struct ilb_store *store)
{
	struct ilb_manifests *m = calloc(1, sizeof(*m));
	int err = -ENOMEM;

	if (!m)
		goto fail;
	m->fd = -1;
	m->store = store;
	m->dir = strdup(dir);
	if (!m->dir)
		goto fail;
	m->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->fd < 0 || inotify_add_watch(m->fd, dir, WATCH_EVENTS | IN_ONLYDIR) < 0) {
		err = -errno;
		goto fail;
	}
	/* watch first, then load: a change in between is seen by the next process call */
	err = rescan(m);
	if (err < 0)
		goto fail;
	return m;
fail:
	ilb_manifests_close(m);
	errno = -err;
	return NULL;
}

int ilb_manifests_fd(const struct ilb_manifests *m)
{
	return m ? m->fd : -1;
}

/* Remembers name once in the list of files to reload. */
static int note_name(char ***names, int *n, const char *name)
{
	char **grown;

	for (int i = 0; i < *n; i++)
		if (strcmp((*names)[i], name) == 0)
			return 0;
	grown = realloc(*names, (*n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	*names = grown;
	grown[*n] = strdup(name);
	if (!grown[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

int ilb_manifests_process(struct ilb_manifests *m)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	char **names = NULL;
	int n_names = 0, changes = 0, err = 0;
	bool full_rescan = false;

	if (!m)
		return -EINVAL;
	/* drain every pending event first: an editor's save is several, and each file is then
	 * reloaded once, in its final state */
	for (;;) {
		ssize_t len = read(m->fd, buf, sizeof(buf));

		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			break;
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				full_rescan = true;
			} else if (ev->len && is_manifest_name(ev->name)) {
				if (note_name(&names, &n_names, ev->name))
					full_rescan = true;
			} else if (ev->len && strncmp(ev->name, "..", 2) == 0 && (ev->mask & (IN_MOVED_TO | IN_CREATE))) {
				/* a ConfigMap volume swaps its ..data link: every file may have changed */
				full_rescan = true;
			}
		}
	}
	if (full_rescan) {
		err = rescan(m);
		changes = err > 0 ? err : 0;
	} else {
		for (int i = 0; i < n_names; i++) {
			int c = reload_file(m, names[i]);

			if (c < 0)
				err = c;
			else
				changes += c;
		}
	}
	free_errors(names, n_names);
	return err < 0 ? err : changes;
}

unsigned long ilb_manifests_errors(const struct ilb_manifests *m)
{
	return m ? m->n_errors : 0;
}

const char *ilb_manifests_last_error(const struct ilb_manifests *m)
{
	return m ? m->last_error : "";
}

void ilb_manifests_close(struct ilb_manifests *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	while (m->n_files > 0)
		remove_file(m, &m->files[m->n_files - 1]);
	free(m->files);
	free(m->dir);
	free(m);
}
