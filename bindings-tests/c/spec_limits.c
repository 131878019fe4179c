/* The scenarios of spec.tsv about a box's bounds (BoxInfo limits through the
 * boxlite_box_info_<limit> accessors, options as JSON; an exec the memory limit gets
 * OOM-killed), and the C check that an unknown option in that JSON is refused. */
#define _XOPEN_SOURCE 700

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The accessor of each whole-number limit, by its name in spec.tsv and the options JSON. */
static const struct {
    const char *name;
    uint64_t (*get)(const BoxliteBoxInfo *);
} LIMITS[] = {
    {"memory_mib", boxlite_box_info_memory_mib},
    {"pids_max", boxlite_box_info_pids_max},
    {"nofile_soft", boxlite_box_info_nofile_soft},
    {"nofile_hard", boxlite_box_info_nofile_hard},
    {"tmp_size_mib", boxlite_box_info_tmp_size_mib},
    {"log_max_size_mib", boxlite_box_info_log_max_size_mib},
    {"disk_size_gb", boxlite_box_info_disk_size_gb},
};

/* Checks that every parameter of the scenario is the limit the info reports; a scenario
 * without `cpus` wants no CPU limit. */
static int expect_limits(struct ctx *c, const BoxliteBoxInfo *info) {
    /* Run as root, every limit holds. */
    if (boxlite_box_info_not_enforced_count(info) != 0 ||
        boxlite_box_info_not_enforced(info, 0) != NULL) {
        return fail(c, "%zu limits not enforced (first: %s), want none",
                    boxlite_box_info_not_enforced_count(info),
                    boxlite_box_info_not_enforced(info, 0));
    }
    double cpus = 0;
    bool has_cpus = boxlite_box_info_cpus(info, &cpus);
    if (spec_param(c->sc, "cpus") == NULL && has_cpus) {
        return fail(c, "cpus is %g, want no CPU limit", cpus);
    }
    for (size_t i = 0; i < c->sc->n_params; i++) {
        const char *key = c->sc->params[i].key;
        const char *want = c->sc->params[i].value;
        if (strcmp(key, "cpus") == 0) {
            if (!has_cpus || cpus != strtod(want, NULL)) {
                return fail(c, "cpus is %s%g, want %s", has_cpus ? "" : "unset ", cpus, want);
            }
            continue;
        }
        uint64_t got;
        if (strcmp(key, "log_max_files") == 0) {
            got = boxlite_box_info_log_max_files(info);
        } else {
            size_t j = 0;
            while (j < sizeof LIMITS / sizeof LIMITS[0] && strcmp(LIMITS[j].name, key) != 0) {
                j++;
            }
            if (j == sizeof LIMITS / sizeof LIMITS[0]) {
                return fail(c, "no accessor for the limit %s", key);
            }
            got = LIMITS[j].get(info);
        }
        if (got != strtoull(want, NULL, 10)) {
            return fail(c, "%s is %llu, want %s", key, (unsigned long long)got, want);
        }
    }
    return 0;
}

/* Reads the info of `box` and checks its limits against the scenario's parameters. */
static int expect_box_limits(struct ctx *c, BoxliteBox *box) {
    BoxliteBoxInfo *info = NULL;
    BoxliteError *err = NULL;
    if (expect_ok(c, "boxlite_box_info", boxlite_box_info(box, &info, &err), &err)) {
        return 1;
    }
    int failed = expect_limits(c, info);
    boxlite_box_info_free(info);
    return failed;
}

int default_limits_reported(struct ctx *c) {
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    BoxliteError *err = NULL;
    int failed = open_runtime(c, &rt) ||
                 expect_ok(c, "boxlite_box_create",
                           boxlite_box_create(rt, c->spec->image, NULL, &box, &err), &err) ||
                 expect_box_limits(c, box);
    if (boxlite_box_info_memory_mib(NULL) != 0 || boxlite_box_info_cpus(NULL, NULL)) {
        failed = failed || fail(c, "a limit of a NULL info is not 0 / absent");
    }
    failed |= box_down(c, rt, box);
    boxlite_runtime_free(rt);
    return failed;
}

