/* test_cli.c - the inferlb CLI as an operator runs it: build/inferlb against a fake agent
 * (a control socket answering canned JSON) and against maps pinned in a scratch bpffs dir. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cjson/cJSON.h>
#include "inferlb.h"

/* ---- the fake agent ---------------------------------------------------------------------- */

static const char status_response[] =
	"{\"ok\":true,\"version\":\"0.1.0\",\"uptime_s\":3725,\"pin_dir\":\"/sys/fs/bpf/inferlb\","
	"\"adopted\":true,\"last_error\":\"\","
	"\"sources\":[{\"kind\":\"manifests\",\"location\":\"/etc/inferlb/manifests\",\"synced\":true,"
	"\"objects\":12,\"errors\":1,\"last_error\":\"pool.yaml: bad port\"}],"
	"\"lanes\":{\"l4\":{\"iface\":\"eth0\",\"xdp_mode\":\"native\",\"attached\":true},"
	"\"l7\":{\"enabled\":true,\"listeners\":[\"10.0.0.1:8888\",\"10.0.0.1:8000\"]}}}";

static const char pools_response[] =
	"{\"ok\":true,\"pools\":[{\"namespace\":\"default\",\"name\":\"qwen\",\"id\":1,"
	"\"vip\":\"10.96.0.50:8000\",\"failure_mode\":\"FailOpen\",\"ready\":2,\"total\":3,"
	"\"concurrency\":4,\"derived_from\":\"\",\"pending\":0,\"sheds\":3,\"via\":\"pods\"},"
	"{\"namespace\":\"default\",\"name\":\"smollm\",\"id\":2,\"vip\":\"\",\"failure_mode\":\"FailOpen\","
	"\"ready\":0,\"total\":0,\"concurrency\":1,\"derived_from\":\"Service default/smollm\",\"pending\":0,"
	"\"sheds\":0,\"via\":\"activator\"}]}";

static const char objectives_response[] =
	"{\"ok\":true,\"objectives\":[{\"namespace\":\"default\",\"name\":\"chat\",\"pool\":\"default/qwen\","
	"\"priority\":-1,\"models\":[\"qwen\",\"qwen-chat\"],\"rewrites\":[\"a -> b:70,c:30\"]}]}";

/* backends carry a picks counter that grows by 10 per request, so that top has a rate */
static const char backends_format[] =
	"{\"ok\":true,\"backends\":[{\"pool\":\"default/qwen\",\"pod\":\"default/qwen-1\",\"id\":7,"
	"\"ip\":\"10.200.1.2\",\"port\":8000,\"state\":\"ready\",\"queue\":0,\"running\":2,\"kv\":0.125,"
	"\"score\":12000,\"metrics_age_ms\":31,\"in_flight\":2,\"active_conns\":5,\"picks\":%d,"
	"\"sheds\":3},{\"pool\":\"default/qwen\",\"pod\":\"default/qwen-2\",\"id\":8,"
	"\"ip\":\"10.200.1.3\",\"port\":8000,\"state\":\"draining\",\"queue\":4,\"running\":1,\"kv\":0.5,"
	"\"score\":500000,\"metrics_age_ms\":-1,\"in_flight\":0,\"active_conns\":1}]}";

struct fake_agent {
	char dir[64];
	char socket_path[128];
	int listen_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	char last_request[1024];
	const char *forced_response; /* answers every request when set */
	int picks;
};

static struct fake_agent agent;

static char *read_request(int fd)
{
	char *buf = calloc(1, 4096);
	size_t len = 0;
	ssize_t n;

	while (buf && len < 4095 && (n = read(fd, buf + len, 4095 - len)) > 0)
		len += n;
	return buf;
}

