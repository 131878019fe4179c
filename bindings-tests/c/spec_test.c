/* The C suite of bindings-tests/spec.tsv: one function per scenario id, run against the real
 * libboxlite. Usage: spec_test SPEC.tsv. Prints `ok ID` or `FAILED ID: why` per scenario and,
 * as the last line, `N passed, N failed`; exits non-zero when anything failed.
 *
 * Every scenario gets its own temporary home, removed afterwards, and frees everything it gets
 * from the library: CI runs this under valgrind with definite and indirect leaks as errors. */
#define _XOPEN_SOURCE 700 /* posix_spawn, waitpid */

#include <boxlite.h>

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"
#include "spec.h"

extern char **environ;

#define DEFAULT_TESTKIT "target/x86_64-unknown-linux-gnu/debug/boxlite-testkit"

/* Creates a record-only box from the spec's image (never started); `*box` is owned by the
 * caller on success. */
static int create_box(struct ctx *c, BoxliteRuntime *rt, const char *name, BoxliteBox **box) {
    if (c->spec->image == NULL) {
        return fail(c, "spec has no image line");
    }
    BoxliteError *err = NULL;
    BoxliteErrorCode code = boxlite_box_create(rt, c->spec->image, name, box, &err);
    return expect_ok(c, "boxlite_box_create", code, &err);
}

/* ---- scenarios, named as in spec.tsv ---- */

static int create_is_configured(struct ctx *c) {
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    BoxliteBoxInfo *info = NULL;
    BoxliteError *err = NULL;
    int failed = open_runtime(c, &rt) || create_box(c, rt, NULL, &box) ||
                 expect_ok(c, "boxlite_box_get_info",
                           boxlite_box_get_info(rt, boxlite_box_id(box), &info, &err), &err);
    const char *id = boxlite_box_id(box);
    if (!failed && info == NULL) {
        failed = fail(c, "boxlite_box_get_info does not find the box just created");
    } else if (!failed) {
        const char *status = boxlite_box_info_status(info);
        if (status == NULL || strcmp(status, "configured") != 0) {
            failed = fail(c, "status is %s, want configured", status ? status : "NULL");
        } else if (strcmp(boxlite_box_info_id(info), id) != 0) {
            failed = fail(c, "info id %s differs from created id %s", boxlite_box_info_id(info), id);
        } else if (strcmp(boxlite_box_info_image(info), c->spec->image) != 0) {
            failed = fail(c, "image is %s, want %s", boxlite_box_info_image(info), c->spec->image);
        } else if (boxlite_box_info_name(info) != NULL || boxlite_box_info_error_reason(info) != NULL ||
                   boxlite_box_name(box) != NULL) {
            failed = fail(c, "an unnamed, new box reports a name or an error reason");
        }
    }
    boxlite_box_info_free(info);
    boxlite_box_free(box);
    boxlite_runtime_free(rt);
    return failed;
}

static int status_names_match_core(struct ctx *c) {
    size_t count = boxlite_status_count();
    if (count != c->spec->n_statuses) {
        return fail(c, "boxlite_status_count() is %zu, spec lists %zu", count, c->spec->n_statuses);
    }
    for (size_t i = 0; i < count; i++) {
        const char *name = boxlite_status_name(i);
        if (name == NULL || strcmp(name, c->spec->statuses[i]) != 0) {
            return fail(c, "status %zu is %s, spec says %s", i, name ? name : "NULL",
                        c->spec->statuses[i]);
        }
    }
    if (boxlite_status_name(count) != NULL) {
        return fail(c, "boxlite_status_name(count) is not NULL");
    }
    return 0;
}

/* The header's constants, each with the name the library must give it: checks that the
 * numbering in boxlite.h and the library agree, not only the library with the spec. */
static const struct {
    BoxliteErrorCode code;
    const char *name;
} HEADER_CODES[] = {
    {BOXLITE_OK, "ok"},
    {BOXLITE_ERROR_INVALID_ARGUMENT, "invalid_argument"},
    {BOXLITE_ERROR_NOT_FOUND, "not_found"},
    {BOXLITE_ERROR_ALREADY_EXISTS, "already_exists"},
    {BOXLITE_ERROR_INVALID_STATE, "invalid_state"},
    {BOXLITE_ERROR_TIMEOUT, "timeout"},
    {BOXLITE_ERROR_IMAGE, "image"},
    {BOXLITE_ERROR_ENGINE, "engine"},
    {BOXLITE_ERROR_EXEC, "exec"},
    {BOXLITE_ERROR_DATABASE, "database"},
    {BOXLITE_ERROR_IO, "io"},
    {BOXLITE_ERROR_INTERNAL, "internal"},
    {BOXLITE_ERROR_COMMAND_NOT_FOUND, "command_not_found"},
    {BOXLITE_ERROR_NOT_EXECUTABLE, "not_executable"},
    {BOXLITE_ERROR_BAD_WORKING_DIR, "bad_working_dir"},
    {BOXLITE_ERROR_UNAUTHORIZED, "unauthorized"},
    {BOXLITE_ERROR_UNAVAILABLE, "unavailable"},
};