/* `{"image": IMAGE, KEY: VALUE, ...}` from the scenario's parameters (all numbers). */
static int options_json(struct ctx *c, const char *image, char *out, size_t cap) {
    size_t len = (size_t)snprintf(out, cap, "{\"image\": \"%s\"", image);
    for (size_t i = 0; i < c->sc->n_params && len < cap; i++) {
        len += (size_t)snprintf(out + len, cap - len, ", \"%s\": %s", c->sc->params[i].key,
                                c->sc->params[i].value);
    }
    if (len + 2 > cap) {
        return fail(c, "options JSON longer than %zu bytes", cap);
    }
    strcat(out, "}");
    return 0;
}

/* Opens a runtime, starts a box from `options`, checks it with `check` (NULL: no check),
 * runs `argv` in it into `cap` and `result`, and takes the box down again. */
int run_in_new_box(struct ctx *c, const char *options,
                   int (*check)(struct ctx *, BoxliteBox *), const char *const *argv,
                   struct capture *cap, BoxliteExecResult *result) {
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    BoxliteCommand *cmd = NULL;
    int failed = open_runtime(c, &rt) || box_up(c, rt, options, NULL, true, &box) ||
                 (check != NULL && check(c, box)) || command(c, &cmd, argv) ||
                 run_command(c, box, cmd, cap, result);
    boxlite_command_free(cmd);
    failed |= box_down(c, rt, box);
    boxlite_runtime_free(rt);
    return failed;
}

int limits_overridden_in_force(struct ctx *c) {
    const char *image, *soft, *hard, *tmp, *disk;
    if (run_image(c, &image) || param(c, "nofile_soft", &soft) ||
        param(c, "nofile_hard", &hard) || param(c, "tmp_size_mib", &tmp) ||
        param(c, "disk_size_gb", &disk)) {
        return 1;
    }
    char options[1024];
    if (options_json(c, image, options, sizeof options)) {
        return 1;
    }
    const char *const argv[] = {
        "sh", "-c", "ulimit -n; ulimit -Hn; df -m /tmp | tail -n 1; df -m / | tail -n 1", NULL};
    struct capture cap;
    capture_init(&cap);
    BoxliteExecResult result;
    int failed = run_in_new_box(c, options, expect_box_limits, argv, &cap, &result);
    if (!failed && result.exit_code != 0) {
        failed = fail(c, "the check exited %d: %s", result.exit_code, cap.err ? cap.err : "");
    }
    if (!failed) {
        unsigned long long got_soft = 0, got_hard = 0, got_tmp = 0, got_root = 0;
        char fs[64] = "", root_fs[64] = "";
        int n = sscanf(cap.out ? cap.out : "", "%llu %llu %63s %llu %*s %*s %*s %*s %63s %llu",
                       &got_soft, &got_hard, fs, &got_tmp, root_fs, &got_root);
        unsigned long long disk_mib = strtoull(disk, NULL, 10) * 1024;
        if (n != 6 || got_soft != strtoull(soft, NULL, 10) ||
            got_hard != strtoull(hard, NULL, 10) || strcmp(fs, "tmpfs") != 0 ||
            got_tmp != strtoull(tmp, NULL, 10) || got_root > disk_mib ||
            got_root * 10 <= disk_mib * 9) {
            failed = fail(c,
                          "the box printed \"%s\", want %s, %s, a tmpfs of %s MiB and a root of "
                          "at most %llu MiB",
                          cap.out ? cap.out : "", soft, hard, tmp, disk_mib);
        }
    }
    capture_free(&cap);
    return failed;
}

/* Runs argv in `box` and checks how it ended: `want_signal` (0: exited `want_code`) and
 * oom_killed `want_oom`. */
static int run_expect_end(struct ctx *c, BoxliteBox *box, const char *const *argv, int want_code,
                          int want_signal, bool want_oom) {
    BoxliteCommand *cmd = NULL;
    BoxliteExecResult result;
    int failed = command(c, &cmd, argv) || run_command(c, box, cmd, NULL, &result);
    if (!failed && (result.exit_code != want_code || result.signal != want_signal ||
                    result.oom_killed != want_oom)) {
        failed = fail(c, "`%s` ended with exit %d, signal %d, oom_killed %d; want %d, %d, %d",
                      argv[2], result.exit_code, result.signal, result.oom_killed, want_code,
                      want_signal, want_oom);
    }
    boxlite_command_free(cmd);
    return failed;
}

