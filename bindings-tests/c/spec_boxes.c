/* The scenarios of spec.tsv that run boxes from $BOXLITE_TEST_IMAGE. Each gets its own home
 * (struct ctx), removes every box it made, and checks what came back through libboxlite:
 * exit codes, output, and status read from the database. */
#define _XOPEN_SOURCE 700 /* posix_spawn, clock_gettime */

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One started box in a fresh runtime: the common start of the exec scenarios. */
struct one_box {
    BoxliteRuntime *rt;
    BoxliteBox *box;
};

static int one_box_up(struct ctx *c, struct one_box *b) {
    b->rt = NULL;
    b->box = NULL;
    return open_runtime(c, &b->rt) || box_up(c, b->rt, NULL, NULL, true, &b->box);
}

static int one_box_down(struct ctx *c, struct one_box *b, int failed) {
    failed |= box_down(c, b->rt, b->box);
    boxlite_runtime_free(b->rt);
    return failed;
}

int lifecycle_start_stop_start_remove(struct ctx *c) {
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    BoxliteError *err = NULL;
    int failed = open_runtime(c, &rt) || box_up(c, rt, NULL, NULL, false, &box) ||
                 expect_status(c, box, "configured") ||
                 expect_ok(c, "boxlite_box_start", boxlite_box_start(box, &err), &err);
    if (!failed) {
        BoxliteBoxInfo *info = NULL;
        failed = expect_ok(c, "boxlite_box_info", boxlite_box_info(box, &info, &err), &err);
        uint32_t pid = 0;
        if (!failed && strcmp(boxlite_box_info_status(info), "running") != 0) {
            failed = fail(c, "after start the box is %s", boxlite_box_info_status(info));
        } else if (!failed && (!boxlite_box_info_pid(info, &pid) || pid == 0)) {
            failed = fail(c, "a running box has no pid");
        }
        boxlite_box_info_free(info);
    }
    for (int round = 0; round < 2 && !failed; round++) {
        failed = expect_ok(c, "boxlite_box_stop", boxlite_box_stop(box, STOP_GRACE_MS, &err), &err) ||
                 expect_status(c, box, "stopped");
        if (!failed && round == 0) {
            failed = expect_ok(c, "second boxlite_box_start", boxlite_box_start(box, &err), &err) ||
                     expect_status(c, box, "running");
        }
    }
    if (!failed) {
        failed = expect_ok(c, "boxlite_box_remove",
                           boxlite_box_remove(rt, boxlite_box_id(box), false, &err), &err);
        BoxliteBox *again = NULL;
        BoxliteBoxInfo *info = NULL;
        failed = failed ||
                 expect_ok(c, "boxlite_box_get", boxlite_box_get(rt, boxlite_box_id(box), &again, &err), &err);
        failed = failed || expect_ok(c, "boxlite_box_get_info",
                                     boxlite_box_get_info(rt, boxlite_box_id(box), &info, &err), &err);
        if (!failed && (again != NULL || info != NULL)) {
            failed = fail(c, "the removed box is still found");
        }
        boxlite_box_free(again);
        boxlite_box_info_free(info);
        boxlite_box_free(box);
        box = NULL;
    }
    failed |= box_down(c, rt, box);
    boxlite_runtime_free(rt);
    return failed;
}

int exec_stdout_stderr_exit_code(struct ctx *c) {
    const char *want_out, *want_err, *want_code;
    if (param(c, "stdout", &want_out) || param(c, "stderr", &want_err) ||
        param(c, "exit_code", &want_code)) {
        return 1;
    }
    char script[256];
    snprintf(script, sizeof script, "echo %s; echo %s >&2; exit %s", want_out, want_err, want_code);
    const char *const argv[] = {"sh", "-c", script, NULL};
    struct one_box b;
    BoxliteCommand *cmd = NULL;
    struct capture cap;
    capture_init(&cap);
    BoxliteExecResult result;
    int failed = one_box_up(c, &b) || command(c, &cmd, argv) ||
                 run_command(c, b.box, cmd, &cap, &result);
    char out[128], err[128];
    snprintf(out, sizeof out, "%s\n", want_out);
    snprintf(err, sizeof err, "%s\n", want_err);
    if (!failed && result.exit_code != atoi(want_code)) {
        failed = fail(c, "exit code %d, want %s", result.exit_code, want_code);
    } else if (!failed && (result.signal != 0 || result.timed_out)) {
        failed = fail(c, "signal %d, timed_out %d for a command that exited", result.signal,
                      result.timed_out);
    } else if (!failed && strcmp(cap.out ? cap.out : "", out) != 0) {
        failed = fail(c, "stdout \"%s\", want \"%s\"", cap.out ? cap.out : "", out);
    } else if (!failed && strcmp(cap.err ? cap.err : "", err) != 0) {
        failed = fail(c, "stderr \"%s\", want \"%s\"", cap.err ? cap.err : "", err);
    }
    boxlite_command_free(cmd);
    capture_free(&cap);
    return one_box_down(c, &b, failed);
}

