// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Load, attach and pin the steering and decap programs; unload them.
 * Everything lives under /sys/fs/bpf/cellgate/<instance>/ (docs/maps.md),
 * and the attachments are pinned links, so forwarding continues after
 * this process exits.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "decap.skel.h"
#include "steer.skel.h"
#include "dp.h"
#include "loader.h"
#include "log.h"

/* Not in Debian 12's UAPI headers; the kernel has had tcx since 6.6. */
#define CG_BPF_TCX_INGRESS 46

#define STEER_LINK "steer_link"
#define DECAP_LINK "decap_link"

const char *cg_mode_name(int mode)
{
	switch (mode) {
	case CG_MODE_NATIVE:
		return "native";
	case CG_MODE_GENERIC:
		return "generic";
	case CG_MODE_TCX:
		return "tcx";
	case CG_MODE_CLSACT:
		return "clsact";
	}
	return "none";
}

int cg_mode_parse(const char *s)
{
	if (!strcmp(s, "native"))
		return CG_MODE_NATIVE;
	if (!strcmp(s, "generic") || !strcmp(s, "skb"))
		return CG_MODE_GENERIC;
	if (!strcmp(s, "tc"))
		return CG_MODE_TCX; /* falls back to clsact where tcx is missing */
	return -1;
}

static int check_bpffs(void)
{
	struct statfs st;

	if (statfs("/sys/fs/bpf", &st) || st.f_type != BPF_FS_MAGIC) {
		cg_err("no BPF filesystem at /sys/fs/bpf; mount it: mount -t bpf bpf /sys/fs/bpf\n");
		return -ENOENT;
	}
	return 0;
}

static int make_instance_dir(const char *instance, char *dir, size_t len)
{
	if (cg_instance_dir(instance, dir, len)) {
		cg_err("invalid instance name \"%s\" (letters, digits, '.', '_', '-')\n", instance);
		return -EINVAL;
	}
	if (mkdir(CG_PIN_ROOT, 0700) && errno != EEXIST)
		goto fail;
	if (mkdir(dir, 0700) && errno != EEXIST)
		goto fail;
	/* pins give control of the dataplane: root only (DESIGN §3) */
	if (chmod(dir, 0700))
		goto fail;
	return 0;
fail:
	cg_err("cannot create %s: %s\n", dir, strerror(errno));
	return -errno;
}

static bool pin_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static int pin_fd(int fd, const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (bpf_obj_pin(fd, path)) {
		int err = -errno;

		cg_err("cannot pin %s: %s\n", path, cg_strerror(err));
		return err;
	}
	return 0;
}

static int set_pin_paths(struct bpf_object *obj, const char *dir)
{
	char path[PATH_MAX];
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		/* only our named maps: .rodata/.bss belong to one program load */
		if (!bpf_map__autocreate(map) || bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		if (bpf_map__set_pin_path(map, path))
			return -errno;
	}
	return 0;
}

/*
 * Attach prog_fd to ifindex in the given mode and pin the link as
 * dir/link_name. Fills info->mode (and the tc handle for clsact).
 */
static int attach(int prog_fd, int tc_prog_fd, int ifindex, const char *ifname, int mode,
		  const char *dir, const char *link_name, struct cg_info *info)
{
	LIBBPF_OPTS(bpf_link_create_opts, xopts);
	int fd, err;

	if (mode == CG_MODE_NATIVE || mode == CG_MODE_GENERIC) {
		xopts.flags = mode == CG_MODE_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &xopts);
		if (fd < 0) {
			err = -errno;
			if (err == -EBUSY || err == -EEXIST)
				cg_err("%s already has an XDP program (see `ip link show dev %s`); remove it or choose another --mode\n",
				       ifname, ifname);
			else if (err == -EOPNOTSUPP && mode == CG_MODE_NATIVE)
				cg_err("%s has no native XDP support; try --mode generic or --mode tc\n",
				       ifname);
			else
				cg_err("cannot attach XDP (%s) to %s: %s\n", cg_mode_name(mode), ifname,
				       cg_strerror(err));
			return err;
		}
	} else {
		fd = bpf_link_create(tc_prog_fd, ifindex, CG_BPF_TCX_INGRESS, NULL);
		if (fd < 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
			/* a kernel without tcx: a clsact filter, which is not a link */
			DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
					    .attach_point = BPF_TC_INGRESS);
			DECLARE_LIBBPF_OPTS(bpf_tc_opts, topts, .prog_fd = tc_prog_fd);

			err = bpf_tc_hook_create(&hook);
			if (err && err != -EEXIST) {
				cg_err("cannot create clsact on %s: %s\n", ifname, cg_strerror(err));
				return err;
			}
			err = bpf_tc_attach(&hook, &topts);
			if (err) {
				cg_err("cannot attach tc filter to %s: %s\n", ifname, cg_strerror(err));
				return err;
			}
			info->mode = CG_MODE_CLSACT;
			info->tc_handle = topts.handle;
			info->tc_priority = topts.priority;
			return 0;
		}
		if (fd < 0) {
			err = -errno;
			cg_err("cannot attach tcx ingress to %s: %s\n", ifname, cg_strerror(err));
			return err;
		}
	}
	info->mode = mode;
	err = pin_fd(fd, dir, link_name);
	close(fd); /* on failure this detaches again */
	return err;
}

