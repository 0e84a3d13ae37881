// SPDX-License-Identifier: BSD-2-Clause
/* The logger: timestamps in RFC 3339 UTC, level, then the caller's key=value fields. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <bpf/libbpf.h>
#include "log.h"

static enum bs_log_level current_level = BS_LOG_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void bs_log_set_level(enum bs_log_level level)
{
	current_level = level;
}

enum bs_log_level bs_log_get_level(void)
{
	return current_level;
}

static void vlog(enum bs_log_level level, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char line[2048];
	int n;

	if (level > current_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     level_names[level]);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	fprintf(stderr, "%s\n", line);
}

void bs_log(enum bs_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;

	enum bs_log_level ours = level == LIBBPF_WARN ? BS_LOG_WARN : BS_LOG_DEBUG;
	if (ours > current_level)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* An existing clsact qdisc is expected (bpf_tc_hook_create answers EEXIST). */
	if (ours == BS_LOG_WARN && strstr(msg, "Exclusivity flag on"))
		ours = BS_LOG_DEBUG;
	if (ours > current_level)
		return 0;
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	for (char *c = msg; *c; c++)
		if (*c == '"' || *c == '\n')
			*c = '\'';
	bs_log(ours, "src=libbpf msg=\"%s\"", msg);
	return 0;
}

void bs_log_capture_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
