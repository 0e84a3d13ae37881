// SPDX-License-Identifier: BSD-2-Clause
/* Opening the data path: load the programs, create or reuse the pinned maps, and rebuild
 * the in-memory registries from the pins. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpfsplit.skel.h"
#include "dp_diag.h"
#include "dp_internal.h"
#include "log.h"

/* The one list of the maps (bs_dp_map_list in the API), indexed by enum bs_map_idx. */
const char *const bs_map_names[BS_MAP_COUNT] = {
	[BS_MAP_FRONTENDS] = "bs_frontends", [BS_MAP_SPLITS] = "bs_splits",   [BS_MAP_MAGLEV] = "bs_maglev",
	[BS_MAP_BACKENDS] = "bs_backends",   [BS_MAP_CONNS] = "bs_conns",     [BS_MAP_RNAT] = "bs_rnat",
	[BS_MAP_FE_STATS] = "bs_fe_stats",   [BS_MAP_BE_STATS] = "bs_be_stats", [BS_MAP_REASONS] = "bs_reasons",
	[BS_MAP_SETTINGS] = "bs_settings",   [BS_MAP_GROUPS] = "bs_groups",   [BS_MAP_MEMBERS] = "bs_members",
	[BS_MAP_STATE] = "bs_state",         [BS_MAP_FE_INFO] = "bs_fe_info",
	[BS_MAP_FE_SPLITS] = "bs_fe_splits", [BS_MAP_MAGLEV_LARGE] = "bs_maglev_large",
	[BS_MAP_HEALTH] = "bs_health",
};

const unsigned int bs_dp_map_count = BS_MAP_COUNT;

/* The flow-hash key used when none is set: the same on every node, so that a flow gets
 * the same answer anywhere. Clusters that want their own set it cluster-wide. */
static const __u32 default_hash_key[4] = { 0x62707366, 0x706c6974, 0x6b657931, 0x2d763031 };

__u64 bs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static struct bs_dp *dp_alloc(const char *root)
{
	struct bs_dp *dp = calloc(1, sizeof(*dp));

	if (!dp)
		return NULL;
	snprintf(dp->root, sizeof(dp->root), "%s", root ? root : BS_DEFAULT_PIN_ROOT);
	for (int i = 0; i < BS_MAP_COUNT; i++)
		dp->fd[i] = -1;
	dp->root_fd = -1;
	dp->claim_fd = -1;
	dp->ncpus = libbpf_num_possible_cpus();
	return dp;
}

static int map_max_entries(int fd, __u32 *max)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*max = info.max_entries;
	return 0;
}

/* Sizes, the settings defaults, the root lock and the registries: the part common to
 * both ways of opening a writer. */
static int dp_finish_open(struct bs_dp *dp)
{
	__u32 zero = 0;
	struct bs_settings s = {};
	int err;

	if (dp->ncpus <= 0)
		return dp->ncpus ? dp->ncpus : -EINVAL;
	err = map_max_entries(dp->fd[BS_MAP_BACKENDS], &dp->max_backends);
	err = err ?: map_max_entries(dp->fd[BS_MAP_FE_STATS], &dp->max_frontends);
	if (err)
		return err;
	if (dp->ro)
		return 0;

	dp->root_fd = open(dp->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dp->root_fd < 0)
		return -errno;

	dp->be_by_id = calloc(dp->max_backends, sizeof(*dp->be_by_id));
	dp->fe_id_used = calloc(dp->max_frontends, 1);
	dp->fe_by_id = calloc(dp->max_frontends, sizeof(*dp->fe_by_id));
	if (!dp->be_by_id || !dp->fe_id_used || !dp->fe_by_id)
		return -ENOMEM;
	if (flock(dp->root_fd, LOCK_EX))
		return -errno;
	/* Settings defaults under the lock: two first openers must not race. */
	if (bpf_map_lookup_elem(dp->fd[BS_MAP_SETTINGS], &zero, &s))
		err = -errno;
	else if (!s.linger_ns) {
		memcpy(s.hash_key, default_hash_key, sizeof(s.hash_key));
		s.linger_ns = BS_DEFAULT_LINGER_NS;
		s.udp_idle_ns = BS_DEFAULT_UDP_IDLE_NS;
		if (bpf_map_update_elem(dp->fd[BS_MAP_SETTINGS], &zero, &s, BPF_ANY))
			err = -errno;
	}
	err = err ?: bs_dp_sync(dp);
	flock(dp->root_fd, LOCK_UN);
	return err;
}