static void detach_clsact(const struct cg_info *info)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = info->ifindex,
			    .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, topts, .handle = info->tc_handle,
			    .priority = info->tc_priority);

	bpf_tc_detach(&hook, &topts);
}

static void fill_info(struct cg_info *info, int ifindex, const char *ifname)
{
	info->layout = CG_LAYOUT_VERSION;
	info->ifindex = ifindex;
	info->loaded_ns = cg_real_ns();
	snprintf(info->ifname, sizeof(info->ifname), "%s", ifname);
}

static int resolve_dev(const char *dev)
{
	int ifindex = if_nametoindex(dev);

	if (!ifindex)
		cg_err("no interface \"%s\" in this network namespace\n", dev);
	return ifindex;
}

int cg_load_steer(const struct cg_load_opts *o)
{
	struct cg_info info = {};
	struct cg_steer *skel = NULL;
	char dir[CG_DIR_MAX];
	__u32 zero = 0;
	int ifindex, err;

	ifindex = resolve_dev(o->dev);
	if (!ifindex)
		return -ENODEV;
	err = check_bpffs();
	if (err)
		return err;
	err = make_instance_dir(o->instance, dir, sizeof(dir));
	if (err)
		return err;
	if (pin_exists(dir, "cg_info") || pin_exists(dir, STEER_LINK)) {
		cg_err("instance \"%s\" is already loaded (%s); run `cellgate -i %s unload` first\n",
		       o->instance, dir, o->instance);
		return -EEXIST;
	}

	skel = cg_steer__open();
	if (!skel) {
		err = -errno;
		cg_err("cannot open the steering object: %s\n", cg_strerror(err));
		return err;
	}
	bpf_map__set_autocreate(skel->maps.cg_gen_template, false);
	if (bpf_map__set_max_entries(skel->maps.cg_buckets, CG_BANKS * o->buckets) ||
	    bpf_map__set_max_entries(skel->maps.cg_flows, o->flows) || set_pin_paths(skel->obj, dir)) {
		err = -errno;
		cg_err("cannot size the maps: %s\n", cg_strerror(err));
		goto fail;
	}
	err = cg_steer__load(skel);
	if (err) {
		cg_err("the kernel refused the steering programs: %s (run with -v for the verifier log)\n",
		       cg_strerror(err));
		goto fail;
	}
	fill_info(&info, ifindex, o->dev);
	info.bucket_slots = o->buckets;
	info.flows = o->flows;
	err = attach(bpf_program__fd(skel->progs.cg_steer_xdp), bpf_program__fd(skel->progs.cg_steer_tc),
		     ifindex, o->dev, o->mode, dir, STEER_LINK, &info);
	if (err)
		goto fail;
	/* the attached program, for bpftool prog show pinned ... */
	err = pin_fd(bpf_program__fd(info.mode == CG_MODE_NATIVE || info.mode == CG_MODE_GENERIC ?
					     skel->progs.cg_steer_xdp :
					     skel->progs.cg_steer_tc),
		     dir, "steer_prog");
	if (err)
		goto fail_detach;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.cg_info), &zero, &info, BPF_ANY)) {
		err = -errno;
		cg_err("cannot write cg_info: %s\n", cg_strerror(err));
		goto fail_detach;
	}
	cg_steer__destroy(skel);
	return 0;

fail_detach:
	if (info.mode == CG_MODE_CLSACT)
		detach_clsact(&info);
fail:
	if (skel)
		bpf_object__unpin_maps(skel->obj, NULL);
	cg_steer__destroy(skel);
	cg_unload(o->instance, true);
	return err;
}

