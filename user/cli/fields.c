/* fields.c - defensive accessors over the agent's responses: a missing or mistyped field
 * prints as its default instead of failing the whole command. */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <sys/socket.h>
#include <cjson/cJSON.h>
#include "fields.h"

const char *jstr(const cJSON *obj, const char *name, const char *def)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(item) && item->valuestring ? item->valuestring : def;
}

double jnum(const cJSON *obj, const char *name, double def)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsNumber(item) ? item->valuedouble : def;
}

bool jbool(const cJSON *obj, const char *name, bool def)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsBool(item) ? cJSON_IsTrue(item) : def;
}

const cJSON *jarray(const cJSON *obj, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsArray(item) ? item : NULL;
}

const cJSON *jobject(const cJSON *obj, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsObject(item) ? item : NULL;
}

const char *fmt_age_ms(double ms, char *buf, size_t len)
{
	if (ms < 0 || !isfinite(ms))
		snprintf(buf, len, "never");
	else if (ms < 1000)
		snprintf(buf, len, "%.0fms", ms);
	else if (ms < 60000)
		snprintf(buf, len, "%.1fs", ms / 1000);
	else
		return fmt_duration_s(ms / 1000, buf, len);
	return buf;
}

const char *fmt_duration_s(double s, char *buf, size_t len)
{
	unsigned long long t = s > 0 && isfinite(s) ? (unsigned long long)s : 0;

	if (t < 60)
		snprintf(buf, len, "%llus", t);
	else if (t < 3600)
		snprintf(buf, len, "%llum%02llus", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%lluh%02llum", t / 3600, t % 3600 / 60);
	else
		snprintf(buf, len, "%llud%02lluh", t / 86400, t % 86400 / 3600);
	return buf;
}

const char *fmt_addr_port(uint8_t family, const uint8_t addr[16], uint16_t port, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (family == 6) {
		inet_ntop(AF_INET6, addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, port);
	} else {
		inet_ntop(AF_INET, addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, port);
	}
	return buf;
}

const char *or_dash(const char *s)
{
	return s && s[0] ? s : "-";
}
