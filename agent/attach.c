/* SPDX-License-Identifier: BSD-2-Clause */
/* The agent's attachments: resolution of --interfaces (auto: the default route's uplink;
 * the ingress entry point by driver), attaching with pinned links, adoption of links a
 * previous run left, and repair of lost ones. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "attach.h"
#include "log.h"

#define CHECK_EVERY_NS 1000000000ull

static struct attach_slot *add_slot(struct attachments *at, const char *ifname, enum bs_entry entry, bool by_driver,
				    bool from_auto)
{
	struct attach_slot *s;

	if (at->n >= ATTACH_MAX || strlen(ifname) >= sizeof(s->ifname))
		return NULL;
	s = &at->s[at->n++];
	memset(s, 0, sizeof(*s));
	snprintf(s->ifname, sizeof(s->ifname), "%s", ifname);
	s->entry = entry;
	s->by_driver = by_driver;
	s->from_auto = from_auto;
	return s;
}

int attach_add_spec(struct attachments *at, const char *spec, const char **want)
{
	char entry_name[16];
	const char *colon = strchr(spec, ':');
	enum bs_entry entry;

	*want = "expected ENTRY:IFACE, e.g. xdp:eth0";
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(entry_name) || !colon[1])
		return -EINVAL;
	snprintf(entry_name, sizeof(entry_name), "%.*s", (int)(colon - spec), spec);
	if (bs_entry_parse(entry_name, &entry)) {
		*want = "entry must be xdp, tc-ingress or tc-egress";
		return -EINVAL;
	}
	*want = "bad interface name or too many";
	return add_slot(at, colon + 1, entry, false, false) ? 0 : -EINVAL;
}

int attach_add_interfaces(struct attachments *at, const char *list, const char **want)
{
	char buf[512], *save, *tok;

	*want = "bad interface name or too many";
	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool is_auto = !strcmp(tok, "auto");

		if (is_auto && at->have_auto)
			continue;
		at->have_auto |= is_auto;
		if (!add_slot(at, is_auto ? "" : tok, BS_ENTRY_XDP, true, is_auto) ||
		    !add_slot(at, is_auto ? "" : tok, BS_ENTRY_TC_EGRESS, false, is_auto))
			return -EINVAL;
	}
	return 0;
}

int attach_add_cgroup(struct attachments *at, const char *path, const char **want)
{
	struct attach_slot *s;

	*want = "expected an absolute path of a cgroup v2 directory (at most 191 bytes), e.g. /sys/fs/cgroup";
	if (path[0] != '/' || strlen(path) >= sizeof(s->cgroup) || at->n >= ATTACH_MAX)
		return -EINVAL;
	s = &at->s[at->n++];
	memset(s, 0, sizeof(*s));
	snprintf(s->cgroup, sizeof(s->cgroup), "%s", path);
	return 0;
}

/* A cgroup slot: in force when every hook's link is pinned and attached; else attached
 * again (stale pins dropped first). Returns true when it is in force afterwards. */
static bool sync_cgroup(struct attach_slot *s, struct bs_dp *dp)
{
	const char *root = bs_dp_pin_root(dp);
	bool had_pins = false;
	char how[96] = "";
	int rc;

	if (bs_dp_cgroup_alive(root, s->cgroup) > 0) {
		if (!s->present && !s->ever)
			bs_info("msg=\"socket hooks attached (found pinned, in force)\" cgroup=%s", s->cgroup);
		snprintf(s->how, sizeof(s->how), "cgroup links");
		s->present = s->ever = true;
		return true;
	}
	had_pins = bs_dp_detach_cgroup(root, s->cgroup) != -ENOENT;
	rc = bs_dp_attach_cgroup(dp, s->cgroup, how, sizeof(how));
	if (rc) {
		if (s->present || strcmp(s->last_err, strerror(-rc)))
			bs_err("msg=\"cannot attach the socket hooks\" cgroup=%s err=%s", s->cgroup, strerror(-rc));
		snprintf(s->last_err, sizeof(s->last_err), "%s", strerror(-rc));
		s->present = false;
		return false;
	}
	s->last_err[0] = '\0';
	snprintf(s->how, sizeof(s->how), "cgroup links");
	if (s->ever || had_pins) {
		s->reattached++;
		bs_warn("msg=\"socket hooks were lost (detached or unpinned by someone); attached again\" cgroup=%s "
			"reattached=%llu", s->cgroup, (unsigned long long)s->reattached);
	} else {
		bs_info("msg=\"socket hooks attached\" cgroup=%s how=\"%s\"", s->cgroup, how);
	}
	s->present = s->ever = true;
	return true;
}