int cg_load_decap(const char *instance, const char *dev, int mode, const struct cg_decap_key *addrs,
		  int n_addrs)
{
	struct cg_info info = {};
	struct cg_decap *skel = NULL;
	char dir[CG_DIR_MAX];
	__u32 zero = 0, one = 1;
	int ifindex, err;

	ifindex = resolve_dev(dev);
	if (!ifindex)
		return -ENODEV;
	err = check_bpffs();
	if (err)
		return err;
	err = make_instance_dir(instance, dir, sizeof(dir));
	if (err)
		return err;
	if (pin_exists(dir, "cg_decap_info") || pin_exists(dir, DECAP_LINK)) {
		cg_err("decap of instance \"%s\" is already loaded; run `cellgate -i %s decap unload` first\n",
		       instance, instance);
		return -EEXIST;
	}
	skel = cg_decap__open();
	if (!skel) {
		err = -errno;
		cg_err("cannot open the decap object: %s\n", cg_strerror(err));
		return err;
	}
	err = set_pin_paths(skel->obj, dir);
	if (!err)
		err = cg_decap__load(skel);
	if (err) {
		cg_err("the kernel refused the decap programs: %s\n", cg_strerror(err));
		goto fail;
	}
	for (int i = 0; i < n_addrs; i++) {
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.cg_decap_addrs), &addrs[i], &one,
					BPF_ANY)) {
			err = -errno;
			cg_err("cannot add decap address: %s\n", cg_strerror(err));
			goto fail;
		}
	}
	fill_info(&info, ifindex, dev);
	err = attach(bpf_program__fd(skel->progs.cg_decap_xdp), bpf_program__fd(skel->progs.cg_decap_tc),
		     ifindex, dev, mode, dir, DECAP_LINK, &info);
	if (err)
		goto fail;
	err = pin_fd(bpf_program__fd(info.mode == CG_MODE_NATIVE || info.mode == CG_MODE_GENERIC ?
					     skel->progs.cg_decap_xdp :
					     skel->progs.cg_decap_tc),
		     dir, "decap_prog");
	if (err) {
		if (info.mode == CG_MODE_CLSACT)
			detach_clsact(&info);
		goto fail;
	}
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.cg_decap_info), &zero, &info, BPF_ANY)) {
		err = -errno;
		if (info.mode == CG_MODE_CLSACT)
			detach_clsact(&info);
		goto fail;
	}
	cg_decap__destroy(skel);
	return 0;
fail:
	if (skel)
		bpf_object__unpin_maps(skel->obj, NULL);
	cg_decap__destroy(skel);
	cg_unload(instance, true);
	return err;
}

/* Detach a clsact filter recorded in the pinned info map `name`. */
static void detach_recorded(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct cg_info info;
	__u32 zero = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	if (!bpf_map_lookup_elem(fd, &zero, &info) && info.mode == CG_MODE_CLSACT)
		detach_clsact(&info);
	close(fd);
}

static bool is_decap_pin(const char *name)
{
	return !strncmp(name, "cg_decap_", 9) || !strncmp(name, "decap_", 6);
}

static int remove_pins(const char *dir, bool decap_only)
{
	struct dirent *de;
	char path[PATH_MAX];
	int err = 0;
	DIR *d = opendir(dir);

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (decap_only && !is_decap_pin(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) && errno != ENOENT)
			err = -errno;
	}
	closedir(d);
	return err;
}

int cg_unload(const char *instance, bool quiet)
{
	char dir[CG_DIR_MAX];
	int err;

	if (cg_instance_dir(instance, dir, sizeof(dir))) {
		cg_err("invalid instance name \"%s\"\n", instance);
		return -EINVAL;
	}
	if (access(dir, F_OK)) {
		if (!quiet)
			cg_err("instance \"%s\" is not loaded (no %s)\n", instance, dir);
		return -ENOENT;
	}
	detach_recorded(dir, "cg_info");
	detach_recorded(dir, "cg_decap_info");
	/* removing the link pins detaches the programs */
	err = remove_pins(dir, false);
	if (!err && rmdir(dir))
		err = -errno;
	if (err && !quiet)
		cg_err("cannot remove %s: %s\n", dir, strerror(-err));
	return err;
}

int cg_unload_decap(const char *instance)
{
	char dir[CG_DIR_MAX];

	if (cg_instance_dir(instance, dir, sizeof(dir))) {
		cg_err("invalid instance name \"%s\"\n", instance);
		return -EINVAL;
	}
	if (!pin_exists(dir, "cg_decap_info")) {
		cg_err("no decap loaded in instance \"%s\"\n", instance);
		return -ENOENT;
	}
	detach_recorded(dir, "cg_decap_info");
	if (!pin_exists(dir, "cg_info"))
		return cg_unload(instance, false);
	/* the steering side of this instance stays */
	return remove_pins(dir, true);
}