/* Size a map for creation, or to match the pinned map it will reuse. */
static int size_map(struct bpf_map *map, const char *pin, __u32 wanted)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(pin);

	if (fd >= 0) {
		int err = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;

		close(fd);
		if (err)
			return err;
		return bpf_map__set_max_entries(map, info.max_entries);
	}
	return wanted ? bpf_map__set_max_entries(map, wanted) : 0;
}

/* Without CAP_PERFMON (or CAP_BPF) the verifier applies the unprivileged limits and
 * refuses a large program as too big (E2BIG): the same cause as an EPERM. */
static bool missing_caps(void)
{
	char caps[64] = "";

	bs_diag_missing_caps(caps, sizeof(caps));
	return caps[0] != '\0';
}

int bs_dp_open(const struct bs_dp_opts *opts, struct bs_dp **out)
{
	struct bs_dp_opts o = opts ? *opts : (struct bs_dp_opts){ 0 };
	struct bpf_map *map;
	struct bs_dp *dp;
	char pin[PATH_MAX + 32], why[512];
	int err;

	err = bs_kernel_check(why, sizeof(why));
	if (err) {
		bs_err("msg=\"cannot load the data path\" err=\"%s\"", why);
		return err;
	}
	dp = dp_alloc(o.pin_root);
	if (!dp)
		return -ENOMEM;
	err = mkdir_p(dp->root);
	if (err) {
		bs_err("msg=\"cannot create pin root\" path=%s err=%s", dp->root, strerror(-err));
		goto fail;
	}
	if (o.claim_agent) {
		int holder = 0;

		err = bs_dp_claim_agent(dp->root, &dp->claim_fd, &holder);
		if (err == -EBUSY)
			bs_err("msg=\"another bpfsplit-agent already serves this pin root: one agent per pin root\" "
			       "pin_root=%s holder_pid=%d hint=\"stop that agent, or give this one another --pin-root\"",
			       dp->root, holder);
		else if (err)
			bs_err("msg=\"cannot claim the pin root for this agent\" pin_root=%s err=%s", dp->root,
			       strerror(-err));
		if (err)
			goto fail;
	}
	dp->skel = bpfsplit_bpf__open();
	if (!dp->skel) {
		err = -errno;
		goto fail;
	}
	dp->skel->rodata->bs_health_per_backend = !o.no_backend_health;
	bpf_object__for_each_map(map, dp->skel->obj) {
		const char *name = bpf_map__name(map);
		__u32 wanted = 0;

		if (name[0] == '.' || bpf_map__is_internal(map)) /* .rodata and friends are not pinned */
			continue;
		if (!strcmp(name, "bs_frontends") || !strcmp(name, "bs_fe_stats") || !strcmp(name, "bs_fe_info") ||
		    !strcmp(name, "bs_fe_splits"))
			wanted = o.max_frontends;
		else if (!strcmp(name, "bs_backends") || !strcmp(name, "bs_be_stats"))
			wanted = o.max_backends;
		else if (!strcmp(name, "bs_conns") || !strcmp(name, "bs_rnat"))
			wanted = o.max_conns;
		else if (!strcmp(name, "bs_splits"))
			wanted = o.max_splits ? o.max_splits : (o.max_frontends ? 2 * o.max_frontends : 0);
		else if (!strcmp(name, "bs_maglev"))
			wanted = o.max_tables;
		else if (!strcmp(name, "bs_maglev_large"))
			wanted = o.max_large_tables;
		else if (!strcmp(name, "bs_groups"))
			wanted = o.max_frontends ? BS_MAX_GROUPS * o.max_frontends : 0;
		else if (!strcmp(name, "bs_members"))
			wanted = o.max_members ? o.max_members
					       : 4 * (o.max_backends > o.max_frontends ? o.max_backends : o.max_frontends);
		else if (!strcmp(name, "bs_health"))
			wanted = o.max_backends ? 4 * o.max_backends : 0;
		snprintf(pin, sizeof(pin), "%s/%s", dp->root, name);
		err = bpf_map__set_pin_path(map, pin);
		err = err ?: size_map(map, pin, wanted);
		if (err)
			goto fail;
	}
	err = bpfsplit_bpf__load(dp->skel);
	if (err == -EPERM || err == -EACCES || err == -ENOMEM || (err == -E2BIG && missing_caps())) {
		bs_diag_load_refused(err, why, sizeof(why));
		bs_err("msg=\"the kernel refused to load the data path\" pin_root=%s err=%s why=\"%s\"", dp->root,
		       strerror(-err), why);
		goto fail;
	}
	if (err) {
		bs_err("msg=\"cannot load BPF programs or reuse pinned maps\" pin_root=%s err=%s hint=\"a map "
		       "pinned by an incompatible version must be removed (bpfsplit dataplane unload)\"",
		       dp->root, strerror(-err));
		goto fail;
	}
	for (int i = 0; i < BS_MAP_COUNT; i++) {
		map = bpf_object__find_map_by_name(dp->skel->obj, bs_map_names[i]);
		if (!map) {
			err = -ENOENT;
			goto fail;
		}
		dp->fd[i] = dup(bpf_map__fd(map));
	}
	err = dp_finish_open(dp);
	if (err)
		goto fail;
	*out = dp;
	return 0;
fail:
	bs_dp_close(dp);
	return err;
}

