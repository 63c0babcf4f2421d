/* test_kube.c - the Kubernetes source's credentials: kubeconfig contexts, clusters and users
 * (files relative to the kubeconfig, inline base64 data, tokens, what is refused), the
 * in-cluster service account, and base64. The protocol itself is tested end to end against
 * tools/fake-apiserver (tests/e2e/test_kube.sh). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source/kube.h"

static char dir[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_kube.XXXXXX");
	assert_non_null(mkdtemp(dir));
	write_file("ca.crt", "-----BEGIN CERTIFICATE-----\n");
	write_file("client.crt", "cert");
	write_file("client.key", "key");
	write_file("token", "file-token\n");
	return 0;
}

static int teardown(void **state)
{
	const char *names[] = { "ca.crt", "client.crt", "client.key", "token", "kubeconfig" };
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}

/* A kubeconfig with two contexts; the current one's cluster and user are %s. */
static const char *kubeconfig_fmt = "apiVersion: v1\n"
				    "kind: Config\n"
				    "current-context: %s\n"
				    "contexts:\n"
				    "- name: other\n"
				    "  context: {cluster: other, user: other}\n"
				    "- name: main\n"
				    "  context: {cluster: main, user: main, namespace: default}\n"
				    "clusters:\n"
				    "- name: other\n"
				    "  cluster: {server: 'https://10.0.0.9:6443'}\n"
				    "- name: main\n"
				    "  cluster:\n"
				    "%s"
				    "users:\n"
				    "- name: other\n"
				    "  user: {token: other-token}\n"
				    "- name: main\n"
				    "  user:\n"
				    "%s";

struct config_case {
	const char *desc;
	const char *context, *cluster, *user;
	int ret; /* 0 or the -errno expected */
	const char *error; /* a part of the reason */
	const char *server, *token, *token_file, *ca_file, *ca_pem, *cert_file, *cert_pem;
	bool insecure;
};

static const struct config_case config_cases[] = {
	{ .desc = "token and CA file relative to the kubeconfig; trailing slash dropped", .context = "main",
	  .cluster = "    server: https://127.0.0.1:6443/\n    certificate-authority: ca.crt\n",
	  .user = "    token: abc\n", .server = "https://127.0.0.1:6443", .token = "abc", .ca_file = "ca.crt" },
	{ .desc = "inline CA and client certificate data (base64)", .context = "main",
	  .cluster = "    server: https://k8s.example:443/prefix\n"
		     "    certificate-authority-data: LS0tLS1CRUdJTg==\n",
	  .user = "    client-certificate-data: Y2VydA==\n    client-key-data: a2V5\n",
	  .server = "https://k8s.example:443/prefix", .ca_pem = "-----BEGIN", .cert_pem = "cert" },
	{ .desc = "client certificate files and a token file", .context = "main",
	  .cluster = "    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true\n",
	  .user = "    client-certificate: client.crt\n    client-key: client.key\n    tokenFile: token\n",
	  .server = "https://127.0.0.1:6443", .token_file = "token", .cert_file = "client.crt", .insecure = true },
	{ .desc = "the other context", .context = "other", .cluster = "    server: https://x\n", .user = "    token: t\n",
	  .server = "https://10.0.0.9:6443", .token = "other-token" },
	{ .desc = "no current-context", .context = "''", .cluster = "    server: https://x\n", .user = "    token: t\n",
	  .ret = -EINVAL, .error = "no current-context" },
	{ .desc = "current-context names no context", .context = "nope", .cluster = "    server: https://x\n",
	  .user = "    token: t\n", .ret = -EINVAL, .error = "context nope not found" },
	{ .desc = "a server that is not http(s)", .context = "main", .cluster = "    server: 127.0.0.1:6443\n",
	  .user = "    token: t\n", .ret = -EINVAL, .error = "has no http(s) server" },
	{ .desc = "credential plugins are refused by name", .context = "main", .cluster = "    server: https://x\n",
	  .user = "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}\n", .ret = -ENOTSUP,
	  .error = "user main: credential plugins" },
	{ .desc = "a certificate without its key", .context = "main", .cluster = "    server: https://x\n",
	  .user = "    client-certificate: client.crt\n", .ret = -EINVAL, .error = "needs its key" },
	{ .desc = "a CA file that is not there", .context = "main",
	  .cluster = "    server: https://x\n    certificate-authority: missing.crt\n", .user = "    token: t\n",
	  .ret = -ENOENT, .error = "missing.crt" },
	{ .desc = "CA data that is not base64", .context = "main",
	  .cluster = "    server: https://x\n    certificate-authority-data: '%%%%'\n", .user = "    token: t\n",
	  .ret = -EINVAL, .error = "certificate-authority-data: not valid base64" },
};