int exec_oom_killed(struct ctx *c) {
    const char *image, *memory_mib, *hog_mib;
    if (run_image(c, &image) || param(c, "memory_mib", &memory_mib) ||
        param(c, "hog_mib", &hog_mib)) {
        return 1;
    }
    char options[1024];
    snprintf(options, sizeof options, "{\"image\": \"%s\", \"memory_mib\": %s}", image,
             memory_mib);
    char hog[256];
    snprintf(hog, sizeof hog, "x=$(head -c %llu /dev/zero | tr '\\0' a); echo ${#x}",
             strtoull(hog_mib, NULL, 10) << 20);
    const char *const fine[] = {"sh", "-c", "echo fine", NULL};
    const char *const hogs[] = {"sh", "-c", hog, NULL};
    const char *const itself[] = {"sh", "-c", "kill -9 $$", NULL};
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    int failed = open_runtime(c, &rt) || box_up(c, rt, options, NULL, true, &box) ||
                 run_expect_end(c, box, fine, 0, 0, false) ||
                 run_expect_end(c, box, hogs, -1, 9, true) ||
                 run_expect_end(c, box, itself, -1, 9, false);
    failed |= box_down(c, rt, box);
    boxlite_runtime_free(rt);
    return failed;
}

/* Creates from `json` and wants the code `want` with a message holding each of `needles`
 * (NULL-terminated). */
int create_refused(struct ctx *c, BoxliteRuntime *rt, const char *json, const char *want,
                   const char *const *needles) {
    BoxliteBox *box = NULL;
    BoxliteError *err = NULL;
    BoxliteErrorCode code = boxlite_box_create_json(rt, json, NULL, &box, &err);
    const char *msg = boxlite_error_message(err);
    int failed = 0;
    for (const char *const *n = needles; *n != NULL && msg != NULL; n++) {
        if (strstr(msg, *n) == NULL) {
            failed = fail(c, "the error \"%s\" does not name %s", msg, *n);
        }
    }
    failed |= expect_code(c, "boxlite_box_create_json", code, &err, want);
    if (box != NULL) {
        failed = failed || fail(c, "a refused create wrote a box");
        boxlite_box_free(box);
    }
    return failed;
}

/* Checks that the home has no box. */
int expect_no_boxes(struct ctx *c, BoxliteRuntime *rt) {
    BoxliteBoxList *list = NULL;
    BoxliteError *err = NULL;
    if (expect_ok(c, "boxlite_box_list", boxlite_box_list(rt, &list, &err), &err)) {
        return 1;
    }
    size_t len = boxlite_box_list_len(list);
    boxlite_box_list_free(list);
    return len == 0 ? 0 : fail(c, "%zu boxes stored after refused creates", len);
}

int disk_size_gb_refused(struct ctx *c) {
    const char *gb, *want;
    if (param(c, "disk_size_gb", &gb) || param(c, "code", &want)) {
        return 1;
    }
    char json[512];
    snprintf(json, sizeof json, "{\"image\": \"%s\", \"disk_size_gb\": %s}", c->spec->image, gb);
    const char *const needles[] = {"disk_size_gb", NULL};
    BoxliteRuntime *rt = NULL;
    int failed = open_runtime(c, &rt) || create_refused(c, rt, json, want, needles) ||
                 expect_no_boxes(c, rt);
    boxlite_runtime_free(rt);
    return failed;
}

/* `list` ("a,b") as a JSON array of strings into `out` (at least 8 bytes); the names hold
 * no quote. A list too long for `out` is cut short, which the scenario then reports. */
static void json_names(const char *list, char *out, size_t size) {
    size_t n = 0;
    out[n++] = '[';
    out[n++] = '"';
    for (const char *p = list; *p != '\0' && n + 6 < size; p++) {
        if (*p == ',') {
            memcpy(out + n, "\",\"", 3);
            n += 3;
        } else {
            out[n++] = *p;
        }
    }
    out[n++] = '"';
    out[n++] = ']';
    out[n] = '\0';
}

