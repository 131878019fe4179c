/* What every scenario of the C suite shares: the failure record, checks on library calls,
 * output captured from execution callbacks, and boxes started for a scenario. */
#ifndef BOXLITE_HARNESS_H
#define BOXLITE_HARNESS_H

#include <boxlite.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "spec.h"

/* Generous but bounded: under valgrind a box start or an exec round trip is several times
 * slower than natively. */
#define WAIT_MS 120000u
#define STOP_GRACE_MS 2000u

struct ctx {
    const struct spec *spec;
    const struct spec_scenario *sc;
    const char *home; /* this scenario's fresh home directory */
    const char *self; /* this test binary, for scenarios that run a second process */
    char why[1024];   /* the failure, when the scenario returns non-zero */
};

/* Records why the scenario failed (the first reason wins); returns 1 so a check can
 * `return fail(...)`. */
__attribute__((format(printf, 2, 3))) int fail(struct ctx *c, const char *fmt, ...);

const char *code_name(BoxliteErrorCode code);

/* Fails unless `code` is BOXLITE_OK, quoting the library's message. Takes the error by
 * address, read after the call that filled it has run (an argument `err` next to
 * `call(&err)` could be read before the call), frees it and resets it to NULL. */
int expect_ok(struct ctx *c, const char *what, BoxliteErrorCode code, BoxliteError **errp);

/* Fails unless the call failed with the code named `want`, with an error object that carries
 * the same code and a non-empty message. Frees `*errp` and resets it to NULL. */
int expect_code(struct ctx *c, const char *what, BoxliteErrorCode code, BoxliteError **errp,
                const char *want);

/* The scenario's parameter `key`; fails when the spec lacks it. */
int param(struct ctx *c, const char *key, const char **value);

int open_runtime(struct ctx *c, BoxliteRuntime **rt);

/* The image of scenarios that run boxes ($BOXLITE_TEST_IMAGE, named by the spec's run_image
 * line); fails, never skips, when it is unset. */
int run_image(struct ctx *c, const char **image);

/* Output of one execution, appended by its callbacks (on the library's thread) and read by the
 * scenario (on its own), each buffer NUL-terminated. */
struct capture {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char *out, *err;
    size_t out_len, err_len;
};

void capture_init(struct capture *cap);
void capture_free(struct capture *cap);

/* Appends to the captured stdout, as the stdout callback of capture_into does. */
void capture_append_stdout(struct capture *cap, const uint8_t *data, size_t len);

/* Sets cmd's output callbacks to append to `cap`. */
int capture_into(struct ctx *c, BoxliteCommand *cmd, struct capture *cap);

/* Waits (at most `timeout_ms`) until stdout holds `needle`. */
int capture_wait_stdout(struct ctx *c, struct capture *cap, const char *needle,
                        unsigned timeout_ms);

/* Makes a command from a NULL-terminated list of arguments. */
int command(struct ctx *c, BoxliteCommand **cmd, const char *const *argv);

/* Runs `cmd` in `box`, waits for it and fills `result`; output goes to `cap` (may be NULL). */
int run_command(struct ctx *c, BoxliteBox *box, BoxliteCommand *cmd, struct capture *cap,
                BoxliteExecResult *result);

/* Runs argv in `box` and checks it exits 0 with exactly `want_stdout` on stdout. */
int run_expect(struct ctx *c, BoxliteBox *box, const char *const *argv, const char *want_stdout);

/* A box of this scenario: created (from `options_json`, or from the run image when NULL),
 * named `name` (may be NULL), and started unless `start` is false. */
int box_up(struct ctx *c, BoxliteRuntime *rt, const char *options_json, const char *name,
           bool start, BoxliteBox **box);

/* Stops (when active) and removes the box, failing the scenario when either fails, then frees
 * the handle. NULL does nothing. */
int box_down(struct ctx *c, BoxliteRuntime *rt, BoxliteBox *box);

/* Checks that the box's status, read back from the database, is `want`. */
int expect_status(struct ctx *c, BoxliteBox *box, const char *want);

/* Box-running scenarios (spec_boxes.c), named as in spec.tsv. */
int lifecycle_start_stop_start_remove(struct ctx *c);
int exec_stdout_stderr_exit_code(struct ctx *c);
int exec_env(struct ctx *c);
int exec_cwd(struct ctx *c);
int exec_user(struct ctx *c);
int exec_stdin(struct ctx *c);
int exec_tty(struct ctx *c);
int exec_timeout_kills(struct ctx *c);
int exec_command_not_found(struct ctx *c);
int exec_not_executable(struct ctx *c);
int exec_bad_working_dir(struct ctx *c);
int failed_start_is_visible(struct ctx *c);
int files_survive_stop_start(struct ctx *c);
int list_shows_running_boxes(struct ctx *c);
int get_missing_is_none(struct ctx *c);
int detached_box_reattached(struct ctx *c);
int shutdown_stops_boxes(struct ctx *c);
int exec_concurrent_streams(struct ctx *c);

/* Bounds scenarios (spec_limits.c), the memory limit's OOM kills among them. */
int default_limits_reported(struct ctx *c);
int limits_overridden_in_force(struct ctx *c);
int exec_oom_killed(struct ctx *c);
int disk_size_gb_refused(struct ctx *c);
int capabilities_in_force(struct ctx *c);
int capability_unknown_refused(struct ctx *c);
int userns_private_by_default(struct ctx *c);
int userns_host_is_loud(struct ctx *c);
int seccomp_unconfined_is_loud(struct ctx *c);
int seccomp_profile_replaces_default(struct ctx *c);

/* Helpers of spec_limits.c that spec_network.c shares: start a box from an options JSON,
 * check it and run one command; a create that must be refused; an empty home. */
int run_in_new_box(struct ctx *c, const char *options,
                   int (*check)(struct ctx *, BoxliteBox *), const char *const *argv,
                   struct capture *cap, BoxliteExecResult *result);
int create_refused(struct ctx *c, BoxliteRuntime *rt, const char *json, const char *want,
                   const char *const *needles);
int expect_no_boxes(struct ctx *c, BoxliteRuntime *rt);

/* Network scenarios (spec_network.c). */
int network_enabled_has_eth0(struct ctx *c);
int published_port_reaches_box(struct ctx *c);

/* Volume scenarios (spec_volumes.c). */
int volume_shares_files(struct ctx *c);
/* Metrics scenarios (spec_metrics.c). */
int box_metrics_report_usage(struct ctx *c);
int runtime_metrics_count_boxes(struct ctx *c);
/* Files scenarios (spec_files.c). */
int copy_in_and_out_roundtrip(struct ctx *c);
int small_files_write_read_list(struct ctx *c);
int copy_refuses_hostile_sources(struct ctx *c);

/* Image scenarios (spec_images.c): each runs its own registry, no box. */
int image_pull_list_remove(struct ctx *c);
int image_missing_not_found(struct ctx *c);
int image_unauthorized(struct ctx *c);
int image_registry_options(struct ctx *c);

/* Checks of the C API that spec.tsv does not list (run after the scenarios, by name c_*). */
int c_simple_output_is_capped(struct ctx *c);
int c_unknown_option_is_invalid_argument(struct ctx *c);

/* The second process of detached_box_reattached: `spec_test --reattach HOME NAME`. */
int reattach_main(const char *home, const char *name);


#endif /* BOXLITE_HARNESS_H */
