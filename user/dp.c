// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The dataplane handle: the steering maps of one instance, the banks
 * mapped into memory, and the publish protocol (user/tables.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "dp.h"
#include "log.h"
#include "tables.h"

/* mmap strides must match the kernel's element size, round_up(value, 8) */
_Static_assert(sizeof(struct cg_bucket) % 8 == 0, "cg_bucket size");
_Static_assert(sizeof(struct cg_unit) % 8 == 0, "cg_unit size");
_Static_assert(sizeof(struct cg_endpoint) % 8 == 0, "cg_endpoint size");
_Static_assert(sizeof(struct cg_maglev_slot) % 8 == 0, "cg_maglev_slot size");
_Static_assert(sizeof(struct cg_svc_slot) % 8 == 0, "cg_svc_slot size");
_Static_assert(sizeof(struct cg_service) % 8 == 0, "cg_service size");
_Static_assert(sizeof(struct cg_fence) % 8 == 0, "cg_fence size");

static const char *const dp_map_names[CG_DP_NMAPS] = {
	[CG_DP_ROOT] = "cg_root",
	[CG_DP_SVC_INDEX] = "cg_svc_index",
	[CG_DP_SERVICES] = "cg_services",
	[CG_DP_BUCKETS] = "cg_buckets",
	[CG_DP_UNITS] = "cg_units",
	[CG_DP_ENDPOINTS] = "cg_endpoints",
	[CG_DP_MAGLEV] = "cg_maglev",
	[CG_DP_FLOWS] = "cg_flows",
	[CG_DP_TX_PORTS] = "cg_tx_ports",
	[CG_DP_UNIT_STATS] = "cg_unit_stats",
	[CG_DP_SERVICE_STATS] = "cg_service_stats",
	[CG_DP_ENDPOINT_STATS] = "cg_endpoint_stats",
	[CG_DP_REASONS] = "cg_reasons",
	[CG_DP_INFO] = "cg_info",
	[CG_DP_FENCES] = "cg_fences",
	[CG_DP_PINS4] = "cg_pins4",
	[CG_DP_PINS6] = "cg_pins6",
};

bool cg_instance_valid(const char *instance)
{
	size_t n = strlen(instance);

	/* a path component of our own: never "..", never hidden, no '/' */
	if (!n || n > CG_INSTANCE_MAX || instance[0] == '.' || instance[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = instance[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

int cg_instance_dir(const char *instance, char *buf, size_t len)
{
	int n;

	if (!cg_instance_valid(instance))
		return -EINVAL;
	n = snprintf(buf, len, "%s/%s", CG_PIN_ROOT, instance);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void *dp_mmap(int fd, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The object's BTF ids of struct cg_gen and __u32, to give every inner
 * generation map readable types in bpftool. */
static int dp_find_gen_btf(struct cg_dp *dp)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct btf *btf;
	int id, err;

	err = bpf_obj_get_info_by_fd(dp->fd[CG_DP_UNITS], &info, &len);
	if (err || !info.btf_id)
		return err ? -errno : -ENOENT;
	btf = btf__load_from_kernel_by_id(info.btf_id);
	if (!btf)
		return -errno;
	id = btf__find_by_name_kind(btf, "cg_gen", BTF_KIND_STRUCT);
	dp->gen_value_type = id > 0 ? id : 0;
	dp->gen_key_type = info.btf_key_type_id;
	btf__free(btf);
	dp->btf_fd = bpf_btf_get_fd_by_id(info.btf_id);
	if (dp->btf_fd < 0 || !dp->gen_value_type)
		return -ENOENT;
	return 0;
}

/* A pinned map from another build of cellgate must not be written through
 * a different struct layout. */
static int dp_check_sizes(struct cg_dp *dp)
{
	static const struct {
		int map;
		__u32 size;
	} want[] = {
		{ CG_DP_SVC_INDEX, sizeof(struct cg_svc_slot) },
		{ CG_DP_SERVICES, sizeof(struct cg_service) },
		{ CG_DP_BUCKETS, sizeof(struct cg_bucket) },
		{ CG_DP_UNITS, sizeof(struct cg_unit) },
		{ CG_DP_ENDPOINTS, sizeof(struct cg_endpoint) },
		{ CG_DP_MAGLEV, sizeof(struct cg_maglev_slot) },
		{ CG_DP_FENCES, sizeof(struct cg_fence) },
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(dp->fd[want[i].map], &info, &len))
			return -errno;
		if (info.value_size != want[i].size) {
			cg_err("%s has %u-byte values, this cellgate expects %u: unload and load again\n",
			       dp_map_names[want[i].map], info.value_size, want[i].size);
			return -EPROTO;
		}
	}
	return 0;
}

static int dp_finish(struct cg_dp *dp)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int err;

	err = dp_check_sizes(dp);
	if (err)
		return err;

	err = bpf_obj_get_info_by_fd(dp->fd[CG_DP_BUCKETS], &info, &len);
	if (err)
		return -errno;
	dp->bucket_slots = info.max_entries / CG_BANKS;
	dp->flows = 0;
	len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(dp->fd[CG_DP_FLOWS], &info, &len))
		dp->flows = info.max_entries;

	dp->buckets_len = (size_t)dp->bucket_slots * CG_BANKS * sizeof(struct cg_bucket);
	dp->units_len = (size_t)CG_BANKS * CG_MAX_UNITS * sizeof(struct cg_unit);
	dp->endpoints_len = (size_t)CG_BANKS * CG_MAX_ENDPOINTS * sizeof(struct cg_endpoint);
	dp->maglev_len = (size_t)CG_BANKS * CG_MAX_UNITS * CG_MAGLEV_SIZE *
			 sizeof(struct cg_maglev_slot);
	dp->svc_index_len = (size_t)CG_BANKS * CG_SVC_SLOTS * sizeof(struct cg_svc_slot);
	dp->services_len = (size_t)CG_BANKS * CG_MAX_SERVICES * sizeof(struct cg_service);
	dp->fences_len = (size_t)CG_BANKS * CG_MAX_FENCES * sizeof(struct cg_fence);
	dp->fences = dp_mmap(dp->fd[CG_DP_FENCES], dp->fences_len);
	dp->svc_index = dp_mmap(dp->fd[CG_DP_SVC_INDEX], dp->svc_index_len);
	dp->services = dp_mmap(dp->fd[CG_DP_SERVICES], dp->services_len);
	dp->buckets = dp_mmap(dp->fd[CG_DP_BUCKETS], dp->buckets_len);
	dp->units = dp_mmap(dp->fd[CG_DP_UNITS], dp->units_len);
	dp->endpoints = dp_mmap(dp->fd[CG_DP_ENDPOINTS], dp->endpoints_len);
	dp->maglev = dp_mmap(dp->fd[CG_DP_MAGLEV], dp->maglev_len);
	if (!dp->buckets || !dp->units || !dp->endpoints || !dp->maglev || !dp->svc_index ||
	    !dp->services || !dp->fences)
		return -errno;
	return dp_find_gen_btf(dp);
}

static struct cg_dp *dp_new(void)
{
	struct cg_dp *dp = calloc(1, sizeof(*dp));

	if (!dp)
		return NULL;
	for (int i = 0; i < CG_DP_NMAPS; i++)
		dp->fd[i] = -1;
	dp->btf_fd = -1;
	dp->dir_fd = -1;
	return dp;
}

int cg_dp_open_pinned(const char *instance, struct cg_dp **out)
{
	char path[PATH_MAX];
	struct cg_dp *dp;
	int err;

	dp = dp_new();
	if (!dp)
		return -ENOMEM;
	err = cg_instance_dir(instance, dp->dir, sizeof(dp->dir));
	if (err)
		goto fail;
	for (int i = 0; i < CG_DP_NMAPS; i++) {
		snprintf(path, sizeof(path), "%s/%s", dp->dir, dp_map_names[i]);
		dp->fd[i] = bpf_obj_get(path);
		if (dp->fd[i] < 0) {
			err = -errno;
			if (err == -ENOENT)
				cg_err("instance \"%s\" is not loaded (no %s); run `cellgate -i %s load --dev IFACE` first\n",
				       instance, path, instance);
			else
				cg_err("cannot open %s: %s\n", path, cg_strerror(err));
			goto fail;
		}
	}
	err = cg_dp_read_info(dp, &dp->info);
	if (err)
		goto fail;
	if (dp->info.layout != CG_LAYOUT_VERSION) {
		cg_err("instance \"%s\" was loaded with map layout %u, this cellgate uses %u; run `cellgate -i %s unload` and load again\n",
		       instance, dp->info.layout, CG_LAYOUT_VERSION, instance);
		err = -EPROTO;
		goto fail;
	}
	err = dp_finish(dp);
	if (err) {
		cg_err("cannot map the tables of instance \"%s\": %s\n", instance, cg_strerror(err));
		goto fail;
	}
	dp->pinned = true;
	*out = dp;
	return 0;
fail:
	cg_dp_close(dp);
	return err;
}

int cg_dp_from_object(struct bpf_object *obj, struct cg_dp **out)
{
	struct cg_dp *dp = dp_new();
	int err;

	if (!dp)
		return -ENOMEM;
	for (int i = 0; i < CG_DP_NMAPS; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, dp_map_names[i]);

		dp->fd[i] = m ? dup(bpf_map__fd(m)) : -1;
		if (dp->fd[i] < 0) {
			err = -ENOENT;
			goto fail;
		}
	}
	err = dp_finish(dp);
	if (err)
		goto fail;
	*out = dp;
	return 0;
fail:
	cg_dp_close(dp);
	return err;
}

void cg_dp_close(struct cg_dp *dp)
{
	if (!dp)
		return;
	if (dp->buckets)
		munmap(dp->buckets, dp->buckets_len);
	if (dp->units)
		munmap(dp->units, dp->units_len);
	if (dp->endpoints)
		munmap(dp->endpoints, dp->endpoints_len);
	if (dp->maglev)
		munmap(dp->maglev, dp->maglev_len);
	if (dp->svc_index)
		munmap(dp->svc_index, dp->svc_index_len);
	if (dp->services)
		munmap(dp->services, dp->services_len);
	if (dp->fences)
		munmap(dp->fences, dp->fences_len);
	for (int i = 0; i < CG_DP_NMAPS; i++)
		if (dp->fd[i] >= 0)
			close(dp->fd[i]);
	if (dp->btf_fd >= 0)
		close(dp->btf_fd);
	if (dp->dir_fd >= 0)
		close(dp->dir_fd);
	free(dp);
}

int cg_dp_map_fd(struct cg_dp *dp, const char *name)
{
	for (int i = 0; i < CG_DP_NMAPS; i++)
		if (!strcmp(dp_map_names[i], name))
			return dp->fd[i];
	return -1;
}

/* One entry of a per-CPU array, summed over all possible CPUs (vsize: a
 * multiple of 8, all __u64 fields). */
int cg_percpu_sum(int fd, __u32 key, size_t vsize, __u64 *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t words = (vsize + 7) / 8;
	__u64 *buf;

	if (ncpu <= 0)
		return -EINVAL;
	buf = calloc((size_t)ncpu * words, sizeof(__u64));
	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, buf)) {
		free(buf);
		return -errno;
	}
	memset(sum, 0, words * 8);
	for (int c = 0; c < ncpu; c++)
		for (size_t w = 0; w < vsize / 8; w++)
			sum[w] += buf[(size_t)c * words + w];
	free(buf);
	return 0;
}