static char *answer(const char *request)
{
	cJSON *req = cJSON_Parse(request);
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
	const char *name = cJSON_IsString(cmd) ? cmd->valuestring : "";
	char *out = NULL;

	pthread_mutex_lock(&agent.lock);
	snprintf(agent.last_request, sizeof(agent.last_request), "%s", request);
	if (agent.forced_response)
		out = strdup(agent.forced_response);
	else if (!strcmp(name, "status"))
		out = strdup(status_response);
	else if (!strcmp(name, "pools"))
		out = strdup(pools_response);
	else if (!strcmp(name, "objectives"))
		out = strdup(objectives_response);
	else if (!strcmp(name, "backends")) {
		agent.picks += 10;
		if (asprintf(&out, backends_format, agent.picks) < 0)
			out = NULL;
	} else if (!strcmp(name, "drain") || !strcmp(name, "undrain"))
		out = strdup("{\"ok\":true}");
	else
		out = strdup("{\"ok\":false,\"error\":\"unknown command\"}");
	pthread_mutex_unlock(&agent.lock);
	cJSON_Delete(req);
	return out;
}

static void *agent_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(agent.listen_fd, NULL, NULL);
		char *request, *response;

		if (fd < 0)
			return NULL; /* the listening socket was shut down: the test group ends */
		request = read_request(fd);
		response = answer(request ? request : "");
		if (response) {
			if (write(fd, response, strlen(response)) < 0 || write(fd, "\n", 1) < 0)
				perror("fake agent write");
		}
		free(response);
		free(request);
		close(fd);
	}
}

static int start_agent(void **state)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	strcpy(agent.dir, "/tmp/ilb-cli-XXXXXX");
	if (!mkdtemp(agent.dir))
		return -1;
	snprintf(agent.socket_path, sizeof(agent.socket_path), "%s/agent.sock", agent.dir);
	strcpy(addr.sun_path, agent.socket_path);
	pthread_mutex_init(&agent.lock, NULL);
	agent.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (agent.listen_fd < 0 || bind(agent.listen_fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(agent.listen_fd, 16))
		return -1;
	return pthread_create(&agent.thread, NULL, agent_main, NULL) ? -1 : 0;
}

