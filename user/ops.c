// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Evacuate, drain, restore, fence release and apply on a live instance
 * (user/ops.h). Moves narrower than a unit mark buckets in cg_bucket.owner
 * (CG_OWNER_AWAY/DRAIN); cg_tables_reassign() turns states and marks into
 * serving units, so buckets of units not involved never move.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <jansson.h>

#include "cg_hash.h"
#include "dp.h"
#include "log.h"
#include "ops.h"
#include "tables.h"

#define CG_AUDIT_DIR "/var/lib/cellgate"

int cg_parse_duration_ms(const char *s, __u64 *ms)
{
	char *end;
	double v;

	if (!strcmp(s, "until-release")) {
		*ms = CG_FENCE_UNTIL_RELEASE;
		return 0;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || v > 1e9)
		return -1;
	if (!*end || !strcmp(end, "s"))
		v *= 1000;
	else if (!strcmp(end, "m"))
		v *= 60000;
	else if (!strcmp(end, "h"))
		v *= 3600000;
	else if (strcmp(end, "ms"))
		return -1;
	*ms = (__u64)v;
	return 0;
}

static const char *instance_of(const struct cg_dp *dp)
{
	const char *slash = strrchr(dp->dir, '/');

	return slash ? slash + 1 : dp->dir;
}

void cg_op_diff(const struct cg_tables *before, const struct cg_tables *after,
		struct cg_op_result *r)
{
	r->moved = 0;
	r->n_services = 0;
	memset(r->moved_from, 0, sizeof(r->moved_from));
	memset(r->moved_to, 0, sizeof(r->moved_to));
	if (!before->gen.generation)
		return;
	/* service by service, matched by name: an apply may lay buckets out anew */
	for (int i = 0; i < after->n_services; i++) {
		const struct cg_service *sa = &after->services[i], *sb = NULL;
		__u32 moved = 0;

		if (sa->kind != CG_KIND_CORE)
			continue;
		for (int k = 0; k < before->n_services && !sb; k++)
			if (!strcmp(before->services[k].name, sa->name) &&
			    before->services[k].kind == CG_KIND_CORE &&
			    before->services[k].modulo == sa->modulo)
				sb = &before->services[k];
		if (!sb)
			continue; /* new or resized: no bucket-for-bucket comparison */
		for (__u32 b = 0; b < sa->modulo; b++) {
			__u16 from = before->buckets[sb->bucket_base + b].unit;
			__u16 to = after->buckets[sa->bucket_base + b].unit;

			if (from == to)
				continue;
			moved++;
			if (from < CG_MAX_UNITS)
				r->moved_from[from]++;
			if (to < CG_MAX_UNITS)
				r->moved_to[to]++;
		}
		if (!moved)
			continue;
		r->moved += moved;
		snprintf(r->svc[r->n_services].name, CG_NAME_LEN, "%s", sa->name);
		r->svc[r->n_services++].moved = moved;
	}
}

/* ---- audit ---- */

static void who_am_i(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(getuid());
	const char *sudo = getenv("SUDO_USER");

	snprintf(buf, len, "%s%s%s (pid %d)", pw ? pw->pw_name : "?", sudo ? " via sudo by " : "",
		 sudo ? sudo : "", (int)getpid());
}