int cg_dp_read_info(struct cg_dp *dp, struct cg_info *info)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->fd[CG_DP_INFO], &zero, info))
		return -errno;
	return 0;
}

int cg_dp_lock(struct cg_dp *dp)
{
	/* flock on the pin directory: held until the process exits or closes it */
	if (!dp->pinned || dp->dir_fd >= 0)
		return 0;
	dp->dir_fd = open(dp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dp->dir_fd < 0)
		return -errno;
	if (flock(dp->dir_fd, LOCK_EX | LOCK_NB)) {
		if (errno != EWOULDBLOCK)
			return -errno;
		cg_info("waiting for another writer of %s\n", dp->dir);
		if (flock(dp->dir_fd, LOCK_EX))
			return -errno;
	}
	return 0;
}

void cg_dp_unlock(struct cg_dp *dp)
{
	if (dp->dir_fd >= 0) {
		close(dp->dir_fd); /* releases the flock */
		dp->dir_fd = -1;
	}
}

/* The live generation, or generation 0 when nothing is published. */
int cg_dp_read_gen(struct cg_dp *dp, struct cg_gen *gen)
{
	__u32 zero = 0, id;
	int fd, err = 0;

	memset(gen, 0, sizeof(*gen));
	if (bpf_map_lookup_elem(dp->fd[CG_DP_ROOT], &zero, &id))
		return errno == ENOENT ? 0 : -errno;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	if (bpf_map_lookup_elem(fd, &zero, gen))
		err = -errno;
	close(fd);
	return err;
}