static int error_codes_match_core(struct ctx *c) {
    size_t count = boxlite_error_code_count();
    if (count != c->spec->n_error_codes) {
        return fail(c, "boxlite_error_code_count() is %zu, spec lists %zu", count,
                    c->spec->n_error_codes);
    }
    for (size_t i = 1; i <= count; i++) {
        const char *name = boxlite_error_code_name((BoxliteErrorCode)i);
        if (name == NULL || strcmp(name, c->spec->error_codes[i - 1]) != 0) {
            return fail(c, "code %zu is %s, spec says %s", i, name ? name : "NULL",
                        c->spec->error_codes[i - 1]);
        }
    }
    if (boxlite_error_code_name((BoxliteErrorCode)(count + 1)) != NULL) {
        return fail(c, "boxlite_error_code_name(count + 1) is not NULL");
    }
    size_t n_header = sizeof HEADER_CODES / sizeof HEADER_CODES[0];
    if (n_header != count + 1) {
        return fail(c, "boxlite.h declares %zu codes, the library %zu", n_header, count + 1);
    }
    for (size_t i = 0; i < n_header; i++) {
        if (strcmp(code_name(HEADER_CODES[i].code), HEADER_CODES[i].name) != 0) {
            return fail(c, "header constant for %s is named %s by the library",
                        HEADER_CODES[i].name, code_name(HEADER_CODES[i].code));
        }
    }
    return 0;
}

static int invalid_name_is_invalid_argument(struct ctx *c) {
    const char *name, *want;
    if (param(c, "name", &name) || param(c, "code", &want)) {
        return 1;
    }
    BoxliteRuntime *rt = NULL;
    if (open_runtime(c, &rt)) {
        return 1;
    }
    BoxliteBox *box = NULL;
    BoxliteError *err = NULL;
    BoxliteErrorCode code = boxlite_box_create(rt, c->spec->image, name, &box, &err);
    int failed = expect_code(c, "boxlite_box_create", code, &err, want);
    if (!failed && box != NULL) {
        failed = fail(c, "out was written by a failed call");
    }
    boxlite_box_free(box);
    boxlite_runtime_free(rt);
    return failed;
}

static int duplicate_name_is_already_exists(struct ctx *c) {
    const char *name, *want;
    if (param(c, "name", &name) || param(c, "code", &want)) {
        return 1;
    }
    BoxliteRuntime *rt = NULL;
    BoxliteBox *first = NULL, *second = NULL;
    int failed = open_runtime(c, &rt) || create_box(c, rt, name, &first);
    if (!failed) {
        BoxliteError *err = NULL;
        BoxliteErrorCode code = boxlite_box_create(rt, c->spec->image, name, &second, &err);
        failed = expect_code(c, "second boxlite_box_create", code, &err, want);
    }
    failed |= box_down(c, rt, first);
    boxlite_box_free(second);
    boxlite_runtime_free(rt);
    return failed;
}

static int remove_then_get_is_none(struct ctx *c) {
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    BoxliteBoxInfo *info = NULL;
    BoxliteError *err = NULL;
    int failed = open_runtime(c, &rt) || create_box(c, rt, NULL, &box) ||
                 expect_ok(c, "boxlite_box_remove",
                           boxlite_box_remove(rt, boxlite_box_id(box), false, &err), &err);
    if (!failed) {
        BoxliteErrorCode code = boxlite_box_get_info(rt, boxlite_box_id(box), &info, &err);
        failed = expect_ok(c, "boxlite_box_get_info after remove", code, &err);
        if (!failed && info != NULL) {
            failed = fail(c, "boxlite_box_get_info finds the removed box");
        }
        /* The handle outlives its box: reading through it says the box is gone. */
        BoxliteBoxInfo *stale = NULL;
        failed = failed || expect_code(c, "boxlite_box_info of a removed box",
                                       boxlite_box_info(box, &stale, &err), &err, "not_found");
        boxlite_box_info_free(stale);
    }
    boxlite_box_info_free(info);
    boxlite_box_free(box);
    boxlite_runtime_free(rt);
    return failed;
}