static int open_pinned(const char *pin_root, bool ro, struct bs_dp **out)
{
	struct bs_dp *dp = dp_alloc(pin_root);
	char pin[PATH_MAX + 32];
	int err;

	if (!dp)
		return -ENOMEM;
	dp->ro = ro;
	for (int i = 0; i < BS_MAP_COUNT; i++) {
		snprintf(pin, sizeof(pin), "%s/%s", dp->root, bs_map_names[i]);
		dp->fd[i] = bpf_obj_get(pin);
		if (dp->fd[i] < 0) {
			err = -errno;
			goto fail;
		}
	}
	err = dp_finish_open(dp);
	if (err)
		goto fail;
	*out = dp;
	return 0;
fail:
	bs_dp_close(dp);
	return err;
}

int bs_dp_open_pinned(const char *pin_root, struct bs_dp **out)
{
	return open_pinned(pin_root, false, out);
}

int bs_dp_open_pinned_ro(const char *pin_root, struct bs_dp **out)
{
	return open_pinned(pin_root, true, out);
}

bool bs_dp_is_ro(const struct bs_dp *dp)
{
	return dp->ro;
}

void bs_dp_close(struct bs_dp *dp)
{
	if (!dp)
		return;
	/* Only a writer ever retires; it frees under the writers' lock, caught up. */
	if (dp->retired && dp->root_fd >= 0 && !dp->ro)
		bs_dp_flush_retired(dp, true);
	while (dp->retired) {
		struct bs_retired *r = dp->retired;

		dp->retired = r->next;
		free(r);
	}
	bs_ro_cache_free(dp);
	bs_dp_registry_clear(dp);
	free(dp->be_by_id);
	free(dp->fe_id_used);
	free(dp->fe_by_id);
	for (int i = 0; i < BS_MAP_COUNT; i++)
		if (dp->fd[i] >= 0)
			close(dp->fd[i]);
	if (dp->root_fd >= 0)
		close(dp->root_fd);
	if (dp->claim_fd >= 0)
		close(dp->claim_fd);
	bpfsplit_bpf__destroy(dp->skel);
	free(dp);
}

const char *bs_dp_pin_root(const struct bs_dp *dp)
{
	return dp->root;
}

int bs_dp_map_fd(struct bs_dp *dp, const char *name)
{
	for (int i = 0; i < BS_MAP_COUNT; i++)
		if (!strcmp(name, bs_map_names[i]))
			return dp->fd[i];
	return -ENOENT;
}

int bs_dp_map_max_entries(struct bs_dp *dp, const char *name, __u32 *max)
{
	int fd = bs_dp_map_fd(dp, name);

	return fd < 0 ? fd : map_max_entries(fd, max);
}

int bs_dp_get_settings(struct bs_dp *dp, struct bs_settings *out)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(dp->fd[BS_MAP_SETTINGS], &zero, out) ? -errno : 0;
}

int bs_dp_set_settings(struct bs_dp *dp, const struct bs_settings *in)
{
	__u32 zero = 0;

	if (dp->ro)
		return -EROFS;
	if (!in->linger_ns || !in->udp_idle_ns)
		return -EINVAL;
	return bpf_map_update_elem(dp->fd[BS_MAP_SETTINGS], &zero, in, BPF_ANY) ? -errno : 0;
}