/* Services of one bank; their keys come back from the index. */
static int dp_read_services(struct cg_dp *dp, __u32 bank, struct cg_tables *t)
{
	const struct cg_svc_slot *idx = dp->svc_index + (size_t)bank * CG_SVC_SLOTS;
	int n = 0;

	memcpy(t->svc_index, idx, sizeof(t->svc_index));
	memcpy(t->services, dp->services + (size_t)bank * CG_MAX_SERVICES, sizeof(t->services));
	for (int i = 0; i < CG_SVC_SLOTS; i++) {
		if (idx[i].key.family == CG_AF_NONE || idx[i].service == CG_SVC_VIP)
			continue;
		if (idx[i].service >= CG_MAX_SERVICES)
			return -EUCLEAN;
		t->svc_keys[idx[i].service] = idx[i].key;
		n++;
	}
	t->n_services = n;
	return 0;
}

/* Pins of one bank, sorted as the builder sorts them (by key). */
static int cmp_pin4(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct cg_pin4_key));
}

static int cmp_pin6(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct cg_pin6_key));
}

static int dp_read_pins(struct cg_dp *dp, __u32 bank, struct cg_tables *t)
{
	struct cg_pin4_key k4, n4;
	struct cg_pin6_key k6, n6;
	void *prev = NULL;
	int fd = dp->fd[CG_DP_PINS4];

	t->n_pins4 = t->n_pins6 = 0;
	while (!bpf_map_get_next_key(fd, prev, &n4)) {
		k4 = n4;
		prev = &k4;
		if (n4.bank != bank || t->n_pins4 >= CG_MAX_PINS)
			continue;
		n4.bank = 0;
		t->pins4[t->n_pins4++] = n4;
	}
	qsort(t->pins4, t->n_pins4, sizeof(t->pins4[0]), cmp_pin4);
	for (int i = 0; i < t->n_pins4; i++) {
		k4 = t->pins4[i];
		k4.bank = bank;
		if (bpf_map_lookup_elem(fd, &k4, &t->pins4_val[i]))
			return -errno;
	}
	fd = dp->fd[CG_DP_PINS6];
	prev = NULL;
	while (!bpf_map_get_next_key(fd, prev, &n6)) {
		k6 = n6;
		prev = &k6;
		if (n6.bank != bank || t->n_pins6 >= CG_MAX_PINS)
			continue;
		n6.bank = 0;
		t->pins6[t->n_pins6++] = n6;
	}
	qsort(t->pins6, t->n_pins6, sizeof(t->pins6[0]), cmp_pin6);
	for (int i = 0; i < t->n_pins6; i++) {
		k6 = t->pins6[i];
		k6.bank = bank;
		if (bpf_map_lookup_elem(fd, &k6, &t->pins6_val[i]))
			return -errno;
	}
	return 0;
}