static int missing_box_is_not_found(struct ctx *c) {
    const char *key, *want;
    if (param(c, "key", &key) || param(c, "code", &want)) {
        return 1;
    }
    BoxliteRuntime *rt = NULL;
    if (open_runtime(c, &rt)) {
        return 1;
    }
    BoxliteError *err = NULL;
    BoxliteErrorCode code = boxlite_box_remove(rt, key, false, &err);
    int failed = expect_code(c, "boxlite_box_remove", code, &err, want);
    boxlite_runtime_free(rt);
    return failed;
}

static int list_is_newest_first(struct ctx *c) {
    BoxliteRuntime *rt = NULL;
    BoxliteBox *older = NULL, *newer = NULL;
    BoxliteBoxList *list = NULL;
    BoxliteError *err = NULL;
    int failed = open_runtime(c, &rt) || create_box(c, rt, NULL, &older) ||
                 create_box(c, rt, NULL, &newer) ||
                 expect_ok(c, "boxlite_box_list", boxlite_box_list(rt, &list, &err), &err);
    if (!failed) {
        size_t len = boxlite_box_list_len(list);
        const char *first = boxlite_box_info_id(boxlite_box_list_get(list, 0));
        const char *second = boxlite_box_info_id(boxlite_box_list_get(list, 1));
        if (len != 2) {
            failed = fail(c, "list has %zu boxes, want 2", len);
        } else if (first == NULL || strcmp(first, boxlite_box_id(newer)) != 0) {
            failed = fail(c, "index 0 is %s, want the newer box %s", first ? first : "NULL",
                          boxlite_box_id(newer));
        } else if (second == NULL || strcmp(second, boxlite_box_id(older)) != 0) {
            failed = fail(c, "index 1 is %s, want the older box %s", second ? second : "NULL",
                          boxlite_box_id(older));
        } else if (boxlite_box_list_get(list, 2) != NULL) {
            failed = fail(c, "boxlite_box_list_get past the end is not NULL");
        }
    }
    boxlite_box_list_free(list);
    failed |= box_down(c, rt, older);
    failed |= box_down(c, rt, newer);
    boxlite_runtime_free(rt);
    return failed;
}

/* Runs `testkit mark-failed HOME ID REASON` as a separate process and waits for it. */
static int run_mark_failed(struct ctx *c, const char *id, const char *reason) {
    const char *testkit = getenv("BOXLITE_TESTKIT");
    if (testkit == NULL || testkit[0] == '\0') {
        testkit = DEFAULT_TESTKIT;
    }
    char *const argv[] = {(char *)testkit, "mark-failed", (char *)c->home, (char *)id,
                          (char *)reason, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, testkit, NULL, NULL, argv, environ);
    if (rc != 0) {
        return fail(c, "spawn %s: %s (set BOXLITE_TESTKIT)", testkit, strerror(rc));
    }
    int status;
    while (waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR) {
            return fail(c, "waitpid %s: %s", testkit, strerror(errno));
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return fail(c, "%s mark-failed did not succeed (wait status %d)", testkit, status);
    }
    return 0;
}

static int failed_record_is_visible(struct ctx *c) {
    const char *reason;
    if (param(c, "reason", &reason)) {
        return 1;
    }
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    BoxliteBoxInfo *info = NULL;
    BoxliteError *err = NULL;
    int failed = open_runtime(c, &rt) || create_box(c, rt, NULL, &box);
    const char *id = boxlite_box_id(box);
    /* Closed before the other process writes, then reopened: the failure must come from the
     * database, not from anything this process remembers. */
    boxlite_runtime_free(rt);
    rt = NULL;
    failed = failed || run_mark_failed(c, id, reason) || open_runtime(c, &rt) ||
             expect_ok(c, "boxlite_box_get_info", boxlite_box_get_info(rt, id, &info, &err), &err);
    if (!failed && info == NULL) {
        failed = fail(c, "the marked box is not found");
    } else if (!failed) {
        const char *status = boxlite_box_info_status(info);
        const char *got = boxlite_box_info_error_reason(info);
        if (status == NULL || strcmp(status, "failed") != 0) {
            failed = fail(c, "status is %s, want failed", status ? status : "NULL");
        } else if (got == NULL || strcmp(got, reason) != 0) {
            failed = fail(c, "error_reason is \"%s\", want \"%s\"", got ? got : "NULL", reason);
        }
    }
    boxlite_box_info_free(info);
    failed |= box_down(c, rt, box);
    boxlite_runtime_free(rt);
    return failed;
}