/* Runs `argv` after `setup` changed the command; checks exit 0 and stdout == want. */
static int exec_with(struct ctx *c, const char *const *argv,
                     int (*setup)(struct ctx *, BoxliteCommand *), const char *want) {
    struct one_box b;
    BoxliteCommand *cmd = NULL;
    struct capture cap;
    capture_init(&cap);
    BoxliteExecResult result;
    int failed = one_box_up(c, &b) || command(c, &cmd, argv) || setup(c, cmd) ||
                 run_command(c, b.box, cmd, &cap, &result);
    if (!failed && result.exit_code != 0) {
        failed = fail(c, "%s exited %d, stderr \"%s\"", argv[0], result.exit_code,
                      cap.err ? cap.err : "");
    } else if (!failed && strcmp(cap.out ? cap.out : "", want) != 0) {
        failed = fail(c, "stdout \"%s\", want \"%s\"", cap.out ? cap.out : "", want);
    }
    boxlite_command_free(cmd);
    capture_free(&cap);
    return one_box_down(c, &b, failed);
}

static int set_env(struct ctx *c, BoxliteCommand *cmd) {
    BoxliteError *err = NULL;
    return expect_ok(c, "boxlite_command_add_env",
                     boxlite_command_add_env(cmd, spec_param(c->sc, "name"),
                                             spec_param(c->sc, "value"), &err),
                     &err);
}

int exec_env(struct ctx *c) {
    const char *name, *value;
    if (param(c, "name", &name) || param(c, "value", &value)) {
        return 1;
    }
    char script[128], want[256];
    snprintf(script, sizeof script, "echo \"$%s\"", name);
    snprintf(want, sizeof want, "%s\n", value);
    const char *const argv[] = {"sh", "-c", script, NULL};
    return exec_with(c, argv, set_env, want);
}

static int set_cwd(struct ctx *c, BoxliteCommand *cmd) {
    BoxliteError *err = NULL;
    return expect_ok(c, "boxlite_command_set_working_dir",
                     boxlite_command_set_working_dir(cmd, spec_param(c->sc, "cwd"), &err), &err);
}

int exec_cwd(struct ctx *c) {
    const char *cwd;
    if (param(c, "cwd", &cwd)) {
        return 1;
    }
    char want[256];
    snprintf(want, sizeof want, "%s\n", cwd);
    const char *const argv[] = {"pwd", NULL};
    return exec_with(c, argv, set_cwd, want);
}

static int set_user(struct ctx *c, BoxliteCommand *cmd) {
    BoxliteError *err = NULL;
    return expect_ok(c, "boxlite_command_set_user",
                     boxlite_command_set_user(cmd, spec_param(c->sc, "user"), &err), &err);
}

int exec_user(struct ctx *c) {
    const char *user, *uid;
    if (param(c, "user", &user) || param(c, "uid", &uid)) {
        return 1;
    }
    char want[64];
    snprintf(want, sizeof want, "%s\n", uid);
    const char *const argv[] = {"id", "-u", NULL};
    return exec_with(c, argv, set_user, want);
}

/* stdout of exec_stdin: captured, and once the execution is known, one call back into it
 * from the callback, which the library must refuse (it would wait for this very callback). */
struct stdin_echo {
    struct capture cap;
    BoxliteExecution *exec; /* set, under cap.lock, once boxlite_box_exec returned */
    int tried;
    BoxliteErrorCode reentry;
};