void cg_audit(const char *instance, const char *action, const struct cg_op_opts *o,
	      const struct cg_op_result *r, const struct cg_errors *errs, double duration_ms)
{
	const char *path = getenv("CELLGATE_AUDIT_LOG");
	char buf[PATH_MAX], when[64], who[128];
	struct timespec ts;
	struct tm tm;
	json_t *j;
	FILE *f;
	char *line;

	if (!path) {
		mkdir(CG_AUDIT_DIR, 0700);
		snprintf(buf, sizeof(buf), "%s/%s.audit.jsonl", CG_AUDIT_DIR, instance);
		path = buf;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03ldZ", ts.tv_nsec / 1000000);
	if (o && o->who)
		snprintf(who, sizeof(who), "%s", o->who);
	else
		who_am_i(who, sizeof(who));

	j = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "instance", instance, "who", who, "action",
		      action);
	if (o && o->scope.unit)
		json_object_set_new(j, "unit", json_string(o->scope.unit));
	if (o && o->scope.service)
		json_object_set_new(j, "service", json_string(o->scope.service));
	if (o && o->scope.has_range)
		json_object_set_new(j, "buckets", json_pack("[i, i]", (int)o->scope.first,
							     (int)o->scope.last));
	if (o && o->scope.percent)
		json_object_set_new(j, "percent", json_integer(o->scope.percent));
	if (o && o->fence_ms)
		json_object_set_new(j, "fence_ms", o->fence_ms == CG_FENCE_UNTIL_RELEASE ?
							   json_string("until-release") :
							   json_integer(o->fence_ms));
	if (o && o->deadline_ms)
		json_object_set_new(j, "deadline_ms", json_integer(o->deadline_ms));
	if (o && o->force)
		json_object_set_new(j, "force", json_true());
	if (o && o->dry_run)
		json_object_set_new(j, "dry_run", json_true());
	if (r) {
		json_object_set_new(j, "generation_before", json_integer(r->gen_before));
		json_object_set_new(j, "generation_after", json_integer(r->gen_after));
		json_object_set_new(j, "buckets_moved", json_integer(r->moved));
		if (r->fenced)
			json_object_set_new(j, "buckets_fenced", json_integer(r->fenced));
		json_object_set_new(j, "publish_ms", json_real(r->write_ms + r->swap_ms));
		if (r->published_ns)
			json_object_set_new(j, "published_ns", json_integer(r->published_ns));
	}
	json_object_set_new(j, "duration_ms", json_real(duration_ms));
	if (o && o->automatic)
		json_object_set_new(j, "automatic", json_true());
	if (o && o->audit_extra) {
		json_t *extra = json_loads(o->audit_extra, 0, NULL);

		if (json_is_object(extra))
			json_object_update(j, extra);
		json_decref(extra);
	}
	if (errs && errs->n) {
		json_object_set_new(j, "result", json_string("refused"));
		json_object_set_new(j, "error", json_string(errs->msgs[0]));
	} else {
		json_object_set_new(j, "result", json_string(r && r->noop ? "no-op" : "ok"));
	}
	line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	f = line ? fopen(path, "a") : NULL;
	if (!f) {
		cg_warn("cannot write the audit log %s: %s\n", path, strerror(errno));
	} else {
		fprintf(f, "%s\n", line);
		fclose(f);
	}
	free(line);
}

/* ---- helpers ---- */

static int find_unit(const struct cg_tables *t, const char *name, struct cg_errors *errs)
{
	for (int i = 0; i < CG_MAX_UNITS; i++)
		if (t->units[i].state != CG_UNIT_UNUSED && !strcmp(t->units[i].name, name))
			return i;
	cg_errors_add(errs, "no unit \"%s\" in generation %llu", name,
		      (unsigned long long)t->gen.generation);
	return -1;
}

static bool whole_unit(const struct cg_scope *s)
{
	return !s->service && !s->has_range && (s->percent == 0 || s->percent >= 100);
}

/* Calls fn on every bucket the scope selects whose owner is unit. */
static int for_scope(struct cg_tables *t, const struct cg_scope *s, int unit, struct cg_errors *errs,
		     void (*fn)(struct cg_bucket *b, void *arg), void *arg)
{
	int found = 0;

	for (int i = 0; i < t->n_services; i++) {
		const struct cg_service *svc = &t->services[i];
		__u32 first = 0, last;

		if (svc->kind != CG_KIND_CORE)
			continue;
		if (s->service && strcmp(svc->name, s->service))
			continue;
		found++;
		last = svc->modulo - 1;
		if (s->has_range) {
			if (s->first > s->last || s->last >= svc->modulo) {
				cg_errors_add(errs, "buckets %u-%u: service \"%s\" has buckets 0-%u",
					      s->first, s->last, svc->name, svc->modulo - 1);
				return -1;
			}
			first = s->first;
			last = s->last;
		}
		for (__u32 b = first; b <= last; b++) {
			struct cg_bucket *bk = &t->buckets[svc->bucket_base + b];

			if ((bk->owner & CG_OWNER_MASK) != unit)
				continue;
			if (s->percent && s->percent < 100 &&
			    cg_mix32(cg_hash_step(cg_name_hash(svc->name, t->gen.seed), b)) % 100 >=
				    s->percent)
				continue;
			fn(bk, arg);
		}
	}
	if (s->service && !found) {
		cg_errors_add(errs, "no core service \"%s\" in generation %llu", s->service,
			      (unsigned long long)t->gen.generation);
		return -1;
	}
	return 0;
}

static void mark_away(struct cg_bucket *b, void *arg)
{
	b->owner = (b->owner & (CG_OWNER_MASK | CG_OWNER_CANARY)) | CG_OWNER_AWAY |
		   (arg ? CG_OWNER_DRAIN : 0);
}