static int stop_agent(void **state)
{
	char cmd[128];

	shutdown(agent.listen_fd, SHUT_RDWR);
	pthread_join(agent.thread, NULL);
	close(agent.listen_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", agent.dir);
	return system(cmd) ? -1 : 0;
}

static void force_response(const char *response)
{
	pthread_mutex_lock(&agent.lock);
	agent.forced_response = response;
	pthread_mutex_unlock(&agent.lock);
}

/* ---- running the CLI ------------------------------------------------------------------------ */

struct run {
	int exit_code;
	char *out, *err;
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return strdup("");
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

static const char *cli_path(void)
{
	static char path[512];
	const char *build = getenv("INFERLB_BUILD");

	snprintf(path, sizeof(path), "%s/inferlb", build ? build : "build");
	return path;
}

/* Runs inferlb --socket <fake agent> args..., NULL-terminated. */
static struct run run_cli(const char *first, ...)
{
	const char *argv[32] = { cli_path(), "--socket", agent.socket_path };
	char out_path[128], err_path[128];
	struct run r = { .exit_code = -1 };
	int argc = 3, status;
	va_list ap;
	pid_t pid;

	va_start(ap, first);
	for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(out_path, sizeof(out_path), "%s/stdout", agent.dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr", agent.dir);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(out, 1);
		dup2(err, 2);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	r.out = slurp(out_path);
	r.err = slurp(err_path);
	if (r.exit_code == 127)
		fail_msg("cannot run %s (build it first: make build/inferlb)", argv[0]);
	return r;
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

#define assert_contains(haystack, needle)                                                      \
	do {                                                                                  \
		if (!strstr((haystack), (needle)))                                            \
			fail_msg("expected to find \"%s\" in:\n%s", (needle), (haystack));     \
	} while (0)

static cJSON *parse_json_output(const struct run *r)
{
	cJSON *doc = cJSON_Parse(r->out);

	if (!doc)
		fail_msg("stdout is not JSON:\n%s", r->out);
	return doc;
}

/* Runs `inferlb COMMAND` and checks that it exits 0 printing each line of want (NULL-ended). */
static void assert_prints_lines(const char *command, const char *const *want)
{
	struct run r = run_cli(command, NULL);

	assert_int_equal(r.exit_code, 0);
	for (; *want; want++)
		assert_contains(r.out, *want);
	run_free(&r);
}

/* ---- agent commands --------------------------------------------------------------------------- */

static void test_status_text_shows_version_lanes_and_sources(void **state)
{
	struct run r = run_cli("status", NULL);

	assert_int_equal(r.exit_code, 0);
	assert_contains(r.out, "inferlb 0.1.0, up 1h02m");
	assert_contains(r.out, "(pinned maps adopted at start)");
	assert_contains(r.out, "L4 lane:     eth0, XDP native, attached");
	assert_contains(r.out, "listening on 10.0.0.1:8888, 10.0.0.1:8000");
	assert_contains(r.out, "Last error:  none");
	assert_contains(r.out, "KIND       LOCATION                SYNCED  OBJECTS  ERRORS  LAST ERROR");
	assert_contains(r.out, "manifests  /etc/inferlb/manifests  yes          12       1  pool.yaml: bad port");
	assert_string_equal(r.err, "");
	run_free(&r);
}

static void test_status_json_is_the_state_without_envelope(void **state)
{
	struct run r = run_cli("-j", "status", NULL);
	cJSON *doc = parse_json_output(&r);

	assert_int_equal(r.exit_code, 0);
	assert_null(cJSON_GetObjectItem(doc, "ok"));
	assert_string_equal(cJSON_GetObjectItem(doc, "version")->valuestring, "0.1.0");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(doc, "adopted")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "sources")), 1);
	assert_int_equal(count_lines(r.out), 1);
	cJSON_Delete(doc);
	run_free(&r);
}

static void test_status_pretty_json_spans_lines(void **state)
{
	struct run r = run_cli("status", "-p", NULL);
	cJSON *doc = parse_json_output(&r);

	assert_int_equal(r.exit_code, 0);
	assert_true(count_lines(r.out) > 10);
	assert_contains(r.out, "  \"version\": \"0.1.0\"");
	cJSON_Delete(doc);
	run_free(&r);
}

static void test_pools_text_table(void **state)
{
	static const char *const want[] = {
		"POOL            ID  VIP              FAILURE   READY  CONCURRENCY  PENDING  DERIVED FROM            VIA\n",
		"default/qwen     1  10.96.0.50:8000  FailOpen    2/3            4        0  -                       pods\n",
		"default/smollm   2  -                FailOpen    0/0            1        0  Service default/smollm  activator\n",
		NULL,
	};

	assert_prints_lines("pools", want);
}

static void test_pools_json_array(void **state)
{
	struct run r = run_cli("pools", "--json", NULL);
	cJSON *doc = parse_json_output(&r);

	assert_int_equal(r.exit_code, 0);
	assert_true(cJSON_IsArray(doc));
	assert_int_equal(cJSON_GetArraySize(doc), 2);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 0), "name")->valuestring, "qwen");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 1), "via")->valuestring, "activator");
	cJSON_Delete(doc);
	run_free(&r);
}

static void test_aliases_and_prefixes_reach_the_same_command(void **state)
{
	static const char *const spellings[][2] = {
		{ "pools", "show" }, { "pools", "list" }, { "pool", NULL }, { "po", "li" },
	};
	struct run base = run_cli("pools", NULL);

	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		struct run r = run_cli(spellings[i][0], spellings[i][1], NULL);

		if (r.exit_code != 0 || strcmp(r.out, base.out))
			fail_msg("'%s %s': exit %d, output:\n%s\nexpected:\n%s", spellings[i][0],
				 spellings[i][1] ? spellings[i][1] : "", r.exit_code, r.out, base.out);
		run_free(&r);
	}
	run_free(&base);
}