static void on_echo(const uint8_t *data, size_t len, void *user_data) {
    struct stdin_echo *echo = user_data;
    pthread_mutex_lock(&echo->cap.lock);
    BoxliteExecution *exec = echo->tried ? NULL : echo->exec;
    echo->tried |= exec != NULL;
    pthread_mutex_unlock(&echo->cap.lock);
    if (exec != NULL) {
        BoxliteExecResult ignored;
        BoxliteError *err = NULL;
        echo->reentry = boxlite_execution_wait(exec, 0, &ignored, &err);
        boxlite_error_free(err);
    }
    capture_append_stdout(&echo->cap, data, len);
}

int exec_stdin(struct ctx *c) {
    const char *input;
    if (param(c, "input", &input)) {
        return 1;
    }
    const char *const argv[] = {"cat", NULL};
    struct one_box b;
    BoxliteCommand *cmd = NULL;
    BoxliteExecution *exec = NULL;
    struct stdin_echo echo = {.tried = 0, .reentry = BOXLITE_OK};
    capture_init(&echo.cap);
    BoxliteExecResult result;
    BoxliteError *err = NULL;
    int failed = one_box_up(c, &b) || command(c, &cmd, argv) ||
                 expect_ok(c, "boxlite_command_set_stdin", boxlite_command_set_stdin(cmd, true, &err), &err) ||
                 expect_ok(c, "boxlite_command_set_output",
                           boxlite_command_set_output(cmd, on_echo, NULL, &echo, &err), &err) ||
                 expect_ok(c, "boxlite_box_exec", boxlite_box_exec(b.box, cmd, &exec, &err), &err);
    /* cat writes nothing before it reads, so the callback runs only after this. */
    pthread_mutex_lock(&echo.cap.lock);
    echo.exec = exec;
    pthread_mutex_unlock(&echo.cap.lock);
    failed = failed || expect_ok(c, "boxlite_execution_write_stdin",
                                 boxlite_execution_write_stdin(exec, (const uint8_t *)input,
                                                               strlen(input), &err),
                                 &err);
    failed = failed || expect_ok(c, "boxlite_execution_close_stdin",
                                 boxlite_execution_close_stdin(exec, &err), &err);
    failed = failed || expect_ok(c, "boxlite_execution_wait",
                                 boxlite_execution_wait(exec, WAIT_MS, &result, &err), &err);
    const char *out = echo.cap.out ? echo.cap.out : "";
    if (!failed && result.exit_code != 0) {
        failed = fail(c, "cat exited %d", result.exit_code);
    } else if (!failed && strcmp(out, input) != 0) {
        failed = fail(c, "cat printed \"%s\", want \"%s\"", out, input);
    } else if (!failed && strcmp(code_name(echo.reentry), "invalid_state") != 0) {
        failed = fail(c, "wait called from the execution's own callback returned %s, want "
                      "invalid_state", code_name(echo.reentry));
    }
    if (!failed) {
        /* A closed stdin is reported as such, not written to. */
        failed = expect_code(c, "write after close",
                             boxlite_execution_write_stdin(exec, (const uint8_t *)"x", 1, &err),
                             &err, "invalid_state");
    }
    boxlite_execution_free(exec);
    boxlite_command_free(cmd);
    capture_free(&echo.cap);
    return one_box_down(c, &b, failed);
}