/* Replace the pins of the free bank with t's. */
static int dp_write_pins(struct cg_dp *dp, __u32 bank, const struct cg_tables *t,
			 struct cg_errors *errs)
{
	static struct cg_pin4_key stale4[CG_MAX_PINS];
	static struct cg_pin6_key stale6[CG_MAX_PINS];
	struct cg_pin4_key k4, n4;
	struct cg_pin6_key k6, n6;
	int fd4 = dp->fd[CG_DP_PINS4], fd6 = dp->fd[CG_DP_PINS6], n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd4, prev, &n4)) {
		k4 = n4;
		prev = &k4;
		if (n4.bank == bank && n < CG_MAX_PINS)
			stale4[n++] = n4;
	}
	for (int i = 0; i < n; i++)
		bpf_map_delete_elem(fd4, &stale4[i]);
	n = 0;
	prev = NULL;
	while (!bpf_map_get_next_key(fd6, prev, &n6)) {
		k6 = n6;
		prev = &k6;
		if (n6.bank == bank && n < CG_MAX_PINS)
			stale6[n++] = n6;
	}
	for (int i = 0; i < n; i++)
		bpf_map_delete_elem(fd6, &stale6[i]);
	for (int i = 0; i < t->n_pins4; i++) {
		k4 = t->pins4[i];
		k4.bank = bank;
		if (bpf_map_update_elem(fd4, &k4, &t->pins4_val[i], BPF_ANY))
			goto fail;
	}
	for (int i = 0; i < t->n_pins6; i++) {
		k6 = t->pins6[i];
		k6.bank = bank;
		if (bpf_map_update_elem(fd6, &k6, &t->pins6_val[i], BPF_ANY))
			goto fail;
	}
	return 0;