static void mark_home(struct cg_bucket *b, void *arg)
{
	b->owner &= CG_OWNER_MASK | CG_OWNER_CANARY;
}

/* Handovers whose hold ended: the bucket no longer needs the flow table. */
static void expire_handovers(struct cg_tables *t, __u64 now)
{
	for (__u32 b = 0; b < t->buckets_used; b++) {
		__u16 prev = t->buckets[b].prev_unit;

		if (prev < CG_MAX_UNITS && t->units[prev].hold_until_ns &&
		    t->units[prev].hold_until_ns <= now)
			t->buckets[b].prev_unit = CG_UNIT_NONE;
	}
	for (int u = 0; u < CG_MAX_UNITS; u++)
		if (t->units[u].state == CG_UNIT_SERVING && t->units[u].hold_until_ns <= now)
			t->units[u].hold_until_ns = 0;
}

/* Fences whose deadline passed: free the record, unmark the buckets. */
static void expire_fences(struct cg_tables *t, __u64 now)
{
	bool ended[CG_MAX_FENCES] = {};

	for (int i = 1; i < CG_MAX_FENCES; i++)
		if (t->fences[i].deadline_ns && t->fences[i].deadline_ns <= now) {
			ended[i] = true;
			memset(&t->fences[i], 0, sizeof(t->fences[i]));
		}
	for (__u32 b = 0; b < t->buckets_used; b++)
		if (t->buckets[b].fence < CG_MAX_FENCES && ended[t->buckets[b].fence])
			t->buckets[b].fence = 0;
}

/* Fence every bucket whose serving unit changed between before and t. */
static int fence_moved(struct cg_tables *t, const struct cg_tables *before, const struct cg_op_opts *o,
		       __u64 now, struct cg_op_result *r, struct cg_errors *errs)
{
	int id = 0;

	for (int i = 1; i < CG_MAX_FENCES && !id; i++)
		if (!t->fences[i].deadline_ns)
			id = i;
	if (!id) {
		cg_errors_add(errs, "all %d fences are in use; release some first", CG_MAX_FENCES - 1);
		return -1;
	}
	t->fences[id].deadline_ns = o->fence_ms == CG_FENCE_UNTIL_RELEASE ? CG_FENCE_FOREVER :
									    now + o->fence_ms * 1000000ull;
	t->fences[id].action = o->fence_action;
	for (__u32 b = 0; b < t->buckets_used && b < before->buckets_used; b++) {
		if (t->buckets[b].unit == before->buckets[b].unit)
			continue;
		t->buckets[b].fence = id;
		t->fences[id].unit = t->buckets[b].unit;
		r->fenced++;
	}
	if (!r->fenced)
		memset(&t->fences[id], 0, sizeof(t->fences[id]));
	else
		r->fence_id = id;
	return 0;
}

/* Global and shared services need the central unit or its standby: taking
 * out the last serving one of the two drops them, so refuse unless forced. */
static int central_guard(const struct cg_tables *t, int unit, const struct cg_op_opts *o,
			 struct cg_errors *errs)
{
	if (o->force)
		return 0;
	for (int i = 0; i < t->n_services; i++) {
		const struct cg_service *s = &t->services[i];
		__u16 c = s->central_unit, sb;
		bool before, after;

		if (s->kind == CG_KIND_CORE || c >= CG_MAX_UNITS)
			continue;
		sb = t->units[c].standby;
		before = t->units[c].state == CG_UNIT_SERVING ||
			 (sb < CG_MAX_UNITS && t->units[sb].state == CG_UNIT_SERVING);
		after = (c != unit && t->units[c].state == CG_UNIT_SERVING) ||
			(sb < CG_MAX_UNITS && sb != unit && t->units[sb].state == CG_UNIT_SERVING);
		if (!before || after)
			continue;
		if (c == unit)
			cg_errors_add(errs,
				      "%s is the central unit of global/shared services and has no serving standby: they would be dropped (--force to do it anyway)",
				      t->units[unit].name);
		else
			cg_errors_add(errs,
				      "%s stands in for the central unit %s, which is not serving: global/shared services would be dropped (--force to do it anyway)",
				      t->units[unit].name, t->units[c].name);
		return -1;
	}
	return 0;
}

/*
 * The common frame of every operation: lock, read, check the generation,
 * let change() edit a copy, publish, audit.
 */
typedef int (*cg_change_fn)(struct cg_tables *t, const struct cg_tables *before,
			    const struct cg_op_opts *o, __u64 now, struct cg_errors *errs);