int exec_tty(struct ctx *c) {
    const char *rows_s, *cols_s;
    if (param(c, "rows", &rows_s) || param(c, "cols", &cols_s)) {
        return 1;
    }
    int rows = atoi(rows_s), cols = atoi(cols_s);
    const char *const argv[] = {
        "sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; read line; stty size", NULL};
    struct one_box b;
    BoxliteCommand *cmd = NULL;
    BoxliteExecution *exec = NULL;
    struct capture cap;
    capture_init(&cap);
    BoxliteExecResult result;
    BoxliteError *err = NULL;
    int failed = one_box_up(c, &b) || command(c, &cmd, argv) ||
                 expect_ok(c, "boxlite_command_set_tty", boxlite_command_set_tty(cmd, true, 0, 0, &err), &err) ||
                 capture_into(c, cmd, &cap);
    failed = failed || expect_ok(c, "boxlite_box_exec", boxlite_box_exec(b.box, cmd, &exec, &err), &err);
    failed = failed || capture_wait_stdout(c, &cap, "is-a-tty", WAIT_MS);
    failed = failed || expect_ok(c, "boxlite_execution_resize_tty",
                                 boxlite_execution_resize_tty(exec, (uint16_t)rows, (uint16_t)cols, &err),
                                 &err);
    failed = failed || expect_ok(c, "boxlite_execution_write_stdin",
                                 boxlite_execution_write_stdin(exec, (const uint8_t *)"\n", 1, &err),
                                 &err);
    failed = failed || expect_ok(c, "boxlite_execution_wait",
                                 boxlite_execution_wait(exec, WAIT_MS, &result, &err), &err);
    char size[32];
    snprintf(size, sizeof size, "%d %d", rows, cols);
    if (!failed && result.exit_code != 0) {
        failed = fail(c, "the tty command exited %d, output \"%s\"", result.exit_code,
                      cap.out ? cap.out : "");
    } else if (!failed && strstr(cap.out ? cap.out : "", size) == NULL) {
        failed = fail(c, "output \"%s\" lacks the size \"%s\"", cap.out ? cap.out : "", size);
    } else if (!failed && cap.err_len != 0) {
        failed = fail(c, "a tty exec wrote to stderr: \"%s\"", cap.err);
    }
    boxlite_execution_free(exec);
    boxlite_command_free(cmd);
    capture_free(&cap);
    return one_box_down(c, &b, failed);
}

int exec_timeout_kills(struct ctx *c) {
    const char *secs_s;
    if (param(c, "timeout_secs", &secs_s)) {
        return 1;
    }
    double secs = atof(secs_s);
    const char *const argv[] = {"sh", "-c", "trap \"\" TERM; sleep 60", NULL};
    struct one_box b;
    BoxliteCommand *cmd = NULL;
    BoxliteExecResult result;
    BoxliteError *err = NULL;
    int failed = one_box_up(c, &b) || command(c, &cmd, argv) ||
                 expect_ok(c, "boxlite_command_set_timeout_ms",
                           boxlite_command_set_timeout_ms(cmd, (uint64_t)(secs * 1000), &err), &err);
    double started = now_s();
    failed = failed || run_command(c, b.box, cmd, NULL, &result);
    double took = now_s() - started;
    /* The 1 s kill grace, plus slack for valgrind: far below the 60 s the command wants. */
    if (!failed && !result.timed_out) {
        failed = fail(c, "result does not say timed out (exit %d, signal %d)", result.exit_code,
                      result.signal);
    } else if (!failed && result.signal == 0) {
        failed = fail(c, "a command that ignores SIGTERM was not killed (exit %d)",
                      result.exit_code);
    } else if (!failed && (took < secs || took > secs + 1 + 20)) {
        failed = fail(c, "the timed-out exec took %.1f s for a %.1f s timeout", took, secs);
    }
    if (!failed) {
        /* pidof exits 1 when no such process is left in the box. */
        const char *const check[] = {"pidof", "sleep", NULL};
        BoxliteCommand *pidof = NULL;
        BoxliteExecResult left;
        failed = command(c, &pidof, check) || run_command(c, b.box, pidof, NULL, &left);
        if (!failed && left.exit_code == 0) {
            failed = fail(c, "the sleep of the timed-out command is still running");
        }
        boxlite_command_free(pidof);
    }
    boxlite_command_free(cmd);
    return one_box_down(c, &b, failed);
}

/* An exec that must fail to start with the scenario's code; `cwd` may be NULL. */
static int exec_fails(struct ctx *c, const char *program, const char *cwd) {
    const char *want;
    if (param(c, "code", &want)) {
        return 1;
    }
    const char *const argv[] = {program, NULL};
    struct one_box b;
    BoxliteCommand *cmd = NULL;
    BoxliteExecution *exec = NULL;
    BoxliteError *err = NULL;
    int failed = one_box_up(c, &b) || command(c, &cmd, argv);
    if (!failed && cwd != NULL) {
        failed = expect_ok(c, "boxlite_command_set_working_dir",
                           boxlite_command_set_working_dir(cmd, cwd, &err), &err);
    }
    if (!failed) {
        failed = expect_code(c, "boxlite_box_exec", boxlite_box_exec(b.box, cmd, &exec, &err),
                             &err, want);
        if (!failed && exec != NULL) {
            failed = fail(c, "a failed exec wrote its out parameter");
        }
    }
    boxlite_command_free(cmd);
    return one_box_down(c, &b, failed);
}

