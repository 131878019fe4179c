/* The box's network through the C binding (bindings-tests/spec.tsv, network_*). */
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* The info of `box` says network `want`. */
static int expect_network(struct ctx *c, BoxliteBox *box, const char *want) {
    BoxliteBoxInfo *info = NULL;
    BoxliteError *err = NULL;
    if (expect_ok(c, "boxlite_box_info", boxlite_box_info(box, &info, &err), &err)) {
        return 1;
    }
    const char *got = boxlite_box_info_network(info);
    int failed = (got == NULL || strcmp(got, want) != 0)
                     ? fail(c, "info network is \"%s\", want \"%s\"", got ? got : "(null)", want)
                     : 0;
    boxlite_box_info_free(info);
    return failed;
}

static int expect_enabled(struct ctx *c, BoxliteBox *box) {
    return expect_network(c, box, "enabled");
}

static int expect_disabled(struct ctx *c, BoxliteBox *box) {
    return expect_network(c, box, "disabled");
}

int network_enabled_has_eth0(struct ctx *c) {
    const char *image, *network, *ifaces, *resolv, *bogus, *bad_allow, *code;
    if (run_image(c, &image) || param(c, "network", &network) || param(c, "ifaces", &ifaces) ||
        param(c, "resolv", &resolv) || param(c, "bogus", &bogus) ||
        param(c, "bad_allow", &bad_allow) || param(c, "code", &code)) {
        return 1;
    }
    char options[512];
    snprintf(options, sizeof options, "{\"image\": \"%s\", \"network\": \"%s\"}", image, network);
    const char *const argv[] = {"sh", "-c", "ls /sys/class/net; cat /etc/resolv.conf", NULL};
    struct capture cap;
    capture_init(&cap);
    BoxliteExecResult result;
    int failed = run_in_new_box(c, options, expect_enabled, argv, &cap, &result);
    if (!failed) {
        char want[256];
        size_t len = 0;
        char names[128];
        snprintf(names, sizeof names, "%s", ifaces);
        for (char *name = strtok(names, " "); name != NULL; name = strtok(NULL, " ")) {
            len += (size_t)snprintf(want + len, sizeof want - len, "%s\n", name);
        }
        snprintf(want + len, sizeof want - len, "%s\n", resolv);
        if (result.exit_code != 0 || cap.out == NULL || strcmp(cap.out, want) != 0) {
            failed = fail(c, "the box printed \"%s\" (exit %d), want \"%s\"",
                          cap.out ? cap.out : "", result.exit_code, want);
        }
    }
    capture_free(&cap);
    if (!failed) {
        snprintf(options, sizeof options, "{\"image\": \"%s\"}", image);
        const char *const none[] = {"true", NULL};
        capture_init(&cap);
        failed = run_in_new_box(c, options, expect_disabled, none, &cap, &result);
        capture_free(&cap);
    }
    if (!failed) {
        BoxliteRuntime *rt = NULL;
        char bad_mode[512], dns_alone[512], bad_list[512];
        snprintf(bad_mode, sizeof bad_mode, "{\"image\": \"%s\", \"network\": \"%s\"}", image, bogus);
        snprintf(dns_alone, sizeof dns_alone, "{\"image\": \"%s\", \"dns\": [\"10.0.0.1\"]}", image);
        const char *const names_network[] = {"network", bogus, NULL};
        snprintf(bad_list, sizeof bad_list,
                 "{\"image\": \"%s\", \"network\": \"enabled\", \"allow_net\": [\"%s\"]}", image,
                 bad_allow);
        const char *const names_dns[] = {"dns", NULL};
        const char *const names_allow[] = {"allow_net", bad_allow, NULL};
        failed = open_runtime(c, &rt) || create_refused(c, rt, bad_mode, code, names_network) ||
                 create_refused(c, rt, dns_alone, code, names_dns) ||
                 create_refused(c, rt, bad_list, code, names_allow) || expect_no_boxes(c, rt);
        boxlite_runtime_free(rt);
    }
    return failed;
}