int capabilities_in_force(struct ctx *c) {
    const char *image, *add, *drop, *eff;
    if (run_image(c, &image) || param(c, "cap_add", &add) || param(c, "cap_drop", &drop) ||
        param(c, "cap_eff", &eff)) {
        return 1;
    }
    char add_json[256], drop_json[256], options[1024], want[128];
    json_names(add, add_json, sizeof add_json);
    json_names(drop, drop_json, sizeof drop_json);
    snprintf(options, sizeof options, "{\"image\": \"%s\", \"cap_add\": %s, \"cap_drop\": %s}",
             image, add_json, drop_json);
    snprintf(want, sizeof want, "CapEff:\t%s\nCapBnd:\t%s\n", eff, eff);
    const char *const argv[] = {"sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status", NULL};
    struct capture cap;
    capture_init(&cap);
    BoxliteExecResult result;
    int failed = run_in_new_box(c, options, NULL, argv, &cap, &result);
    if (!failed && (result.exit_code != 0 || cap.out == NULL || strcmp(cap.out, want) != 0)) {
        failed = fail(c, "the box printed \"%s\" (exit %d), want \"%s\"",
                      cap.out ? cap.out : "", result.exit_code, want);
    }
    capture_free(&cap);
    return failed;
}

int capability_unknown_refused(struct ctx *c) {
    const char *name, *want;
    if (param(c, "cap_add", &name) || param(c, "code", &want)) {
        return 1;
    }
    char json[512];
    snprintf(json, sizeof json, "{\"image\": \"%s\", \"cap_add\": [\"%s\"]}", c->spec->image,
             name);
    const char *const needles[] = {"cap_add", name, NULL};
    BoxliteRuntime *rt = NULL;
    int failed = open_runtime(c, &rt) || create_refused(c, rt, json, want, needles) ||
                 expect_no_boxes(c, rt);
    boxlite_runtime_free(rt);
    return failed;
}

int c_unknown_option_is_invalid_argument(struct ctx *c) {
    /* Core keeps unknown fields of stored rows; from a caller one is a typo to refuse, on
     * create and on get_or_create of a box that already exists alike. */
    char json[512];
    snprintf(json, sizeof json, "{\"image\": \"%s\", \"memroy_mib\": 64}", c->spec->image);
    const char *const needles[] = {"options_json", "memroy_mib", NULL};
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL, *again = NULL;
    BoxliteError *err = NULL;
    int failed = open_runtime(c, &rt) ||
                 create_refused(c, rt, json, "invalid_argument", needles) ||
                 expect_no_boxes(c, rt) ||
                 expect_ok(c, "boxlite_box_create",
                           boxlite_box_create(rt, c->spec->image, "kept", &box, &err), &err);
    if (!failed) {
        BoxliteErrorCode code = boxlite_box_get_or_create(rt, json, "kept", &again, NULL, &err);
        const char *msg = boxlite_error_message(err);
        if (msg != NULL && strstr(msg, "memroy_mib") == NULL) {
            failed = fail(c, "get_or_create's error \"%s\" does not name memroy_mib", msg);
        }
        failed |= expect_code(c, "boxlite_box_get_or_create", code, &err, "invalid_argument");
    }
    boxlite_box_free(again);
    failed |= box_down(c, rt, box);
    boxlite_runtime_free(rt);
    return failed;
}

/* The info of `box` says `userns` and holds `want_warning` (NULL: no warning at all). */
static int expect_userns(struct ctx *c, BoxliteBox *box, const char *userns,
                         const char *want_warning) {
    BoxliteBoxInfo *info = NULL;
    BoxliteError *err = NULL;
    if (expect_ok(c, "boxlite_box_info", boxlite_box_info(box, &info, &err), &err)) {
        return 1;
    }
    int failed = 0;
    const char *got = boxlite_box_info_userns(info);
    size_t count = boxlite_box_info_warning_count(info);
    const char *first = boxlite_box_info_warning(info, 0);
    if (got == NULL || strcmp(got, userns) != 0) {
        failed = fail(c, "info userns is \"%s\", want \"%s\"", got ? got : "(null)", userns);
    } else if (want_warning == NULL && (count != 0 || first != NULL)) {
        failed = fail(c, "info has %zu warnings, want none: %s", count, first ? first : "");
    } else if (want_warning != NULL &&
               (count != 1 || first == NULL || strstr(first, want_warning) == NULL ||
                boxlite_box_info_warning(info, 1) != NULL)) {
        failed = fail(c, "info has %zu warnings (\"%s\"), want one with \"%s\"", count,
                      first ? first : "", want_warning);
    }
    boxlite_box_info_free(info);
    return failed;
}