int exec_command_not_found(struct ctx *c) {
    const char *command_p;
    return param(c, "command", &command_p) || exec_fails(c, command_p, NULL);
}

int exec_not_executable(struct ctx *c) {
    const char *command_p;
    return param(c, "command", &command_p) || exec_fails(c, command_p, NULL);
}

int exec_bad_working_dir(struct ctx *c) {
    const char *cwd;
    return param(c, "cwd", &cwd) || exec_fails(c, "pwd", cwd);
}

int failed_start_is_visible(struct ctx *c) {
    const char *image, *want;
    if (param(c, "image", &image) || param(c, "code", &want)) {
        return 1;
    }
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    BoxliteBoxInfo *info = NULL;
    BoxliteError *err = NULL;
    int failed = open_runtime(c, &rt) ||
                 expect_ok(c, "boxlite_box_create", boxlite_box_create(rt, image, NULL, &box, &err), &err);
    failed = failed || expect_code(c, "boxlite_box_start", boxlite_box_start(box, &err), &err, want);
    failed = failed || expect_ok(c, "boxlite_box_get_info",
                                 boxlite_box_get_info(rt, boxlite_box_id(box), &info, &err), &err);
    /* The path part of oci:PATH:TAG is what the reason must name. */
    char path[256];
    snprintf(path, sizeof path, "%s", strncmp(image, "oci:", 4) == 0 ? image + 4 : image);
    char *tag = strrchr(path, ':');
    if (tag != NULL) {
        *tag = '\0';
    }
    if (!failed && info == NULL) {
        failed = fail(c, "the box that failed to start is gone");
    } else if (!failed && strcmp(boxlite_box_info_status(info), "failed") != 0) {
        failed = fail(c, "status is %s, want failed", boxlite_box_info_status(info));
    } else if (!failed && (boxlite_box_info_error_reason(info) == NULL ||
                           strstr(boxlite_box_info_error_reason(info), path) == NULL)) {
        const char *reason = boxlite_box_info_error_reason(info);
        failed = fail(c, "error_reason \"%s\" does not name %s", reason ? reason : "NULL", path);
    }
    boxlite_box_info_free(info);
    failed |= box_down(c, rt, box);
    boxlite_runtime_free(rt);
    return failed;
}

int files_survive_stop_start(struct ctx *c) {
    const char *content;
    if (param(c, "content", &content)) {
        return 1;
    }
    struct one_box b;
    BoxliteError *err = NULL;
    const char *const write[] = {"sh", "-c", "printf %s \"$1\" > /root/spec-file", "sh", content, NULL};
    const char *const read[] = {"cat", "/root/spec-file", NULL};
    int failed = one_box_up(c, &b) || run_expect(c, b.box, write, "") ||
                 expect_ok(c, "boxlite_box_stop", boxlite_box_stop(b.box, STOP_GRACE_MS, &err), &err);
    failed = failed || expect_status(c, b.box, "stopped") ||
             expect_ok(c, "boxlite_box_start", boxlite_box_start(b.box, &err), &err);
    failed = failed || run_expect(c, b.box, read, content);
    return one_box_down(c, &b, failed);
}

int list_shows_running_boxes(struct ctx *c) {
    BoxliteRuntime *rt = NULL;
    BoxliteBox *boxes[3] = {NULL, NULL, NULL};
    const char *want[3] = {"running", "running", "configured"};
    BoxliteBoxList *list = NULL;
    BoxliteError *err = NULL;
    int failed = open_runtime(c, &rt) || box_up(c, rt, NULL, NULL, true, &boxes[0]) ||
                 box_up(c, rt, NULL, NULL, true, &boxes[1]) ||
                 box_up(c, rt, NULL, NULL, false, &boxes[2]) ||
                 expect_ok(c, "boxlite_box_list", boxlite_box_list(rt, &list, &err), &err);
    if (!failed && boxlite_box_list_len(list) != 3) {
        failed = fail(c, "list has %zu boxes, want 3", boxlite_box_list_len(list));
    }
    for (size_t i = 0; i < 3 && !failed; i++) {
        const BoxliteBoxInfo *found = NULL;
        for (size_t j = 0; j < boxlite_box_list_len(list); j++) {
            const BoxliteBoxInfo *info = boxlite_box_list_get(list, j);
            if (strcmp(boxlite_box_info_id(info), boxlite_box_id(boxes[i])) == 0) {
                found = info;
            }
        }
        if (found == NULL) {
            failed = fail(c, "box %s is not listed", boxlite_box_id(boxes[i]));
        } else if (strcmp(boxlite_box_info_status(found), want[i]) != 0) {
            failed = fail(c, "box %s is listed %s, want %s", boxlite_box_id(boxes[i]),
                          boxlite_box_info_status(found), want[i]);
        }
    }
    boxlite_box_list_free(list);
    for (size_t i = 0; i < 3; i++) {
        failed |= box_down(c, rt, boxes[i]);
    }
    boxlite_runtime_free(rt);
    return failed;
}

