// SPDX-License-Identifier: BSD-2-Clause
/* Shared CLI plumbing: dispatch by unique prefix, error reporting, exit statuses,
 * number parsing and opening the pinned data path. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include "cli.h"

struct cli_globals cli = { .pin_root = BS_DEFAULT_PIN_ROOT };

static bool error_reported;

static void vreport(const char *fmt, va_list ap)
{
	fputs("bpfsplit: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	error_reported = true;
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
}

int cli_usage(const char *obj, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'bpfsplit %s%shelp'.\n", obj ? obj : "", obj ? " " : "");
	return -CLI_EUSAGE;
}

bool cli_error_reported(void)
{
	return error_reported;
}

/* "not found" reads better than "No such file or directory" for frontends and backends. */
static const char *cause(int err)
{
	switch (err) {
	case -ENOENT:
		return "not found";
	case -ENODEV:
		return "no such interface";
	case -EEXIST:
		return "already exists";
	case -EPERM:
	case -EACCES: {
		static char why[512];

		bs_diag_load_refused(err, why, sizeof(why));
		return why;
	}
	default:
		return strerror(-err);
	}
}

int cli_fail(int err, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cli_error("%s: %s", what, cause(err));
	return err;
}

int cli_exit_status(int err)
{
	switch (err) {
	case 0:
		return CLI_EXIT_OK;
	case -CLI_EUSAGE:
		return CLI_EXIT_USAGE;
	case -CLI_ENODP:
		return CLI_EXIT_NO_DP;
	case -ENOENT:
	case -ENODEV:
		return CLI_EXIT_NOT_FOUND;
	default:
		return CLI_EXIT_ERROR;
	}
}

int cli_dispatch(const char *obj, const struct cli_cmd *table, int argc, char **argv, void (*help)(void))
{
	const struct cli_cmd *found = NULL;
	char names[256] = "";
	size_t len;
	int n = 0;

	if (argc < 1 || !strcmp(argv[0], "help") || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
		help();
		return 0;
	}
	len = strlen(argv[0]);
	for (const struct cli_cmd *c = table; c->name; c++) {
		if (!strcmp(c->name, argv[0]))
			return c->fn(argc, argv);
		if (!strncmp(c->name, argv[0], len)) {
			found = c;
			n++;
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", n > 1 ? ", " : "",
				 c->name);
		}
	}
	if (n == 1) {
		argv[0] = (char *)found->name; /* messages name the command in full */
		return found->fn(argc, argv);
	}
	if (n > 1)
		return cli_usage(obj, "%s%s'%s' is ambiguous: %s", obj ? obj : "", obj ? ": " : "", argv[0], names);
	return cli_usage(obj, "%s%sunknown %s '%s'", obj ? obj : "", obj ? ": " : "", obj ? "command" : "object",
			 argv[0]);
}

int cli_no_options(const char *obj, void (*help)(void), int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			help();
			return 0;
		}
		return cli_usage(obj, "%s %s: unknown option '%s'", obj, argv[0], argv[optind - 1]);
	}
	if (optind == argc - 1 && !strcmp(argv[optind], "help")) {
		help();
		return 0;
	}
	return optind;
}

int cli_parse_u64(const char *s, __u64 max, __u64 *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || (!errno && *end == '\0' && v > max))
		return -ERANGE;
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_check_bpffs(void)
{
	char path[PATH_MAX];
	struct statfs fs;

	snprintf(path, sizeof(path), "%s", cli.pin_root);
	while (statfs(path, &fs)) {
		char *slash = strrchr(path, '/');

		if (errno != ENOENT || !slash || slash == path)
			return cli_fail(-errno, "pin root %s", cli.pin_root);
		*slash = '\0';
	}
	if (fs.f_type == BPF_FS_MAGIC)
		return 0;
	cli_error("pin root %s: %s is not on a bpf filesystem%s", cli.pin_root, path,
		  access("/run/netns", F_OK) ? " (mount one: mount -t bpf bpf /sys/fs/bpf)"
					     : " (inside 'ip netns exec' /sys/fs/bpf is not mounted: use 'bpfsplit "
					       "--netns NAME ...' or 'nsenter --net=/run/netns/NAME bpfsplit ...')");
	return -ENOTSUP;
}

int cli_enter_netns(const char *name)
{
	char path[PATH_MAX];
	int fd, err = 0;

	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cli_fail(-errno, "network namespace %s (%s)", name, path);
	if (setns(fd, CLONE_NEWNET))
		err = cli_fail(-errno, "network namespace %s: cannot enter", name);
	close(fd);
	return err;
}

static int open_pinned(struct bs_dp **dp, bool ro)
{
	struct stat st;
	int err;

	if (stat(cli.pin_root, &st) && errno == ENOENT) {
		if (cli_check_bpffs())
			return -CLI_ENODP;
		cli_error("pin root %s: no data path pinned (load one with 'bpfsplit dataplane load')", cli.pin_root);
		return -CLI_ENODP;
	}
	err = ro ? bs_dp_open_pinned_ro(cli.pin_root, dp) : bs_dp_open_pinned(cli.pin_root, dp);
	if (err == -ENOENT) {
		cli_error("pin root %s: no data path pinned, or only part of one (load one with 'bpfsplit dataplane "
			  "load')",
			  cli.pin_root);
		return -CLI_ENODP;
	}
	if (err)
		return cli_fail(err, "pin root %s: cannot open the pinned maps", cli.pin_root);
	return 0;
}

int cli_open_pinned(struct bs_dp **dp)
{
	return open_pinned(dp, false);
}

int cli_open_pinned_ro(struct bs_dp **dp)
{
	return open_pinned(dp, true);
}

void cli_note_agent_owned(struct bs_dp *dp, const struct bs_frontend_key *key, const char *done)
{
	struct bs_frontend_info fi;
	char name[80];
	__u32 id;
	int holder = 0;

	if (!bs_dp_agent_serving(cli.pin_root, &holder))
		return;
	if (bs_dp_frontend_id(dp, key, &id) || bs_dp_get_info(dp, id, &fi))
		return; /* not written by the agent: it leaves the frontend alone */
	fi.route[sizeof(fi.route) - 1] = fi.rollout[sizeof(fi.rollout) - 1] = '\0';
	if (!fi.route[0] && !fi.rollout[0])
		return;
	bs_frontend_key_format(key, name, sizeof(name));
	fprintf(stderr,
		"note: frontend %s %s, but it belongs to %s %s, served by the bpfsplit-agent on pin root %s (pid %d): "
		"the agent will restore it at its next reconcile; change the %s to make this last\n",
		name, done, fi.route[0] ? "route" : "rollout", fi.route[0] ? fi.route : fi.rollout, cli.pin_root, holder,
		fi.route[0] ? "HTTPRoute" : "Rollout");
}