/* Expects path to be dir/name, or both NULL. */
static void check_path(const char *path, const char *name)
{
	char want[256];

	if (!name) {
		assert_null(path);
		return;
	}
	snprintf(want, sizeof(want), "%s/%s", dir, name);
	assert_non_null(path);
	assert_string_equal(path, want);
}

static void test_kubeconfig(void **state)
{
	for (size_t i = 0; i < sizeof(config_cases) / sizeof(config_cases[0]); i++) {
		const struct config_case *c = &config_cases[i];
		struct ilb_kube_creds creds;
		char text[4096], path[256], err[512] = "";
		int ret;

		print_message("kubeconfig: %s\n", c->desc);
		snprintf(text, sizeof(text), kubeconfig_fmt, c->context, c->cluster, c->user);
		write_file("kubeconfig", text);
		snprintf(path, sizeof(path), "%s/kubeconfig", dir);
		ret = ilb_kube_creds_kubeconfig(path, &creds, err, sizeof(err));
		if (ret != c->ret)
			fail_msg("%s: expected %d, got %d (%s)", c->desc, c->ret, ret, err);
		if (c->ret) {
			if (!strstr(err, c->error))
				fail_msg("%s: expected a reason with \"%s\", got \"%s\"", c->desc, c->error, err);
			assert_null(creds.server);
			continue;
		}
		assert_string_equal(creds.server, c->server);
		assert_non_null(strstr(creds.origin, "context"));
		if (c->token)
			assert_string_equal(creds.token, c->token);
		else
			assert_null(creds.token);
		check_path(creds.token_file, c->token_file);
		check_path(creds.ca_file, c->ca_file);
		check_path(creds.cert_file, c->cert_file);
		if (c->cert_file)
			check_path(creds.key_file, "client.key");
		if (c->ca_pem)
			assert_memory_equal(creds.ca_pem, c->ca_pem, strlen(c->ca_pem));
		if (c->cert_pem) {
			assert_int_equal(creds.cert_len, strlen(c->cert_pem));
			assert_memory_equal(creds.cert_pem, c->cert_pem, creds.cert_len);
			assert_int_equal(creds.key_len, 3);
		}
		assert_int_equal(creds.insecure, c->insecure);
		ilb_kube_creds_free(&creds);
	}
}

static void test_kubeconfig_missing_file(void **state)
{
	struct ilb_kube_creds creds;
	char err[256];

	assert_int_equal(ilb_kube_creds_kubeconfig("/nonexistent/kubeconfig", &creds, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/kubeconfig"));
}

static void test_in_cluster(void **state)
{
	struct ilb_kube_creds creds;
	char err[256], want[128], nowhere[96];

	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(ilb_kube_creds_in_cluster(dir, &creds, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));

	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(ilb_kube_creds_in_cluster(dir, &creds, err, sizeof(err)), 0);
	assert_string_equal(creds.server, "https://10.96.0.1:443");
	check_path(creds.token_file, "token");
	check_path(creds.ca_file, "ca.crt");
	assert_null(creds.token); /* read when used: it rotates */
	ilb_kube_creds_free(&creds);

	/* an IPv6 service address is bracketed */
	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	assert_int_equal(ilb_kube_creds_in_cluster(dir, &creds, err, sizeof(err)), 0);
	assert_string_equal(creds.server, "https://[fd00:10:96::1]:443");
	ilb_kube_creds_free(&creds);

	/* no service account mounted */
	snprintf(want, sizeof(want), "%s/nowhere/token", dir);
	snprintf(nowhere, sizeof(nowhere), "%s/nowhere", dir);
	assert_int_equal(ilb_kube_creds_in_cluster(nowhere, &creds, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, want));
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_base64(void **state)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "", "" }, { "YQ==", "a" }, { "YWI=", "ab" }, { "YWJj", "abc" },
		{ "LS0t\nLS1C\r\n RUdJTg==", "-----BEGIN" }, { "+/8=", "\xfb\xff" },
	};
	static const char *const bad[] = { "YQ=a", "Y", "YQ===", "a*bc" };
	size_t len;
	char *out;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		out = ilb_base64_decode(good[i].in, &len);
		assert_non_null(out);
		assert_int_equal(len, strlen(good[i].out));
		assert_memory_equal(out, good[i].out, len);
		free(out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		out = ilb_base64_decode(bad[i], &len);
		if (out)
			fail_msg("\"%s\" decoded, expected an error", bad[i]);
		assert_int_equal(errno, EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kubeconfig, setup, teardown),
		cmocka_unit_test(test_kubeconfig_missing_file),
		cmocka_unit_test_setup_teardown(test_in_cluster, setup, teardown),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