/* `boxes`: the scenario runs boxes (left out by --no-boxes). */
static const struct {
    const char *id;
    int (*run)(struct ctx *);
    int boxes;
} SCENARIOS[] = {
    {"create_is_configured", create_is_configured, 0},
    {"status_names_match_core", status_names_match_core, 0},
    {"error_codes_match_core", error_codes_match_core, 0},
    {"invalid_name_is_invalid_argument", invalid_name_is_invalid_argument, 0},
    {"duplicate_name_is_already_exists", duplicate_name_is_already_exists, 0},
    {"remove_then_get_is_none", remove_then_get_is_none, 0},
    {"missing_box_is_not_found", missing_box_is_not_found, 0},
    {"list_is_newest_first", list_is_newest_first, 0},
    {"failed_record_is_visible", failed_record_is_visible, 0},
    {"lifecycle_start_stop_start_remove", lifecycle_start_stop_start_remove, 1},
    {"exec_stdout_stderr_exit_code", exec_stdout_stderr_exit_code, 1},
    {"exec_env", exec_env, 1},
    {"exec_cwd", exec_cwd, 1},
    {"exec_user", exec_user, 1},
    {"exec_stdin", exec_stdin, 1},
    {"exec_tty", exec_tty, 1},
    {"exec_timeout_kills", exec_timeout_kills, 1},
    {"exec_command_not_found", exec_command_not_found, 1},
    {"exec_not_executable", exec_not_executable, 1},
    {"exec_bad_working_dir", exec_bad_working_dir, 1},
    {"failed_start_is_visible", failed_start_is_visible, 0},
    {"files_survive_stop_start", files_survive_stop_start, 1},
    {"list_shows_running_boxes", list_shows_running_boxes, 1},
    {"get_missing_is_none", get_missing_is_none, 0},
    {"detached_box_reattached", detached_box_reattached, 1},
    {"shutdown_stops_boxes", shutdown_stops_boxes, 1},
    {"exec_concurrent_streams", exec_concurrent_streams, 1},
    {"default_limits_reported", default_limits_reported, 0},
    {"limits_overridden_in_force", limits_overridden_in_force, 1},
    {"exec_oom_killed", exec_oom_killed, 1},
    {"disk_size_gb_refused", disk_size_gb_refused, 0},
    {"capabilities_in_force", capabilities_in_force, 1},
    {"capability_unknown_refused", capability_unknown_refused, 0},
    {"userns_private_by_default", userns_private_by_default, 1},
    {"userns_host_is_loud", userns_host_is_loud, 1},
    {"seccomp_unconfined_is_loud", seccomp_unconfined_is_loud, 1},
    {"seccomp_profile_replaces_default", seccomp_profile_replaces_default, 1},
    {"network_enabled_has_eth0", network_enabled_has_eth0, 1},
    {"published_port_reaches_box", published_port_reaches_box, 1},
    {"volume_shares_files", volume_shares_files, 1},
    {"box_metrics_report_usage", box_metrics_report_usage, 1},
    {"runtime_metrics_count_boxes", runtime_metrics_count_boxes, 1},
    {"copy_in_and_out_roundtrip", copy_in_and_out_roundtrip, 1},
    {"small_files_write_read_list", small_files_write_read_list, 1},
    {"copy_refuses_hostile_sources", copy_refuses_hostile_sources, 1},
    {"image_pull_list_remove", image_pull_list_remove, 0},
    {"image_missing_not_found", image_missing_not_found, 0},
    {"image_unauthorized", image_unauthorized, 0},
    {"image_registry_options", image_registry_options, 0},
};

/* Checks of this binding beyond spec.tsv: run after the scenarios, counted in the summary,
 * not written to the results file (the parity table is about the shared scenarios). */
static const struct {
    const char *id;
    int (*run)(struct ctx *);
} C_ONLY[] = {
    {"c_simple_output_is_capped", c_simple_output_is_capped},
    {"c_unknown_option_is_invalid_argument", c_unknown_option_is_invalid_argument},
};

/* Runs one scenario in a fresh home; returns 0 when it passed, -1 when it was left out
 * (`no_boxes` and it runs boxes). */
