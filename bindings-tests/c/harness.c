/* See harness.h. */
#define _XOPEN_SOURCE 700 /* clock_gettime */

#include "harness.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int fail(struct ctx *c, const char *fmt, ...) {
    if (c->why[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, sizeof c->why, fmt, ap);
        va_end(ap);
    }
    return 1;
}

const char *code_name(BoxliteErrorCode code) {
    const char *name = boxlite_error_code_name(code);
    return name != NULL ? name : "(not a code)";
}

int expect_ok(struct ctx *c, const char *what, BoxliteErrorCode code, BoxliteError **errp) {
    BoxliteError *err = *errp;
    *errp = NULL;
    int failed = 0;
    if (code != BOXLITE_OK) {
        const char *msg = boxlite_error_message(err);
        failed = fail(c, "%s returned %s: %s", what, code_name(code), msg ? msg : "(no error)");
    }
    boxlite_error_free(err);
    return failed;
}

int expect_code(struct ctx *c, const char *what, BoxliteErrorCode code, BoxliteError **errp,
                const char *want) {
    BoxliteError *err = *errp;
    *errp = NULL;
    int failed = 0;
    const char *msg = boxlite_error_message(err);
    if (strcmp(code_name(code), want) != 0) {
        failed = fail(c, "%s returned %s, want %s (%s)", what, code_name(code), want,
                      msg ? msg : "no error");
    } else if (err == NULL || boxlite_error_code(err) != code) {
        failed = fail(c, "%s: error object missing or with another code", what);
    } else if (msg == NULL || msg[0] == '\0') {
        failed = fail(c, "%s: error message is empty", what);
    }
    boxlite_error_free(err);
    return failed;
}

int param(struct ctx *c, const char *key, const char **value) {
    *value = spec_param(c->sc, key);
    return *value == NULL ? fail(c, "spec scenario lacks parameter %s", key) : 0;
}

int open_runtime(struct ctx *c, BoxliteRuntime **rt) {
    BoxliteError *err = NULL;
    return expect_ok(c, "boxlite_runtime_open", boxlite_runtime_open(c->home, rt, &err), &err);
}

int run_image(struct ctx *c, const char **image) {
    const char *var = c->spec->run_image_env;
    if (var == NULL) {
        return fail(c, "spec has no run_image line");
    }
    *image = getenv(var);
    if (*image == NULL || (*image)[0] == '\0') {
        return fail(c, "$%s is unset: eval \"$(bash scripts/fixtures.sh)\" first", var);
    }
    return 0;
}

/* ---- captured output ---- */

void capture_init(struct capture *cap) {
    memset(cap, 0, sizeof *cap);
    pthread_mutex_init(&cap->lock, NULL);
    pthread_cond_init(&cap->changed, NULL);
}

void capture_free(struct capture *cap) {
    free(cap->out);
    free(cap->err);
    pthread_cond_destroy(&cap->changed);
    pthread_mutex_destroy(&cap->lock);
}

static void append(struct capture *cap, char **buf, size_t *len, const uint8_t *data, size_t n) {
    pthread_mutex_lock(&cap->lock);
    char *grown = realloc(*buf, *len + n + 1);
    if (grown == NULL) {
        perror("capture: realloc");
        abort();
    }
    memcpy(grown + *len, data, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
    pthread_cond_broadcast(&cap->changed);
    pthread_mutex_unlock(&cap->lock);
}

void capture_append_stdout(struct capture *cap, const uint8_t *data, size_t len) {
    append(cap, &cap->out, &cap->out_len, data, len);
}

static void on_stdout(const uint8_t *data, size_t len, void *user_data) {
    capture_append_stdout(user_data, data, len);
}

static void on_stderr(const uint8_t *data, size_t len, void *user_data) {
    struct capture *cap = user_data;
    append(cap, &cap->err, &cap->err_len, data, len);
}

int capture_into(struct ctx *c, BoxliteCommand *cmd, struct capture *cap) {
    BoxliteError *err = NULL;
    return expect_ok(c, "boxlite_command_set_output",
                     boxlite_command_set_output(cmd, on_stdout, on_stderr, cap, &err), &err);
}

int capture_wait_stdout(struct ctx *c, struct capture *cap, const char *needle,
                        unsigned timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&cap->lock);
    int rc = 0;
    while ((cap->out == NULL || strstr(cap->out, needle) == NULL) && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&cap->changed, &cap->lock, &deadline);
    }
    int found = cap->out != NULL && strstr(cap->out, needle) != NULL;
    pthread_mutex_unlock(&cap->lock);
    return found ? 0
                 : fail(c, "stdout did not show \"%s\" within %u ms (got \"%s\")", needle,
                        timeout_ms, cap->out ? cap->out : "");
}