static void test_backends_text_table(void **state)
{
	static const char *const want[] = {
		"POOL          POD             IP:PORT          STATE     QUEUE  RUN   KV%   SCORE    AGE  INFL  CONNS\n",
		"default/qwen  default/qwen-1  10.200.1.2:8000  ready         0    2  12.5   12000   31ms     2      5\n",
		"default/qwen  default/qwen-2  10.200.1.3:8000  draining      4    1  50.0  500000  never     0      1\n",
		NULL,
	};

	assert_prints_lines("backends", want);
}

static void test_backends_pool_argument_reaches_the_agent(void **state)
{
	struct run r = run_cli("backends", "show", "default/qwen", "-j", NULL);
	cJSON *doc = parse_json_output(&r);

	assert_int_equal(r.exit_code, 0);
	assert_string_equal(agent.last_request, "{\"cmd\":\"backends\",\"pool\":\"default/qwen\"}\n");
	assert_int_equal(cJSON_GetArraySize(doc), 2);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 1), "state")->valuestring,
			    "draining");
	cJSON_Delete(doc);
	run_free(&r);
}

static void test_objectives_text_and_json(void **state)
{
	struct run text = run_cli("objectives", NULL);
	struct run json = run_cli("-j", "objectives", NULL);
	cJSON *doc = parse_json_output(&json);

	assert_int_equal(text.exit_code, 0);
	assert_contains(text.out, "OBJECTIVE     POOL          PRIORITY  MODELS          REWRITES\n");
	assert_contains(text.out, "default/chat  default/qwen        -1  qwen,qwen-chat  a -> b:70,c:30\n");
	assert_int_equal(json.exit_code, 0);
	assert_string_equal(
		cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 0), "rewrites"), 0)->valuestring,
		"a -> b:70,c:30");
	cJSON_Delete(doc);
	run_free(&text);
	run_free(&json);
}

static void test_drain_and_undrain_send_the_pod(void **state)
{
	struct run drain = run_cli("drain", "default/qwen-1", NULL);

	assert_int_equal(drain.exit_code, 0);
	assert_string_equal(agent.last_request, "{\"cmd\":\"drain\",\"pod\":\"default/qwen-1\"}\n");
	assert_contains(drain.out, "default/qwen-1: draining");
	run_free(&drain);

	struct run undrain = run_cli("-j", "undrain", "default/qwen-1", NULL);

	assert_int_equal(undrain.exit_code, 0);
	assert_string_equal(agent.last_request, "{\"cmd\":\"undrain\",\"pod\":\"default/qwen-1\"}\n");
	assert_string_equal(undrain.out, "{\"pod\":\"default/qwen-1\",\"draining\":false}\n");
	run_free(&undrain);
}

static void test_agent_refusal_is_one_error_line(void **state)
{
	force_response("{\"ok\":false,\"error\":\"no pod default/nope\"}");
	struct run text = run_cli("drain", "default/nope", NULL);
	struct run json = run_cli("-j", "drain", "default/nope", NULL);
	force_response(NULL);

	assert_int_equal(text.exit_code, 1);
	assert_string_equal(text.err, "Error: no pod default/nope\n");
	assert_string_equal(text.out, "");
	assert_int_equal(json.exit_code, 1);
	assert_string_equal(json.out, "{\"error\":\"no pod default/nope\"}\n");
	run_free(&text);
	run_free(&json);
}

static void test_malformed_response_fails(void **state)
{
	force_response("this is not json");
	struct run r = run_cli("status", NULL);
	force_response(NULL);

	assert_int_equal(r.exit_code, 1);
	assert_contains(r.err, "not a JSON object");
	assert_int_equal(count_lines(r.err), 1);
	run_free(&r);
}

/* ---- usage and reachability ------------------------------------------------------------------ */

