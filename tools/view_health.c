// SPDX-License-Identifier: BSD-2-Clause
/* Connection health in the CLI's view: bs_health read per group and per backend within a
 * group, spans between two samples, and handshake-latency quantiles from the histogram. */
#include <errno.h>
#include <string.h>
#include "view.h"

void view_health_read(struct bs_dp *dp, __u32 fe_id, __u32 group, __u32 backend_id, struct bs_health *out)
{
	struct bs_health_key k = { .frontend_id = fe_id, .group = (__u16)group, .backend_id = backend_id };

	/* No entry yet: nothing seen, all zero. */
	if (bs_dp_health(dp, &k, out))
		memset(out, 0, sizeof(*out));
}

/* now - before, or now when the counter went backwards (the entry was recreated). */
static __u64 span(__u64 now, const __u64 *before)
{
	return before && now >= *before ? now - *before : now;
}

__u64 view_health_new(const struct bs_health *h, const struct bs_health *prev)
{
	return span(h->new_conns + h->udp_flows, prev ? &(__u64){ prev->new_conns + prev->udp_flows } : NULL);
}

__u64 view_health_failed(const struct bs_health *h, const struct bs_health *prev)
{
	return span(h->failed, prev ? &prev->failed : NULL);
}

double view_handshake_quantile(const struct bs_health *h, const struct bs_health *prev, double q)
{
	__u64 n[BS_HS_BUCKETS], total = 0, cum = 0;

	for (int i = 0; i < BS_HS_BUCKETS; i++) {
		n[i] = span(h->handshake_hist[i], prev ? &prev->handshake_hist[i] : NULL);
		total += n[i];
	}
	if (!total)
		return -1;
	for (int i = 0; i < BS_HS_BUCKETS; i++) {
		double rank = q * (double)total, lo, hi;

		if ((double)(cum + n[i]) < rank) {
			cum += n[i];
			continue;
		}
		lo = i ? (double)(BS_HS_BUCKET0_NS << (i - 1)) / 1e9 : 0;
		hi = (double)(BS_HS_BUCKET0_NS << i) / 1e9;
		if (i == BS_HS_BUCKETS - 1) /* open-ended: its lower bound is all we know */
			return lo;
		return lo + (hi - lo) * (n[i] ? (rank - (double)cum) / (double)n[i] : 0);
	}
	return (double)(BS_HS_BUCKET0_NS << (BS_HS_BUCKETS - 2)) / 1e9;
}