static int run_op(struct cg_dp *dp, const char *action, const struct cg_op_opts *o,
		  cg_change_fn change, const struct cg_config *cfg, struct cg_op_result *r,
		  struct cg_errors *errs)
{
	struct cg_tables *before = NULL, *t = NULL;
	double t0 = cg_mono_ms();
	__u64 now = cg_mono_ns();
	int nerr = errs->n, ret = -1;

	memset(r, 0, sizeof(*r));
	if (cg_dp_lock(dp)) {
		cg_errors_add(errs, "cannot lock %s: %s", dp->dir, strerror(errno));
		goto out;
	}
	if (cg_tables_alloc(&before, dp->bucket_slots) || cg_tables_alloc(&t, dp->bucket_slots) ||
	    cg_dp_read_active(dp, before)) {
		cg_errors_add(errs, "cannot read the live generation");
		goto out;
	}
	r->gen_before = r->gen_after = before->gen.generation;
	if (o->expect_generation && o->expect_generation != before->gen.generation) {
		cg_errors_add(errs,
			      "the live generation is %llu, not %llu: another writer got there first; read the state again and retry",
			      (unsigned long long)before->gen.generation,
			      (unsigned long long)o->expect_generation);
		goto out;
	}
	if (!cfg && !before->gen.generation) {
		cg_errors_add(errs, "nothing published yet; run `cellgate apply -f FILE` first");
		goto out;
	}
	if (cfg) {
		if (cg_build_tables(cfg, before, dp->info.ifindex, t, errs))
			goto out;
	} else {
		/* the live tables are the starting point */
		cg_dp_read_active(dp, t);
		expire_fences(t, now);
		expire_handovers(t, now);
		if (change(t, before, o, now, errs) || cg_tables_reassign(t, errs))
			goto out;
		if (o->fence_ms && fence_moved(t, before, o, now, r, errs))
			goto out;
	}
	cg_op_diff(before, t, r);
	r->build_ms = cg_mono_ms() - t0;
	if (!cfg && !r->moved && !r->fenced && !memcmp(t->units, before->units, sizeof(t->units)) &&
	    !memcmp(t->buckets, before->buckets, (size_t)t->buckets_used * sizeof(*t->buckets)) &&
	    !memcmp(t->fences, before->fences, sizeof(t->fences))) {
		r->noop = true;
		ret = 0;
		goto out;
	}
	if (o->dry_run) {
		ret = 0;
		goto out;
	}
	if (cg_publish(dp, t, errs))
		goto out;
	r->gen_after = t->gen.generation;
	r->published_ns = t->gen.published_ns;
	r->write_ms = dp->last_write_ms;
	r->swap_ms = dp->last_swap_ms;
	r->verify_ms = dp->last_verify_ms;
	ret = 0;
out:
	cg_dp_unlock(dp);
	if (!o->dry_run)
		cg_audit(instance_of(dp), action, o, r, errs->n > nerr ? errs : NULL, cg_mono_ms() - t0);
	cg_tables_free(before);
	cg_tables_free(t);
	return ret;
}

/* ---- the operations ---- */

static int change_evacuate(struct cg_tables *t, const struct cg_tables *before,
			   const struct cg_op_opts *o, __u64 now, struct cg_errors *errs)
{
	int unit = find_unit(t, o->scope.unit, errs), serving = 0;

	if (unit < 0)
		return -1;
	if (!whole_unit(&o->scope))
		return for_scope(t, &o->scope, unit, errs, mark_away, NULL);
	for (int i = 0; i < CG_MAX_UNITS; i++)
		serving += i != unit && t->units[i].state == CG_UNIT_SERVING;
	if (!serving) {
		cg_errors_add(errs, "%s is the last serving unit; refusing to evacuate it (fail static)",
			      o->scope.unit);
		return -1;
	}
	if (central_guard(t, unit, o, errs))
		return -1;
	t->units[unit].state = CG_UNIT_EVACUATED;
	t->units[unit].hold_until_ns = 0;
	if (!o->automatic)
		t->units[unit].flags |= CG_UNIT_F_MANUAL;
	return 0;
}