int attach_default_uplink(char *ifname, size_t len)
{
	char line[512], iface[64], best[64] = "";
	unsigned long dest, mask, flags, metric, best_metric = ~0ul;
	FILE *f = fopen("/proc/net/route", "r");

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			/* Iface Destination Gateway Flags RefCnt Use Metric Mask ... (hex) */
			if (sscanf(line, "%63s %lx %*x %lx %*d %*d %lu %lx", iface, &dest, &flags, &metric, &mask) != 5)
				continue;
			if (dest == 0 && mask == 0 && (flags & 1 /* RTF_UP */) && metric < best_metric) {
				best_metric = metric;
				snprintf(best, sizeof(best), "%s", iface);
			}
		}
		fclose(f);
	}
	if (!best[0] && (f = fopen("/proc/net/ipv6_route", "r"))) {
		char dst[40];
		unsigned int plen;

		while (fgets(line, sizeof(line), f)) {
			/* dest plen src plen next-hop metric refcnt use flags iface */
			if (sscanf(line, "%39s %x %*s %*x %*s %lx %*x %*x %lx %63s", dst, &plen, &metric, &flags, iface) != 5)
				continue;
			if (plen == 0 && !strcmp(dst, "00000000000000000000000000000000") && strcmp(iface, "lo") &&
			    (flags & 1) && metric < best_metric) {
				best_metric = metric;
				snprintf(best, sizeof(best), "%s", iface);
			}
		}
		fclose(f);
	}
	if (!best[0])
		return -ENOENT;
	snprintf(ifname, len, "%s", best);
	return 0;
}

/* Fill "auto" slots from the default route; false while there is none. */
static bool resolve_auto(struct attachments *at)
{
	char up[32];
	bool logged = false;

	for (size_t i = 0; i < at->n; i++) {
		struct attach_slot *s = &at->s[i];

		if (!s->from_auto || s->ifname[0])
			continue;
		if (attach_default_uplink(up, sizeof(up))) {
			snprintf(s->last_err, sizeof(s->last_err), "no default route yet");
			continue;
		}
		snprintf(s->ifname, sizeof(s->ifname), "%s", up);
		if (!logged)
			bs_info("msg=\"interfaces auto: the uplink is the default route's interface\" ifname=%s", up);
		logged = true;
	}
	for (size_t i = 0; i < at->n; i++)
		if (!at->s[i].ifname[0] && !at->s[i].cgroup[0])
			return false;
	return true;
}

struct find_ctx {
	const char *ifname;
	enum bs_entry entry;
	unsigned long netns;
	struct bs_link_info found;
	bool ok;
};

static int find_link(const struct bs_link_info *li, void *ctx)
{
	struct find_ctx *f = ctx;

	if (li->entry != f->entry || strcmp(li->ifname, f->ifname) || li->netns_ino != f->netns)
		return 0;
	f->found = *li;
	f->ok = true;
	return 1;
}

/* Interface names are per network namespace: links are found by name and namespace. */
static unsigned long this_netns(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : (unsigned long)st.st_ino;
}

/* The entry point a slot attaches now (by driver where asked). */
static enum bs_entry slot_entry(struct attach_slot *s, char *why, size_t why_len)
{
	enum bs_entry e = s->entry;

	why[0] = '\0';
	if (s->by_driver && bs_entry_auto(s->ifname, &e, why, why_len))
		e = BS_ENTRY_XDP;
	return e;
}