fail:
	cg_errors_add(errs, "cannot write the source-prefix pins: %s", cg_strerror(-errno));
	return -1;
}

static __u32 services_buckets_used(const struct cg_service *svcs, int n)
{
	__u32 used = 0;

	for (int i = 0; i < n; i++)
		if (svcs[i].kind == CG_KIND_CORE && svcs[i].bucket_base + svcs[i].modulo > used)
			used = svcs[i].bucket_base + svcs[i].modulo;
	return used;
}

int cg_dp_read_active(struct cg_dp *dp, struct cg_tables *t)
{
	const struct cg_maglev_slot *mg;
	struct cg_gen gen;
	__u32 bank;
	int err;

	err = cg_dp_read_gen(dp, &gen);
	if (err)
		return err;
	t->gen = gen;
	if (!gen.generation)
		return 0;
	bank = gen.bank & 1;
	if (t->bucket_slots != dp->bucket_slots)
		return -EINVAL;
	err = dp_read_services(dp, bank, t);
	if (err)
		return err;
	t->buckets_used = services_buckets_used(t->services, t->n_services);
	if (t->buckets_used > dp->bucket_slots)
		return -EUCLEAN;
	/* only what the generation uses: the rest of a bank is never read */
	memcpy(t->buckets, dp->buckets + (size_t)bank * dp->bucket_slots,
	       (size_t)t->buckets_used * sizeof(*t->buckets));
	memcpy(t->units, dp->units + (size_t)bank * CG_MAX_UNITS, sizeof(t->units));
	memcpy(t->endpoints, dp->endpoints + (size_t)bank * CG_MAX_ENDPOINTS,
	       sizeof(t->endpoints));
	mg = dp->maglev + (size_t)bank * CG_MAX_UNITS * CG_MAGLEV_SIZE;
	for (int u = 0; u < CG_MAX_UNITS; u++)
		if (t->units[u].state != CG_UNIT_UNUSED)
			memcpy(t->maglev + (size_t)u * CG_MAGLEV_SIZE, mg + (size_t)u * CG_MAGLEV_SIZE,
			       CG_MAGLEV_SIZE * sizeof(*mg));
	memcpy(t->fences, dp->fences + (size_t)bank * CG_MAX_FENCES, sizeof(t->fences));
	return dp_read_pins(dp, bank, t);
}