int get_missing_is_none(struct ctx *c) {
    const char *key;
    if (param(c, "key", &key)) {
        return 1;
    }
    BoxliteRuntime *rt = NULL;
    /* Sentinels: a call that wrote nothing would leave them, and they must become NULL. */
    BoxliteBox *box = (BoxliteBox *)&box;
    BoxliteBoxInfo *info = (BoxliteBoxInfo *)&info;
    BoxliteError *err = NULL;
    int failed = open_runtime(c, &rt) ||
                 expect_ok(c, "boxlite_box_get", boxlite_box_get(rt, key, &box, &err), &err);
    failed = failed ||
             expect_ok(c, "boxlite_box_get_info", boxlite_box_get_info(rt, key, &info, &err), &err);
    if (!failed && (box != NULL || info != NULL)) {
        failed = fail(c, "get/get_info of a missing box did not write NULL");
    }
    boxlite_runtime_free(rt);
    return failed;
}

static int run_self(struct ctx *c, char *const *argv, char *out, size_t cap);

/* Runs `self --reattach HOME NAME` and reads its stdout into `out`. */
static int run_reattach(struct ctx *c, const char *name, char *out, size_t cap) {
    char *const argv[] = {(char *)c->self, "--reattach", (char *)c->home, (char *)name, NULL};
    return run_self(c, argv, out, cap);
}

int detached_box_reattached(struct ctx *c) {
    const char *name, *output, *image;
    if (param(c, "name", &name) || param(c, "output", &output) || run_image(c, &image)) {
        return 1;
    }
    char options[1024];
    snprintf(options, sizeof options, "{\"image\": \"%s\", \"detach\": true}", image);
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    char got[1024] = "";
    char want[256];
    snprintf(want, sizeof want, "%s\n", output);
    int failed = open_runtime(c, &rt) || box_up(c, rt, options, name, true, &box) ||
                 run_reattach(c, name, got, sizeof got);
    if (!failed && strcmp(got, want) != 0) {
        failed = fail(c, "the second process read \"%s\", want \"%s\"", got, want);
    }
    failed = failed || expect_status(c, box, "running");
    failed |= box_down(c, rt, box);
    boxlite_runtime_free(rt);
    return failed;
}

int reattach_main(const char *home, const char *name) {
    struct spec_scenario sc = {"detached_box_reattached (second process)", NULL, 0};
    struct ctx c = {NULL, &sc, home, NULL, ""};
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    BoxliteCommand *cmd = NULL;
    BoxliteError *err = NULL;
    struct capture cap;
    capture_init(&cap);
    BoxliteExecResult result;
    const char *const argv[] = {"echo", "attached", NULL};
    int failed = open_runtime(&c, &rt) ||
                 expect_ok(&c, "boxlite_box_get", boxlite_box_get(rt, name, &box, &err), &err);
    if (!failed && box == NULL) {
        failed = fail(&c, "no box named %s in %s", name, home);
    }
    failed = failed || command(&c, &cmd, argv) || run_command(&c, box, cmd, &cap, &result);
    if (!failed && result.exit_code != 0) {
        failed = fail(&c, "echo exited %d", result.exit_code);
    }
    if (!failed) {
        fputs(cap.out ? cap.out : "", stdout);
    } else {
        fprintf(stderr, "reattach: %s\n", c.why);
    }
    boxlite_command_free(cmd);
    capture_free(&cap);
    boxlite_box_free(box);
    boxlite_runtime_free(rt);
    return failed;
}