static int expect_private_userns(struct ctx *c, BoxliteBox *box) {
    const char *userns;
    return param(c, "userns", &userns) || expect_userns(c, box, userns, NULL);
}

static int expect_host_userns(struct ctx *c, BoxliteBox *box) {
    const char *userns, *warning;
    return param(c, "userns", &userns) || param(c, "warning", &warning) ||
           expect_userns(c, box, userns, warning);
}

static const char *const UID_MAP_ARGV[] = {"cat", "/proc/self/uid_map", NULL};

int userns_private_by_default(struct ctx *c) {
    const char *image, *size;
    if (run_image(c, &image) || param(c, "size", &size)) {
        return 1;
    }
    char options[512];
    snprintf(options, sizeof options, "{\"image\": \"%s\"}", image);
    struct capture cap;
    capture_init(&cap);
    BoxliteExecResult result;
    int failed = run_in_new_box(c, options, expect_private_userns, UID_MAP_ARGV, &cap, &result);
    if (!failed) {
        unsigned long long inside = 1, host = 0, count = 0;
        int n = sscanf(cap.out ? cap.out : "", "%llu %llu %llu", &inside, &host, &count);
        if (result.exit_code != 0 || n != 3 || inside != 0 || host == 0 ||
            count != strtoull(size, NULL, 10)) {
            failed = fail(c, "uid_map in the box is \"%s\" (exit %d)", cap.out ? cap.out : "",
                          result.exit_code);
        }
    }
    capture_free(&cap);
    return failed;
}

int userns_host_is_loud(struct ctx *c) {
    const char *image, *userns, *uid_map, *code;
    if (run_image(c, &image) || param(c, "userns", &userns) || param(c, "uid_map", &uid_map) ||
        param(c, "code", &code)) {
        return 1;
    }
    char options[512];
    snprintf(options, sizeof options, "{\"image\": \"%s\", \"userns\": \"%s\"}", image, userns);
    struct capture cap;
    capture_init(&cap);
    BoxliteExecResult result;
    int failed = run_in_new_box(c, options, expect_host_userns, UID_MAP_ARGV, &cap, &result);
    if (!failed) {
        unsigned long long got[3] = {1, 1, 0}, want[3] = {0, 0, 0};
        int n = sscanf(cap.out ? cap.out : "", "%llu %llu %llu", &got[0], &got[1], &got[2]);
        int m = sscanf(uid_map, "%llu %llu %llu", &want[0], &want[1], &want[2]);
        if (result.exit_code != 0 || n != 3 || m != 3 || memcmp(got, want, sizeof got) != 0) {
            failed = fail(c, "uid_map in the box is \"%s\" (exit %d), want \"%s\"",
                          cap.out ? cap.out : "", result.exit_code, uid_map);
        }
    }
    capture_free(&cap);
    if (!failed) {
        char json[512];
        snprintf(json, sizeof json, "{\"image\": \"%s\", \"userns\": \"nobody\"}", c->spec->image);
        const char *const needles[] = {"userns", "nobody", NULL};
        BoxliteRuntime *rt = NULL;
        failed = open_runtime(c, &rt) || create_refused(c, rt, json, code, needles) ||
                 expect_no_boxes(c, rt);
        boxlite_runtime_free(rt);
    }
    return failed;
}

/* The box's info says `seccomp` and holds one warning, which contains the `warning` param. */
static int expect_seccomp(struct ctx *c, BoxliteBox *box, const char *seccomp) {
    const char *warning;
    if (param(c, "warning", &warning)) {
        return 1;
    }
    BoxliteBoxInfo *info = NULL;
    BoxliteError *err = NULL;
    if (expect_ok(c, "boxlite_box_info", boxlite_box_info(box, &info, &err), &err)) {
        return 1;
    }
    int failed = 0;
    const char *got = boxlite_box_info_seccomp(info);
    const char *first = boxlite_box_info_warning(info, 0);
    if (got == NULL || strcmp(got, seccomp) != 0) {
        failed = fail(c, "info seccomp is \"%s\", want \"%s\"", got ? got : "(null)", seccomp);
    } else if (boxlite_box_info_warning_count(info) != 1 || first == NULL ||
               strstr(first, warning) == NULL) {
        failed = fail(c, "info has %zu warnings (\"%s\"), want one with \"%s\"",
                      boxlite_box_info_warning_count(info), first ? first : "", warning);
    }
    boxlite_box_info_free(info);
    return failed;
}