/* Hash of the bank as packets see it, straight from the mapped maps. */
static int dp_hash_bank(struct cg_dp *dp, const struct cg_gen *gen, __u64 *hash)
{
	static struct cg_service_key keys[CG_MAX_SERVICES];
	static struct cg_tables pins; /* only the pin arrays are used */
	__u32 bank = gen->bank & 1;
	const struct cg_svc_slot *idx = dp->svc_index + (size_t)bank * CG_SVC_SLOTS;
	const struct cg_service *svcs = dp->services + (size_t)bank * CG_MAX_SERVICES;
	struct cg_bank_view v = {
		.gen = gen,
		.svc_keys = keys,
		.services = svcs,
		.buckets = dp->buckets + (size_t)bank * dp->bucket_slots,
		.units = dp->units + (size_t)bank * CG_MAX_UNITS,
		.endpoints = dp->endpoints + (size_t)bank * CG_MAX_ENDPOINTS,
		.maglev = dp->maglev + (size_t)bank * CG_MAX_UNITS * CG_MAGLEV_SIZE,
	};

	for (int i = 0; i < CG_SVC_SLOTS; i++) {
		if (idx[i].key.family == CG_AF_NONE || idx[i].service == CG_SVC_VIP)
			continue;
		if (idx[i].service >= CG_MAX_SERVICES)
			return -EUCLEAN;
		keys[idx[i].service] = idx[i].key;
		v.n_services++;
	}
	v.buckets_used = services_buckets_used(svcs, v.n_services);
	if (v.buckets_used > dp->bucket_slots)
		return -EUCLEAN;
	v.fences = dp->fences + (size_t)bank * CG_MAX_FENCES;
	if (dp_read_pins(dp, bank, &pins))
		return -EIO;
	v.n_pins4 = pins.n_pins4;
	v.pins4 = pins.pins4;
	v.pins4_val = pins.pins4_val;
	v.n_pins6 = pins.n_pins6;
	v.pins6 = pins.pins6;
	v.pins6_val = pins.pins6_val;
	*hash = cg_bank_hash(&v);
	return 0;
}

/* Egress interface of an endpoint that leaves by redirect, or 0. */
static __u32 tx_port(const struct cg_endpoint *ep)
{
	if (ep->family == CG_AF_NONE || (ep->flags & CG_EP_F_XDP_TX))
		return 0;
	return ep->ifindex;
}

static int dp_write_tx_ports(struct cg_dp *dp, const struct cg_tables *t, struct cg_errors *errs)
{
	for (int i = 0; i < CG_MAX_ENDPOINTS; i++) {
		__u32 ifindex = tx_port(&t->endpoints[i]);

		if (!ifindex)
			continue;
		if (bpf_map_update_elem(dp->fd[CG_DP_TX_PORTS], &ifindex, &ifindex, BPF_ANY)) {
			char name[IF_NAMESIZE];

			/* An interface that went away (its namespace deleted, a NIC
			 * unplugged) cannot be a redirect target, and packets to it
			 * are dropped either way; it must not block the publish
			 * that moves traffic off it. */
			if (!if_indextoname(ifindex, name) && errno == ENXIO)
				continue;
			cg_errors_add(errs, "cannot add interface %u to cg_tx_ports: %s", ifindex,
				      cg_strerror(-errno));
			return -1;
		}
	}
	return 0;
}

/* Drop egress ports the live generation no longer uses. Safe only after
 * the publish returned: no packet reads the old bank any more. */
static void dp_prune_tx_ports(struct cg_dp *dp, const struct cg_tables *t)
{
	__u32 key, next, stale[64];
	int n = 0, fd = dp->fd[CG_DP_TX_PORTS];
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next) && n < 64) {
		bool used = false;

		key = next;
		prev = &key;
		for (int i = 0; i < CG_MAX_ENDPOINTS && !used; i++)
			used = tx_port(&t->endpoints[i]) == next;
		if (!used)
			stale[n++] = next;
	}
	for (int i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &stale[i]);
}