/* Runs `self ARGS...` and waits for it; stdout goes to `out` (if not NULL). */
static int run_self(struct ctx *c, char *const *argv, char *out, size_t cap) {
    int fds[2];
    if (pipe(fds) != 0) {
        return fail(c, "pipe: %s", strerror(errno));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    pid_t pid;
    int rc = posix_spawn(&pid, c->self, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return fail(c, "spawn %s: %s", c->self, strerror(rc));
    }
    char scratch[4096];
    size_t len = 0;
    ssize_t n;
    /* Reads until the child closes its stdout (it exits; its own waits are bounded), keeping
     * what fits in `out` and draining the rest so the child never blocks on a full pipe. */
    for (;;) {
        int keep = out != NULL && len + 1 < cap;
        n = keep ? read(fds[0], out + len, cap - 1 - len) : read(fds[0], scratch, sizeof scratch);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += keep ? (size_t)n : 0;
    }
    if (out == NULL) {
        out = scratch;
        len = 0;
    }
    out[len] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR) {
            return fail(c, "waitpid: %s", strerror(errno));
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return fail(c, "%s %s failed (wait status %d), printed \"%s\"", c->self, argv[1], status,
                    out);
    }
    return 0;
}

int shutdown_stops_boxes(struct ctx *c) {
    BoxliteRuntime *rt = NULL, *reader = NULL;
    BoxliteBox *boxes[2] = {NULL, NULL};
    BoxliteError *err = NULL;
    int failed = open_runtime(c, &rt) || box_up(c, rt, NULL, NULL, true, &boxes[0]) ||
                 box_up(c, rt, NULL, NULL, true, &boxes[1]) ||
                 expect_ok(c, "boxlite_runtime_shutdown",
                           boxlite_runtime_shutdown(rt, STOP_GRACE_MS, &err), &err);
    failed = failed || expect_ok(c, "second boxlite_runtime_shutdown",
                                 boxlite_runtime_shutdown(rt, STOP_GRACE_MS, &err), &err);
    if (!failed) {
        BoxliteBoxList *list = NULL;
        BoxliteBox *created = NULL;
        failed = expect_code(c, "boxlite_box_list after shutdown", boxlite_box_list(rt, &list, &err),
                             &err, "invalid_state");
        failed = failed || expect_code(c, "boxlite_box_start after shutdown",
                                       boxlite_box_start(boxes[0], &err), &err, "invalid_state");
        const char *image;
        failed = failed || run_image(c, &image) ||
                 expect_code(c, "boxlite_box_create after shutdown",
                             boxlite_box_create(rt, image, NULL, &created, &err), &err, "invalid_state");
        boxlite_box_list_free(list);
        boxlite_box_free(created);
    }
    /* The statuses come from the database, through a runtime that was not shut down; it also
     * removes the boxes, which the shut-down one can no longer do. */
    failed = open_runtime(c, &reader) || failed;
    for (size_t i = 0; i < 2; i++) {
        BoxliteBox *mine = NULL;
        if (boxes[i] != NULL && reader != NULL) {
            failed |= expect_ok(c, "boxlite_box_get", boxlite_box_get(reader, boxlite_box_id(boxes[i]), &mine, &err), &err);
            failed = failed || (mine == NULL ? fail(c, "box vanished") : expect_status(c, mine, "stopped"));
        }
        failed |= box_down(c, reader, mine);
        boxlite_box_free(boxes[i]);
    }
    boxlite_runtime_free(reader);
    boxlite_runtime_free(rt);
    return failed;
}

/* Counts newlines arriving on stdout and stderr without keeping the data. */
struct line_counts {
    size_t out, err;
};

static size_t newlines(const uint8_t *data, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        n += data[i] == '\n';
    }
    return n;
}

static void count_stdout(const uint8_t *data, size_t len, void *user_data) {
    ((struct line_counts *)user_data)->out += newlines(data, len);
}

static void count_stderr(const uint8_t *data, size_t len, void *user_data) {
    ((struct line_counts *)user_data)->err += newlines(data, len);
}