size_t attach_sync(struct attachments *at, struct bs_dp *dp, enum bs_xdp_mode mode)
{
	size_t missing = 0;

	resolve_auto(at);
	for (size_t i = 0; i < at->n; i++) {
		struct attach_slot *s = &at->s[i];
		struct find_ctx f = { 0 };
		char why[160], how[64] = "";
		enum bs_entry e;
		bool was = s->present;
		int rc, alive = 0;

		if (s->cgroup[0]) {
			missing += !sync_cgroup(s, dp);
			continue;
		}
		if (!s->ifname[0]) {
			s->present = false;
			missing++;
			continue;
		}
		e = slot_entry(s, why, sizeof(why));
		f.ifname = s->ifname;
		f.entry = e;
		f.netns = this_netns();
		bs_dp_for_each_link(bs_dp_pin_root(dp), find_link, &f);
		if (f.ok) {
			alive = bs_dp_link_alive(&f.found);
			if (alive > 0) {
				if (!was && !s->how[0]) {
					snprintf(s->how, sizeof(s->how), "%s", f.found.mode);
					bs_info("msg=\"attached (found pinned, in force)\" ifname=%s entry=%s how=\"%s\"",
						s->ifname, bs_entry_name(e), s->how);
				}
				s->present = s->ever = true;
				continue;
			}
			/* Pinned but no longer in force: drop the stale pin and attach again. */
			bs_dp_detach(bs_dp_pin_root(dp), s->ifname, e);
		}
		rc = bs_dp_attach(dp, s->ifname, e, mode, how, sizeof(how));
		if (rc) {
			if (was || strcmp(s->last_err, strerror(-rc)))
				bs_err("msg=\"cannot attach\" ifname=%s entry=%s err=%s", s->ifname, bs_entry_name(e),
				       strerror(-rc));
			snprintf(s->last_err, sizeof(s->last_err), "%s", strerror(-rc));
			s->present = false;
			missing++;
			continue;
		}
		s->last_err[0] = '\0';
		snprintf(s->how, sizeof(s->how), "%s", how);
		if (s->ever || f.ok) {
			s->reattached++;
			bs_warn("msg=\"attachment was lost (detached or unpinned by someone); attached again\" ifname=%s "
				"entry=%s how=\"%s\" reattached=%llu",
				s->ifname, bs_entry_name(e), how, (unsigned long long)s->reattached);
		} else {
			bs_info("msg=\"attached\" ifname=%s entry=%s how=\"%s\"%s%s%s", s->ifname, bs_entry_name(e), how,
				why[0] ? " why=\"" : "", why, why[0] ? "\"" : "");
		}
		s->present = s->ever = true;
	}
	return missing;
}

bool attach_tick(struct attachments *at, struct bs_dp *dp, enum bs_xdp_mode mode, uint64_t now_ns)
{
	bool before[ATTACH_MAX], changed = false;
	uint64_t re[ATTACH_MAX];

	if (!at->n || !dp || now_ns < at->next_check_ns)
		return false;
	at->next_check_ns = now_ns + CHECK_EVERY_NS;
	for (size_t i = 0; i < at->n; i++) {
		before[i] = at->s[i].present;
		re[i] = at->s[i].reattached;
	}
	attach_sync(at, dp, mode);
	for (size_t i = 0; i < at->n; i++)
		changed |= before[i] != at->s[i].present || re[i] != at->s[i].reattached;
	return changed;
}

bool attach_complete(const struct attachments *at)
{
	for (size_t i = 0; i < at->n; i++)
		if (!at->s[i].present)
			return false;
	return true;
}

void attach_missing(const struct attachments *at, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < at->n && n < len; i++) {
		const struct attach_slot *s = &at->s[i];

		if (s->present)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s on %s not attached%s%s%s", n ? "; " : "",
				      s->cgroup[0] ? "socket hooks" : s->by_driver ? "ingress" : bs_entry_name(s->entry),
				      s->cgroup[0] ? s->cgroup : s->ifname[0] ? s->ifname : "auto",
				      s->last_err[0] ? " (" : "", s->last_err, s->last_err[0] ? ")" : "");
	}
}

void attach_render(const struct attachments *at, struct mbuf *b)
{
	if (!at->n)
		return;
	mbuf_printf(b, "# HELP bpfsplit_agent_link 1 when an attachment the agent keeps is in force, 0 while it is "
		       "missing.\n# TYPE bpfsplit_agent_link gauge\n");
	for (size_t i = 0; i < at->n; i++) {
		const struct attach_slot *s = &at->s[i];
		char mode[64];

		snprintf(mode, sizeof(mode), "%s", s->how);
		mbuf_printf(b, "bpfsplit_agent_link{");
		mbuf_label(b, "ifname", s->cgroup[0] ? s->cgroup : s->ifname[0] ? s->ifname : "auto", true);
		mbuf_label(b, "entry", s->cgroup[0] ? "cgroup" : s->by_driver ? "ingress" : bs_entry_name(s->entry), false);
		mbuf_label(b, "how", mode, false);
		mbuf_printf(b, "} %d\n", s->present);
	}
	mbuf_printf(b, "# HELP bpfsplit_agent_link_reattached_total Attachments found lost (detached or unpinned by "
		       "someone) and attached again.\n# TYPE bpfsplit_agent_link_reattached_total counter\n");
	for (size_t i = 0; i < at->n; i++) {
		const struct attach_slot *s = &at->s[i];

		mbuf_printf(b, "bpfsplit_agent_link_reattached_total{");
		mbuf_label(b, "ifname", s->cgroup[0] ? s->cgroup : s->ifname[0] ? s->ifname : "auto", true);
		mbuf_label(b, "entry", s->cgroup[0] ? "cgroup" : s->by_driver ? "ingress" : bs_entry_name(s->entry), false);
		mbuf_printf(b, "} %llu\n", (unsigned long long)s->reattached);
	}
}