static int dp_new_gen_map(struct cg_dp *dp, const struct cg_gen *gen)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .btf_fd = dp->btf_fd,
		    .btf_key_type_id = dp->gen_key_type, .btf_value_type_id = dp->gen_value_type);
	__u32 zero = 0;
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "cg_gen", sizeof(__u32), sizeof(*gen), 1, &opts);
	if (fd < 0)
		return -errno;
	if (bpf_map_update_elem(fd, &zero, gen, BPF_ANY)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int cg_publish(struct cg_dp *dp, struct cg_tables *t, struct cg_errors *errs)
{
	struct cg_gen cur, gen, check;
	struct cg_maglev_slot *mg;
	char path[PATH_MAX];
	__u64 hash = 0;
	double t0, t1;
	__u32 bank, zero = 0;
	int fd, err;

	if (t->bucket_slots != dp->bucket_slots || t->buckets_used > dp->bucket_slots) {
		cg_errors_add(errs, "generation needs %u bucket entries, the instance has %u per bank (load with --buckets)",
			      t->buckets_used, dp->bucket_slots);
		return -1;
	}
	err = cg_dp_read_gen(dp, &cur);
	if (err) {
		cg_errors_add(errs, "cannot read the live generation: %s", cg_strerror(err));
		return -1;
	}
	bank = cur.generation ? !(cur.bank & 1) : 0;
	t0 = cg_mono_ms();

	/* no packet reads this bank: plain stores are fine */
	memcpy(dp->buckets + (size_t)bank * dp->bucket_slots, t->buckets,
	       (size_t)t->buckets_used * sizeof(*t->buckets));
	memcpy(dp->units + (size_t)bank * CG_MAX_UNITS, t->units, sizeof(t->units));
	memcpy(dp->endpoints + (size_t)bank * CG_MAX_ENDPOINTS, t->endpoints, sizeof(t->endpoints));
	mg = dp->maglev + (size_t)bank * CG_MAX_UNITS * CG_MAGLEV_SIZE;
	for (int u = 0; u < CG_MAX_UNITS; u++)
		if (t->units[u].state != CG_UNIT_UNUSED)
			memcpy(mg + (size_t)u * CG_MAGLEV_SIZE, t->maglev + (size_t)u * CG_MAGLEV_SIZE,
			       CG_MAGLEV_SIZE * sizeof(*mg));
	memcpy(dp->svc_index + (size_t)bank * CG_SVC_SLOTS, t->svc_index, sizeof(t->svc_index));
	memcpy(dp->services + (size_t)bank * CG_MAX_SERVICES, t->services, sizeof(t->services));
	memcpy(dp->fences + (size_t)bank * CG_MAX_FENCES, t->fences, sizeof(t->fences));
	if (dp_write_pins(dp, bank, t, errs) || dp_write_tx_ports(dp, t, errs))
		return -1;

	gen = t->gen;
	gen.layout = CG_LAYOUT_VERSION;
	gen.bank = bank;
	gen.generation = cur.generation + 1;
	gen.bucket_slots = dp->bucket_slots;
	gen.hash = cg_tables_hash(t);
	gen.published_ns = cg_real_ns();

	fd = dp_new_gen_map(dp, &gen);
	if (fd < 0) {
		cg_errors_add(errs, "cannot create the generation map: %s", cg_strerror(fd));
		return -1;
	}
	t1 = cg_mono_ms();
	dp->last_write_ms = t1 - t0;
	/* The publish: one pointer swap. The kernel waits for running programs
	 * before returning, so from here on no packet reads the old bank. */
	if (bpf_map_update_elem(dp->fd[CG_DP_ROOT], &zero, &fd, BPF_ANY)) {
		cg_errors_add(errs, "cannot publish generation %llu: %s",
			      (unsigned long long)gen.generation, cg_strerror(-errno));
		close(fd);
		return -1;
	}
	t0 = cg_mono_ms();
	dp->last_swap_ms = t0 - t1;
	t->gen = gen;
	if (dp->pinned) {
		/* bpftool's view of the live generation; the swap above is what counts */
		snprintf(path, sizeof(path), "%s/%s", dp->dir, CG_GEN_PIN);
		unlink(path);
		if (bpf_obj_pin(fd, path))
			cg_warn("cannot pin %s: %s\n", path, cg_strerror(-errno));
	}
	close(fd);
	dp_prune_tx_ports(dp, t);

	/* Verify: what packets now see is what we built. */
	err = cg_dp_read_gen(dp, &check);
	if (!err && (check.generation != gen.generation || check.hash != gen.hash))
		err = -ESTALE;
	if (!err)
		err = dp_hash_bank(dp, &check, &hash);
	if (!err && hash != gen.hash)
		err = -EIO;
	dp->last_verify_ms = cg_mono_ms() - t0;
	if (err) {
		cg_errors_add(errs, "generation %llu published but read-back differs: %s",
			      (unsigned long long)gen.generation, cg_strerror(err));
		return -1;
	}
	return 0;
}