static void test_usage_errors_exit_2_with_use_help(void **state)
{
	static const char *const cases[][3] = {
		{ "drain", NULL }, /* missing POD */
		{ "drain", "qwen-1" }, /* not namespace/name */
		{ "pools", "--bogus" },
		{ "flows", "--limit", "many" },
		{ "frobnicate", NULL }, /* unknown command */
		{ "st", NULL }, /* ambiguous: status, stats */
		{ "pools", "extra" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r = run_cli(cases[i][0], cases[i][1], cases[i][2], NULL);
		size_t len = strlen(r.err);

		if (r.exit_code != 2 || len < 11 || strcmp(r.err + len - 11, "Use --help\n") || r.out[0])
			fail_msg("'%s %s': exit %d, stderr:\n%s\nstdout:\n%s", cases[i][0],
				 cases[i][1] ? cases[i][1] : "", r.exit_code, r.err, r.out);
		run_free(&r);
	}
}

static void test_help_lists_commands_and_options(void **state)
{
	struct run top = run_cli("--help", NULL);
	struct run flows = run_cli("flows", "--help", NULL);
	struct run drain = run_cli("help", "drain", NULL);

	assert_int_equal(top.exit_code, 0);
	assert_contains(top.out, "  backends ");
	assert_contains(top.out, "--pin-dir DIR");
	assert_int_equal(flows.exit_code, 0);
	assert_contains(flows.out, "-n, --limit N");
	assert_int_equal(drain.exit_code, 0);
	assert_contains(drain.out, "Usage: inferlb drain [options] POD");
	assert_contains(drain.out, "(required)");
	run_free(&top);
	run_free(&flows);
	run_free(&drain);
}

static void test_unreachable_agent_is_one_line_exit_1(void **state)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char dead[160], expected[256];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	/* a bound socket nobody listens on: connect is refused, as after an agent crash */
	snprintf(dead, sizeof(dead), "%s/dead.sock", agent.dir);
	strcpy(addr.sun_path, dead);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);

	struct run r = run_cli("--socket", dead, "pools", NULL);

	snprintf(expected, sizeof(expected),
		 "Error: cannot reach the agent at %s: Connection refused\n", dead);
	assert_int_equal(r.exit_code, 1);
	assert_string_equal(r.err, expected);
	assert_string_equal(r.out, "");
	run_free(&r);
	unlink(dead);
}

/* ---- top --------------------------------------------------------------------------------------- */

static void test_top_plain_refreshes_with_pick_rates(void **state)
{
	struct run r = run_cli("top", "--count", "2", "--interval", "200", "--pin-dir", agent.dir, NULL);
	const char *second;

	assert_int_equal(r.exit_code, 0);
	second = strstr(strstr(r.out, "inferlb top") + 1, "inferlb top");
	assert_non_null(second);
	assert_contains(r.out, "default/qwen  vip 10.96.0.50:8000  FailOpen  ready 2/3  concurrency 4  pending 0  sheds 3\n");
	assert_contains(r.out, "default/smollm  vip -  FailOpen  ready 0/0  concurrency 1  pending 0  sheds 0  via activator\n");
	assert_contains(r.out, "POD             STATE     QUEUE  RUN   KV%  INFL  PICKS/S    AGE");
	assert_contains(r.out, "Lane counters: unavailable");
	/* 10 picks per refresh of ~0.2 s: about 50/s on the second block only */
	{
		const char *row = strstr(second, "default/qwen-1  ready");
		double rate;

		assert_non_null(row);
		assert_int_equal(sscanf(row, "default/qwen-1 ready %*d %*d %*f %*d %lf", &rate), 1);
		assert_true(rate > 20 && rate < 55);
	}
	run_free(&r);
}

static void test_top_says_when_the_agent_is_unreachable(void **state)
{
	struct run r = run_cli("--socket", "/nonexistent/agent.sock", "top", "--count", "1", NULL);

	assert_int_equal(r.exit_code, 1);
	assert_contains(r.out, "Agent unreachable: cannot reach the agent at /nonexistent/agent.sock");
	run_free(&r);
}