static int run_scenario(const struct spec *spec, const struct spec_scenario *sc, const char *self,
                        int no_boxes) {
    struct ctx c = {spec, sc, NULL, self, ""};
    int (*run)(struct ctx *) = NULL;
    int boxes = 0;
    for (size_t i = 0; i < sizeof SCENARIOS / sizeof SCENARIOS[0]; i++) {
        if (strcmp(SCENARIOS[i].id, sc->id) == 0) {
            run = SCENARIOS[i].run;
            boxes = SCENARIOS[i].boxes;
        }
    }
    if (no_boxes && boxes) {
        printf("not run %s (runs boxes; --no-boxes)\n", sc->id);
        return -1;
    }
    int failed;
    if (run == NULL) {
        failed = fail(&c, "no C implementation of this scenario");
    } else {
        char *home = temp_home_new();
        if (home == NULL) {
            failed = fail(&c, "mkdtemp: %s", strerror(errno));
        } else {
            c.home = home;
            failed = run(&c);
            if (temp_home_free(home) != 0 && !failed) {
                failed = fail(&c, "could not remove the temporary home");
            }
        }
    }
    if (failed) {
        printf("FAILED %s: %s\n", sc->id, c.why);
    } else {
        printf("ok %s\n", sc->id);
    }
    fflush(stdout);
    return failed;
}

/* Opens the results file (ID<TAB>pass|fail per scenario), creating its directory. */
static FILE *open_results(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *slash = strchr(dir + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            return NULL;
        }
        *slash = '/';
    }
    return fopen(path, "w");
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--reattach") == 0) {
        return reattach_main(argv[2], argv[3]) == 0 ? 0 : 1;
    }
    /* --no-boxes: only the scenarios that start no box, for a checker that cannot run boxes
     * (valgrind before 3.22, see scripts/valgrind.sh); no results file then, as the run is not
     * complete. */
    int no_boxes = argc == 3 && strcmp(argv[2], "--no-boxes") == 0;
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s bindings-tests/spec.tsv [RESULTS.tsv | --no-boxes]\n", argv[0]);
        return 2;
    }
    struct spec spec;
    size_t passed = 0, failed = 0;
    if (spec_load(argv[1], &spec) != 0) {
        printf("FAILED spec: cannot read %s: %s\n", argv[1], strerror(errno));
        printf("0 passed, 1 failed\n");
        return 1;
    }
    FILE *results = NULL;
    if (argc == 3 && !no_boxes && (results = open_results(argv[2])) == NULL) {
        printf("FAILED spec: cannot write %s: %s\n", argv[2], strerror(errno));
        failed++;
    }
    for (size_t i = 0; i < spec.n_problems; i++) {
        printf("FAILED spec: %s\n", spec.problems[i]);
        failed++;
    }
    if (spec.n_scenarios == 0) {
        printf("FAILED spec: no scenarios in %s\n", argv[1]);
        failed++;
    }
    for (size_t i = 0; i < spec.n_scenarios; i++) {
        int scenario_failed = run_scenario(&spec, &spec.scenarios[i], argv[0], no_boxes);
        if (scenario_failed < 0) {
            continue;
        }
        if (scenario_failed) {
            failed++;
        } else {
            passed++;
        }
        if (results != NULL) {
            fprintf(results, "%s\t%s\n", spec.scenarios[i].id, scenario_failed ? "fail" : "pass");
            fflush(results);
        }
    }
    for (size_t i = 0; i < sizeof C_ONLY / sizeof C_ONLY[0] && !no_boxes; i++) {
        struct spec_scenario sc = {(char *)C_ONLY[i].id, NULL, 0};
        struct ctx c = {&spec, &sc, NULL, argv[0], ""};
        char *home = temp_home_new();
        int check_failed = home == NULL ? fail(&c, "mkdtemp: %s", strerror(errno)) : 0;
        if (home != NULL) {
            c.home = home;
            check_failed = C_ONLY[i].run(&c);
            if (temp_home_free(home) != 0 && !check_failed) {
                check_failed = fail(&c, "could not remove the temporary home");
            }
        }
        if (check_failed) {
            printf("FAILED %s: %s\n", sc.id, c.why);
            failed++;
        } else {
            printf("ok %s\n", sc.id);
            passed++;
        }
        fflush(stdout);
    }
    if (results != NULL && fclose(results) != 0) {
        printf("FAILED spec: writing %s: %s\n", argv[2], strerror(errno));
        failed++;
    }
    spec_free(&spec);
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