static int expect_unconfined(struct ctx *c, BoxliteBox *box) {
    const char *seccomp;
    return param(c, "seccomp", &seccomp) || expect_seccomp(c, box, seccomp);
}

int seccomp_unconfined_is_loud(struct ctx *c) {
    const char *image, *seccomp, *mode, *profile, *code;
    if (run_image(c, &image) || param(c, "seccomp", &seccomp) || param(c, "mode", &mode) ||
        param(c, "profile", &profile) || param(c, "code", &code)) {
        return 1;
    }
    char options[512], want[64];
    snprintf(options, sizeof options, "{\"image\": \"%s\", \"seccomp\": \"%s\"}", image, seccomp);
    snprintf(want, sizeof want, "Seccomp:\t%s\n", mode);
    const char *const argv[] = {"grep", "Seccomp:", "/proc/self/status", NULL};
    struct capture cap;
    capture_init(&cap);
    BoxliteExecResult result;
    int failed = run_in_new_box(c, options, expect_unconfined, argv, &cap, &result);
    if (!failed && (result.exit_code != 0 || cap.out == NULL || strcmp(cap.out, want) != 0)) {
        failed = fail(c, "the box printed \"%s\" (exit %d), want \"%s\"", cap.out ? cap.out : "",
                      result.exit_code, want);
    }
    capture_free(&cap);
    if (!failed) {
        char json[512];
        snprintf(json, sizeof json, "{\"image\": \"%s\", \"seccomp\": \"%s\"}", c->spec->image,
                 profile);
        const char *const needles[] = {"seccomp", profile, NULL};
        BoxliteRuntime *rt = NULL;
        failed = open_runtime(c, &rt) || create_refused(c, rt, json, code, needles) ||
                 expect_no_boxes(c, rt);
        boxlite_runtime_free(rt);
    }
    return failed;
}

static int expect_profile(struct ctx *c, BoxliteBox *box) {
    return expect_seccomp(c, box, "profile");
}

int seccomp_profile_replaces_default(struct ctx *c) {
    const char *image, *profile, *said, *notify, *code;
    if (run_image(c, &image) || param(c, "profile", &profile) || param(c, "said", &said) ||
        param(c, "notify", &notify) || param(c, "code", &code)) {
        return 1;
    }
    /* The profile goes into the options JSON as the object it is. */
    char options[2048];
    snprintf(options, sizeof options, "{\"image\": \"%s\", \"seccomp\": %s}", image, profile);
    /* Exits 0 only when mkdir fails and the filter is on. */
    const char *const argv[] = {"sh", "-c", "mkdir /tmp/d || grep Seccomp: /proc/self/status",
                                NULL};
    struct capture cap;
    capture_init(&cap);
    BoxliteExecResult result;
    int failed = run_in_new_box(c, options, expect_profile, argv, &cap, &result);
    if (!failed && (result.exit_code != 0 || cap.out == NULL ||
                    strcmp(cap.out, "Seccomp:\t2\n") != 0 || cap.err == NULL ||
                    strstr(cap.err, said) == NULL)) {
        failed = fail(c, "the box printed \"%s\" / \"%s\" (exit %d), want \"Seccomp:\\t2\" and \"%s\"",
                      cap.out ? cap.out : "", cap.err ? cap.err : "", result.exit_code, said);
    }
    capture_free(&cap);
    if (!failed) {
        char json[1024];
        snprintf(json, sizeof json, "{\"image\": \"%s\", \"seccomp\": %s}", c->spec->image, notify);
        const char *const needles[] = {"SCMP_ACT_NOTIFY", NULL};
        BoxliteRuntime *rt = NULL;
        failed = open_runtime(c, &rt) || create_refused(c, rt, json, code, needles) ||
                 expect_no_boxes(c, rt);
        boxlite_runtime_free(rt);
    }
    return failed;
}
