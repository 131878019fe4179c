/* exec_stream: stream a command's stdout and stderr through callbacks while feeding its stdin,
 * with boxlite's box and execution API. Usage: exec_stream IMAGE.
 * Build: cc exec_stream.c $(pkg-config --cflags --libs boxlite) -o exec_stream */
#include <boxlite.h>
#include <stdio.h>
#include <string.h>

/* Output callbacks run on a thread of the library, one at a time; they only print here. */
static void on_stdout(const uint8_t *data, size_t len, void *user_data) {
    (void)user_data;
    fwrite(data, 1, len, stdout);
    fflush(stdout);
}

static void on_stderr(const uint8_t *data, size_t len, void *user_data) {
    size_t *stderr_bytes = user_data;
    *stderr_bytes += len;
    fwrite(data, 1, len, stderr);
}

/* Prints the failed step with the library's message; returns 1 so callers can `goto out`. */
static int check(const char *what, BoxliteErrorCode code, BoxliteError **err) {
    if (code == BOXLITE_OK) {
        return 0;
    }
    fprintf(stderr, "%s: %s: %s\n", what, boxlite_error_code_name(code),
            boxlite_error_message(*err));
    boxlite_error_free(*err);
    *err = NULL;
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s IMAGE\n", argv[0]);
        return 2;
    }
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    BoxliteCommand *cmd = NULL;
    BoxliteExecution *exec = NULL;
    BoxliteError *err = NULL;
    BoxliteExecResult result;
    size_t stderr_bytes = 0;
    int rc = 1;

    /* Each line read from stdin comes back on stdout, and its length on stderr. */
    const char *const script[] = {
        "sh", "-c", "while read -r line; do echo \"got: $line\"; echo \"${#line}\" >&2; done; exit 7",
        NULL};
    const char *lines[] = {"first line\n", "second line\n"};

    if (check("open", boxlite_runtime_open(NULL, &rt, &err), &err) ||
        check("create", boxlite_box_create(rt, argv[1], NULL, &box, &err), &err) ||
        check("start", boxlite_box_start(box, &err), &err) ||
        check("command", boxlite_command_new(script, &cmd, &err), &err) ||
        check("stdin", boxlite_command_set_stdin(cmd, true, &err), &err) ||
        check("output", boxlite_command_set_output(cmd, on_stdout, on_stderr, &stderr_bytes, &err), &err) ||
        check("exec", boxlite_box_exec(box, cmd, &exec, &err), &err)) {
        goto out;
    }
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (check("write stdin",
                  boxlite_execution_write_stdin(exec, (const uint8_t *)lines[i], strlen(lines[i]), &err),
                  &err)) {
            goto out;
        }
    }
    /* End of input ends the loop; wait returns after the last callback has returned. */
    if (check("close stdin", boxlite_execution_close_stdin(exec, &err), &err) ||
        check("wait", boxlite_execution_wait(exec, BOXLITE_WAIT_FOREVER, &result, &err), &err)) {
        goto out;
    }
    printf("exit code %d, %zu bytes on stderr\n", result.exit_code, stderr_bytes);
    rc = result.exit_code == 7 ? 0 : 1;
out:
    boxlite_execution_free(exec);
    boxlite_command_free(cmd);
    if (box != NULL) {
        /* The box's processes get 10 s to end after SIGTERM; then it is removed. */
        if (check("stop", boxlite_box_stop(box, BOXLITE_DEFAULT_STOP_TIMEOUT_MS, &err), &err) ||
            check("remove", boxlite_box_remove(rt, boxlite_box_id(box), false, &err), &err)) {
            rc = 1;
        }
    }
    boxlite_box_free(box);
    boxlite_runtime_free(rt);
    return rc;
}