static int change_drain(struct cg_tables *t, const struct cg_tables *before,
			const struct cg_op_opts *o, __u64 now, struct cg_errors *errs)
{
	int unit = find_unit(t, o->scope.unit, errs), serving = 0;

	if (unit < 0)
		return -1;
	if (!whole_unit(&o->scope)) {
		__u64 end = o->deadline_ms ? now + o->deadline_ms * 1000000ull : 0;

		/* the unit keeps serving and its hold may be a running handover's
		 * (it stands in for a restored unit): only ever extend it */
		if (end > t->units[unit].hold_until_ns)
			t->units[unit].hold_until_ns = end;
		return for_scope(t, &o->scope, unit, errs, mark_away, (void *)1);
	}
	t->units[unit].hold_until_ns = o->deadline_ms ? now + o->deadline_ms * 1000000ull : 0;
	for (int i = 0; i < CG_MAX_UNITS; i++)
		serving += i != unit && t->units[i].state == CG_UNIT_SERVING;
	if (!serving) {
		cg_errors_add(errs, "%s is the last serving unit; refusing to drain it (fail static)",
			      o->scope.unit);
		return -1;
	}
	if (central_guard(t, unit, o, errs))
		return -1;
	t->units[unit].state = CG_UNIT_DRAINING;
	if (!o->automatic)
		t->units[unit].flags |= CG_UNIT_F_MANUAL;
	return 0;
}

static int change_restore(struct cg_tables *t, const struct cg_tables *before,
			  const struct cg_op_opts *o, __u64 now, struct cg_errors *errs)
{
	int unit = find_unit(t, o->scope.unit, errs);

	if (unit < 0)
		return -1;
	if (o->automatic && (t->units[unit].flags & CG_UNIT_F_MANUAL)) {
		cg_errors_add(errs, "%s was taken out by an operator; only a manual restore brings it back",
			      o->scope.unit);
		return -1;
	}
	if (whole_unit(&o->scope)) {
		t->units[unit].state = CG_UNIT_SERVING;
		t->units[unit].hold_until_ns = 0;
		if (!o->automatic)
			t->units[unit].flags &= ~CG_UNIT_F_MANUAL;
	}
	if (for_scope(t, &o->scope, unit, errs, mark_home, NULL) || cg_tables_reassign(t, errs))
		return -1;
	if (!o->deadline_ms)
		return 0;
	/* handover: established flows stay on the stand-in until the deadline */
	for (__u32 b = 0; b < t->buckets_used && b < before->buckets_used; b++) {
		__u16 from = before->buckets[b].unit;

		if (t->buckets[b].unit != unit || from == unit || from >= CG_MAX_UNITS ||
		    t->units[from].state != CG_UNIT_SERVING)
			continue;
		t->buckets[b].prev_unit = from;
		t->units[from].hold_until_ns = now + o->deadline_ms * 1000000ull;
	}
	return 0;
}

static int change_fence_release(struct cg_tables *t, const struct cg_tables *before,
				const struct cg_op_opts *o, __u64 now, struct cg_errors *errs)
{
	int unit = -1;

	if (o->scope.unit) {
		unit = find_unit(t, o->scope.unit, errs);
		if (unit < 0)
			return -1;
	}
	bool used[CG_MAX_FENCES] = {};

	/* a fence spans every unit its buckets moved to: release per bucket,
	 * then free the records no bucket uses any more */
	for (__u32 b = 0; b < t->buckets_used; b++) {
		struct cg_bucket *bk = &t->buckets[b];

		if (unit < 0 || bk->unit == unit)
			bk->fence = 0;
		else if (bk->fence < CG_MAX_FENCES)
			used[bk->fence] = true;
	}
	for (int i = 1; i < CG_MAX_FENCES; i++)
		if (!used[i])
			memset(&t->fences[i], 0, sizeof(t->fences[i]));
	return 0;
}

int cg_op_evacuate(struct cg_dp *dp, const struct cg_op_opts *o, struct cg_op_result *r,
		   struct cg_errors *errs)
{
	return run_op(dp, "evacuate", o, change_evacuate, NULL, r, errs);
}

int cg_op_drain(struct cg_dp *dp, const struct cg_op_opts *o, struct cg_op_result *r,
		struct cg_errors *errs)
{
	return run_op(dp, "drain", o, change_drain, NULL, r, errs);
}

int cg_op_restore(struct cg_dp *dp, const struct cg_op_opts *o, struct cg_op_result *r,
		  struct cg_errors *errs)
{
	return run_op(dp, "restore", o, change_restore, NULL, r, errs);
}

int cg_op_fence_release(struct cg_dp *dp, const struct cg_op_opts *o, struct cg_op_result *r,
			struct cg_errors *errs)
{
	return run_op(dp, "fence-release", o, change_fence_release, NULL, r, errs);
}

int cg_op_apply(struct cg_dp *dp, const struct cg_config *cfg, const struct cg_op_opts *o,
		struct cg_op_result *r, struct cg_errors *errs)
{
	return run_op(dp, "apply", o, NULL, cfg, r, errs);
}