/* ---- commands ---- */

int command(struct ctx *c, BoxliteCommand **cmd, const char *const *argv) {
    BoxliteError *err = NULL;
    return expect_ok(c, "boxlite_command_new", boxlite_command_new(argv, cmd, &err), &err);
}

int run_command(struct ctx *c, BoxliteBox *box, BoxliteCommand *cmd, struct capture *cap,
                BoxliteExecResult *result) {
    BoxliteExecution *exec = NULL;
    BoxliteError *err = NULL;
    int failed = (cap != NULL && capture_into(c, cmd, cap)) ||
                 expect_ok(c, "boxlite_box_exec", boxlite_box_exec(box, cmd, &exec, &err), &err);
    if (!failed) {
        failed = expect_ok(c, "boxlite_execution_wait",
                           boxlite_execution_wait(exec, WAIT_MS, result, &err), &err);
    }
    boxlite_execution_free(exec);
    return failed;
}

int run_expect(struct ctx *c, BoxliteBox *box, const char *const *argv, const char *want_stdout) {
    BoxliteCommand *cmd = NULL;
    struct capture cap;
    capture_init(&cap);
    BoxliteExecResult result;
    int failed = command(c, &cmd, argv) || run_command(c, box, cmd, &cap, &result);
    if (!failed && (result.exit_code != 0 || result.signal != 0)) {
        failed = fail(c, "%s exited %d (signal %d), stderr \"%s\"", argv[0], result.exit_code,
                      result.signal, cap.err ? cap.err : "");
    } else if (!failed && strcmp(cap.out ? cap.out : "", want_stdout) != 0) {
        failed = fail(c, "%s printed \"%s\", want \"%s\"", argv[0], cap.out ? cap.out : "",
                      want_stdout);
    }
    boxlite_command_free(cmd);
    capture_free(&cap);
    return failed;
}

/* ---- boxes ---- */

int box_up(struct ctx *c, BoxliteRuntime *rt, const char *options_json, const char *name,
           bool start, BoxliteBox **box) {
    BoxliteError *err = NULL;
    BoxliteErrorCode code;
    if (options_json != NULL) {
        code = boxlite_box_create_json(rt, options_json, name, box, &err);
    } else {
        const char *image;
        if (run_image(c, &image)) {
            return 1;
        }
        code = boxlite_box_create(rt, image, name, box, &err);
    }
    if (expect_ok(c, "boxlite_box_create", code, &err)) {
        return 1;
    }
    return start && expect_ok(c, "boxlite_box_start", boxlite_box_start(*box, &err), &err);
}

int box_down(struct ctx *c, BoxliteRuntime *rt, BoxliteBox *box) {
    if (box == NULL) {
        return 0;
    }
    int failed = 0;
    BoxliteBoxInfo *info = NULL;
    BoxliteError *err = NULL;
    BoxliteErrorCode code = boxlite_box_info(box, &info, &err);
    const char *status = code == BOXLITE_OK ? boxlite_box_info_status(info) : "";
    if (code == BOXLITE_OK && strcmp(status, "running") == 0) {
        BoxliteError *stop_err = NULL;
        failed = expect_ok(c, "boxlite_box_stop (cleanup)",
                           boxlite_box_stop(box, STOP_GRACE_MS, &stop_err), &stop_err);
    }
    boxlite_box_info_free(info);
    boxlite_error_free(err);
    BoxliteError *rm_err = NULL;
    /* force: a scenario that failed half-way may leave the box in any state. */
    failed |= expect_ok(c, "boxlite_box_remove (cleanup)",
                        boxlite_box_remove(rt, boxlite_box_id(box), true, &rm_err), &rm_err);
    boxlite_box_free(box);
    return failed;
}

int expect_status(struct ctx *c, BoxliteBox *box, const char *want) {
    BoxliteBoxInfo *info = NULL;
    BoxliteError *err = NULL;
    if (expect_ok(c, "boxlite_box_info", boxlite_box_info(box, &info, &err), &err)) {
        return 1;
    }
    const char *status = boxlite_box_info_status(info);
    int failed = 0;
    if (status == NULL || strcmp(status, want) != 0) {
        failed = fail(c, "box %s is %s, want %s", boxlite_box_id(box), status ? status : "NULL",
                      want);
    }
    boxlite_box_info_free(info);
    return failed;
}