/* ---- pinned maps: stats and flows ---------------------------------------------------------------- */

static char pin_dir[128];

static int make_pin_dir(void)
{
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/ilb-cli-test-%d", getpid());
	return mkdir(pin_dir, 0700);
}

static void remove_pin_dir(void)
{
	static const char *const names[] = { "stats", "conntrack", "backends" };
	char path[192];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, names[i]);
		unlink(path);
	}
	rmdir(pin_dir);
}

static int pin_map(int fd, const char *name)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	return bpf_obj_pin(fd, path);
}

static void test_stats_sums_cpus_and_groups_drops(void **state)
{
	int n_cpus = libbpf_num_possible_cpus(), fd;
	uint64_t *values = calloc(n_cpus, sizeof(*values));

	if (make_pin_dir()) {
		free(values);
		skip();
	}
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "stats", 4, 8, ILB_STAT_MAX, NULL);
	if (fd < 0) {
		remove_pin_dir();
		free(values);
		skip();
	}
	for (int cpu = 0; cpu < n_cpus; cpu++)
		values[cpu] = 2;
	for (uint32_t idx = 0; idx < ILB_STAT_MAX; idx++)
		if (idx == ILB_STAT_RX || idx == ILB_STAT_DROP_NO_BACKEND)
			assert_int_equal(bpf_map_update_elem(fd, &idx, values, 0), 0);
	assert_int_equal(pin_map(fd, "stats"), 0);

	struct run json = run_cli("--pin-dir", pin_dir, "-j", "stats", NULL);
	struct run text = run_cli("stats", "--pin-dir", pin_dir, NULL);
	cJSON *doc = parse_json_output(&json);
	char row[64];

	assert_int_equal(json.exit_code, 0);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "counters"), "rx")->valueint, 2 * n_cpus);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "drops"), "no_backend")->valueint,
			 2 * n_cpus);
	assert_int_equal(cJSON_GetObjectItem(doc, "drops_total")->valueint, 2 * n_cpus);
	assert_int_equal(text.exit_code, 0);
	assert_contains(text.out, "Drops by reason:\n");
	snprintf(row, sizeof(row), "no_backend  %*d\n", 5, 2 * n_cpus);
	assert_contains(text.out, "  REASON      DROPS\n");
	assert_contains(text.out, row);
	cJSON_Delete(doc);
	run_free(&json);
	run_free(&text);
	close(fd);
	remove_pin_dir();
	free(values);
}

