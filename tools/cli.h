/* SPDX-License-Identifier: BSD-2-Clause */
/* The bpfsplit CLI's shared plumbing: global options, command tables with prefix
 * matching, exit statuses, argument parsing and opening the pinned data path. */
#ifndef BS_CLI_H
#define BS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "bpfsplit.h"

/* Exit statuses, documented in `bpfsplit --help`. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_ERROR = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_NO_DP = 3,     /* nothing pinned under the pin root */
	CLI_EXIT_NOT_FOUND = 4, /* the frontend, backend, interface or file named does not exist */
};

/* Failures that main turns into their own exit status. They travel as -errno like any
 * other error; values above the errno range so that no library call can return them.
 * -ENOENT and -ENODEV mean "not found" (exit 4). */
#define CLI_EUSAGE 10001 /* bad command line (exit 2) */
#define CLI_ENODP 10002  /* no pinned data path (exit 3) */
#define CLI_EDIFF 10003  /* a check found differences, already printed (exit 1) */

struct cli_globals {
	const char *pin_root;
	const char *netns; /* --netns: network namespace entered before the command runs */
	bool json;
	bool pretty;
	int verbose;
};
extern struct cli_globals cli;

/* One entry of a command table: bpftool style, matched by unique prefix. */
struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv); /* argv[0] is the command's own name */
};

/* Run the command argv[0] names in table (exact name, else unique prefix). With no
 * command, or "help", calls help and returns 0. obj names the object in messages. */
int cli_dispatch(const char *obj, const struct cli_cmd *table, int argc, char **argv, void (*help)(void));

/* Print "bpfsplit: <message>" on stderr and remember that an error was reported. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: message, then "try 'bpfsplit OBJ help'"; returns -CLI_EUSAGE. */
int cli_usage(const char *obj, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool cli_error_reported(void);
/* Exit status for a command's return value. */
int cli_exit_status(int err);

/* For commands with no options of their own: handles --help (prints help, returns 0)
 * and rejects any other option (usage error); else returns the index of the first
 * operand in argv (argv[0] being the command's name, that is >= 1). */
int cli_no_options(const char *obj, void (*help)(void), int argc, char **argv);

/* Strict unsigned decimal; -EINVAL on junk, -ERANGE above max. */
int cli_parse_u64(const char *s, __u64 max, __u64 *out);

/* Whether the pin root (or its closest existing parent) is on a bpf filesystem;
 * reports the cause and a fix, and returns -ENOTSUP, when it is not. */
int cli_check_bpffs(void);
/* Enter the network namespace named as `ip netns` does (/run/netns/NAME). */
int cli_enter_netns(const char *name);

/* Open the pinned maps under cli.pin_root as a writer; reports and returns -CLI_ENODP
 * when none. */
int cli_open_pinned(struct bs_dp **dp);
/* The same, read-only (no lock, no registry): every command that only shows. */
int cli_open_pinned_ro(struct bs_dp **dp);
/* After a write to key: when a bpfsplit-agent serves the pin root and wrote key (its route
 * or rollout is stored beside it), say that the agent will restore it. */
void cli_note_agent_owned(struct bs_dp *dp, const struct bs_frontend_key *key, const char *done);
/* Report a failure of the data path library naming the object. */
int cli_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Object entry points and help (one file each). */
int do_dataplane(int argc, char **argv);
int do_frontend(int argc, char **argv);
int do_backend(int argc, char **argv);
int do_flow(int argc, char **argv);
int do_stats(int argc, char **argv);
int do_status(int argc, char **argv);
int do_watch(int argc, char **argv);
void help_dataplane(void);
void help_frontend(void);
void help_backend(void);
void help_flow(void);
void help_stats(void);
void help_status(void);
void help_watch(void);
/* `frontend show` for the frontends named in argv[first..], all when none (also `status`). */
int frontend_show(int argc, char **argv, int first);

#endif
