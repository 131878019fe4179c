/* quickstart: run `echo hello` in a box made from a busybox image and print its output, with
 * boxlite's simple API. Usage: quickstart IMAGE (for example oci:/path/to/busybox:latest).
 * Build: cc quickstart.c $(pkg-config --cflags --libs boxlite) -o quickstart */
#include <boxlite.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s IMAGE\n", argv[0]);
        return 2;
    }
    BoxliteSimple *sb = NULL;
    BoxliteSimpleResult *result = NULL;
    BoxliteError *err = NULL;
    int rc = 1;

    /* NULL runtime: the default home ($BOXLITE_HOME, else ~/.boxlite). The box is started now
     * and removed by boxlite_simple_free. */
    if (boxlite_simple_new(NULL, argv[1], &sb, &err) != BOXLITE_OK) {
        fprintf(stderr, "start a box from %s: %s\n", argv[1], boxlite_error_message(err));
        goto out;
    }
    const char *const cmd[] = {"echo", "hello", NULL};
    if (boxlite_simple_run(sb, cmd, &result, &err) != BOXLITE_OK) {
        fprintf(stderr, "run echo: %s: %s\n", boxlite_error_code_name(boxlite_error_code(err)),
                boxlite_error_message(err));
        goto out;
    }
    size_t len = 0;
    const char *out = boxlite_simple_result_stdout(result, &len);
    fwrite(out, 1, len, stdout);
    printf("exit code %d (boxlite %s)\n", boxlite_simple_result_exit_code(result),
           boxlite_version());
    rc = boxlite_simple_result_exit_code(result) == 0 ? 0 : 1;
out:
    boxlite_error_free(err);
    boxlite_simple_result_free(result);
    boxlite_simple_free(sb);
    return rc;
}