static void test_flows_lists_forward_entries_only(void **state)
{
	struct flow_key fwd = { .family = ILB_AF_INET, .proto = IPPROTO_TCP, .sport = htons(40000),
				.dport = htons(8000) };
	struct flow_key reply = { .family = ILB_AF_INET, .proto = IPPROTO_TCP, .sport = htons(8000),
				  .dport = htons(40000) };
	struct flow_value fwd_val = { .backend_id = 7 }, reply_val = { .backend_id = 7,
								       .flags = ILB_FLOW_REPLY };
	struct backend b = { .family = ILB_AF_INET, .state = ILB_BACKEND_READY, .port = htons(8000) };
	uint32_t id = 7;
	struct timespec now;
	int ct_fd, be_fd;

	if (make_pin_dir())
		skip();
	ct_fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "conntrack", sizeof(struct flow_key),
			       sizeof(struct flow_value), 64, NULL);
	be_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "backends", 4, sizeof(struct backend), 16, NULL);
	if (ct_fd < 0 || be_fd < 0) {
		remove_pin_dir();
		skip();
	}
	inet_pton(AF_INET, "192.0.2.10", fwd.saddr);
	inet_pton(AF_INET, "10.96.0.50", fwd.daddr);
	inet_pton(AF_INET, "10.200.1.2", reply.saddr);
	inet_pton(AF_INET, "192.0.2.10", reply.daddr);
	inet_pton(AF_INET, "10.200.1.2", b.addr);
	clock_gettime(CLOCK_MONOTONIC, &now);
	fwd_val.last_seen_ns = reply_val.last_seen_ns = now.tv_sec * 1000000000ULL + now.tv_nsec;
	assert_int_equal(bpf_map_update_elem(ct_fd, &fwd, &fwd_val, 0), 0);
	assert_int_equal(bpf_map_update_elem(ct_fd, &reply, &reply_val, 0), 0);
	assert_int_equal(bpf_map_update_elem(be_fd, &id, &b, 0), 0);
	assert_int_equal(pin_map(ct_fd, "conntrack"), 0);
	assert_int_equal(pin_map(be_fd, "backends"), 0);

	struct run json = run_cli("--pin-dir", pin_dir, "-j", "flows", NULL);
	struct run text = run_cli("--pin-dir", pin_dir, "flows", NULL);
	cJSON *doc = parse_json_output(&json), *flow;

	assert_int_equal(json.exit_code, 0);
	assert_int_equal(cJSON_GetObjectItem(doc, "total")->valueint, 1);
	flow = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "flows"), 0);
	assert_string_equal(cJSON_GetObjectItem(flow, "client")->valuestring, "192.0.2.10:40000");
	assert_string_equal(cJSON_GetObjectItem(flow, "vip")->valuestring, "10.96.0.50:8000");
	assert_string_equal(cJSON_GetObjectItem(flow, "backend")->valuestring, "10.200.1.2:8000");
	assert_string_equal(cJSON_GetObjectItem(flow, "proto")->valuestring, "tcp");
	assert_int_equal(text.exit_code, 0);
	assert_contains(text.out, "192.0.2.10:40000  10.96.0.50:8000  10.200.1.2:8000 (7)  tcp");
	assert_contains(text.out, "1 flow\n");
	cJSON_Delete(doc);
	run_free(&json);
	run_free(&text);
	close(ct_fd);
	close(be_fd);
	remove_pin_dir();
}

static void test_missing_pins_fail_in_one_line(void **state)
{
	struct run r = run_cli("--pin-dir", "/nonexistent/pins", "flows", NULL);

	assert_int_equal(r.exit_code, 1);
	assert_contains(r.err, "Error: cannot open the pinned map /nonexistent/pins/conntrack");
	assert_int_equal(count_lines(r.err), 1);
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_text_shows_version_lanes_and_sources),
		cmocka_unit_test(test_status_json_is_the_state_without_envelope),
		cmocka_unit_test(test_status_pretty_json_spans_lines),
		cmocka_unit_test(test_pools_text_table),
		cmocka_unit_test(test_pools_json_array),
		cmocka_unit_test(test_aliases_and_prefixes_reach_the_same_command),
		cmocka_unit_test(test_backends_text_table),
		cmocka_unit_test(test_backends_pool_argument_reaches_the_agent),
		cmocka_unit_test(test_objectives_text_and_json),
		cmocka_unit_test(test_drain_and_undrain_send_the_pod),
		cmocka_unit_test(test_agent_refusal_is_one_error_line),
		cmocka_unit_test(test_malformed_response_fails),
		cmocka_unit_test(test_usage_errors_exit_2_with_use_help),
		cmocka_unit_test(test_help_lists_commands_and_options),
		cmocka_unit_test(test_unreachable_agent_is_one_line_exit_1),
		cmocka_unit_test(test_top_plain_refreshes_with_pick_rates),
		cmocka_unit_test(test_top_says_when_the_agent_is_unreachable),
		cmocka_unit_test(test_stats_sums_cpus_and_groups_drops),
		cmocka_unit_test(test_flows_lists_forward_entries_only),
		cmocka_unit_test(test_missing_pins_fail_in_one_line),
	};

	return cmocka_run_group_tests(tests, start_agent, stop_agent);
}