int exec_concurrent_streams(struct ctx *c) {
    const char *lines_s;
    if (param(c, "lines", &lines_s)) {
        return 1;
    }
    size_t lines = (size_t)atol(lines_s);
    char script[256];
    snprintf(script, sizeof script,
             "i=0; while [ $i -lt %zu ]; do echo out $i; echo err $i >&2; i=$((i+1)); done", lines);
    const char *const argv[] = {"sh", "-c", script, NULL};
    struct one_box b;
    BoxliteCommand *cmd = NULL;
    struct line_counts counts = {0, 0};
    BoxliteExecResult result;
    BoxliteError *err = NULL;
    int failed = one_box_up(c, &b) || command(c, &cmd, argv) ||
                 expect_ok(c, "boxlite_command_set_output",
                           boxlite_command_set_output(cmd, count_stdout, count_stderr, &counts, &err), &err) ||
                 run_command(c, b.box, cmd, NULL, &result);
    /* Read after wait returned: the header promises every callback has returned by then. */
    if (!failed && result.exit_code != 0) {
        failed = fail(c, "the writer exited %d", result.exit_code);
    } else if (!failed && (counts.out != lines || counts.err != lines)) {
        failed = fail(c, "counted %zu stdout and %zu stderr lines, want %zu each", counts.out,
                      counts.err, lines);
    }
    boxlite_command_free(cmd);
    return one_box_down(c, &b, failed);
}

/* ---- checks of the C API beyond spec.tsv (not in the results file) ---- */

int c_simple_output_is_capped(struct ctx *c) {
    const char *image;
    if (run_image(c, &image)) {
        return 1;
    }
    /* 10 bytes past the cap on stdout, a short line on stderr, a distinctive exit code. */
    char script[256];
    snprintf(script, sizeof script,
             "head -c %llu /dev/zero; echo done >&2; exit 5",
             (unsigned long long)BOXLITE_SIMPLE_OUTPUT_LIMIT_BYTES + 10);
    const char *const argv[] = {"sh", "-c", script, NULL};
    BoxliteRuntime *rt = NULL;
    BoxliteSimple *sb = NULL;
    BoxliteSimpleResult *res = NULL;
    BoxliteError *err = NULL;
    int failed = open_runtime(c, &rt) ||
                 expect_ok(c, "boxlite_simple_new", boxlite_simple_new(rt, image, &sb, &err), &err) ||
                 expect_ok(c, "boxlite_simple_run", boxlite_simple_run(sb, argv, &res, &err), &err);
    size_t out_len = 0, err_len = 0;
    const char *out = boxlite_simple_result_stdout(res, &out_len);
    const char *errs = boxlite_simple_result_stderr(res, &err_len);
    if (!failed && boxlite_simple_result_exit_code(res) != 5) {
        failed = fail(c, "exit code %d, want 5", boxlite_simple_result_exit_code(res));
    } else if (!failed && (out_len != BOXLITE_SIMPLE_OUTPUT_LIMIT_BYTES || out[out_len] != '\0')) {
        failed = fail(c, "stdout kept %zu bytes, want the cap %zu, NUL-terminated", out_len,
                      (size_t)BOXLITE_SIMPLE_OUTPUT_LIMIT_BYTES);
    } else if (!failed && !boxlite_simple_result_truncated(res)) {
        failed = fail(c, "output past the cap is not reported as truncated");
    } else if (!failed && (err_len != 5 || strcmp(errs, "done\n") != 0)) {
        failed = fail(c, "stderr is \"%s\" (%zu bytes), want \"done\\n\"", errs, err_len);
    }
    /* The box belongs to the handle: freeing it removes the box. */
    char id[64] = "";
    if (sb != NULL) {
        snprintf(id, sizeof id, "%s", boxlite_simple_id(sb));
    }
    boxlite_simple_result_free(res);
    boxlite_simple_free(sb);
    BoxliteBoxInfo *info = NULL;
    if (!failed) {
        failed = expect_ok(c, "boxlite_box_get_info", boxlite_box_get_info(rt, id, &info, &err), &err);
        if (!failed && info != NULL) {
            failed = fail(c, "boxlite_simple_free left box %s behind (%s)", id,
                          boxlite_box_info_status(info));
        }
    }
    boxlite_box_info_free(info);
    boxlite_runtime_free(rt);
    return failed;
}
