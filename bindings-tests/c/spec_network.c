/* The box's network through the C binding (bindings-tests/spec.tsv, network_*). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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
    const char *const none[] = {"true", NULL};
    if (!failed) {
        snprintf(options, sizeof options, "{\"image\": \"%s\"}", image);
        capture_init(&cap);
        failed = run_in_new_box(c, options, expect_enabled, none, &cap, &result);
        capture_free(&cap);
    }
    if (!failed) {
        snprintf(options, sizeof options, "{\"image\": \"%s\", \"network\": \"disabled\"}", image);
        capture_init(&cap);
        failed = run_in_new_box(c, options, expect_disabled, none, &cap, &result);
        capture_free(&cap);
    }
    if (!failed) {
        BoxliteRuntime *rt = NULL;
        char bad_mode[512], dns_alone[512], bad_list[512];
        snprintf(bad_mode, sizeof bad_mode, "{\"image\": \"%s\", \"network\": \"%s\"}", image, bogus);
        snprintf(dns_alone, sizeof dns_alone,
                 "{\"image\": \"%s\", \"network\": \"disabled\", \"dns\": [\"10.0.0.1\"]}", image);
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

/* The body of GET / on `host`:`port`, read to EOF by the test's own client; every
 * read is bounded by SO_RCVTIMEO. Returns 0 and fills `body`, or fails. */
static int http_get(struct ctx *c, const char *host, uint16_t port, char *body, size_t size) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return fail(c, "socket: %s", strerror(errno));
    }
    struct timeval timeout = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int failed = fail(c, "connect to %s:%u: %s", host, port, strerror(errno));
        close(fd);
        return failed;
    }
    const char request[] = "GET / HTTP/1.0\r\n\r\n";
    char reply[4096];
    size_t len = 0;
    int failed = write(fd, request, sizeof request - 1) != (ssize_t)(sizeof request - 1)
                     ? fail(c, "send the request: %s", strerror(errno))
                     : 0;
    while (!failed && len < sizeof reply - 1) {
        ssize_t n = read(fd, reply + len, sizeof reply - 1 - len);
        if (n < 0) {
            failed = fail(c, "read the reply: %s", strerror(errno));
        } else if (n == 0) {
            break;
        }
        len += n > 0 ? (size_t)n : 0;
    }
    close(fd);
    reply[len] = '\0';
    const char *start = strstr(reply, "\r\n\r\n");
    if (!failed && start == NULL) {
        failed = fail(c, "the reply has no body: \"%s\"", reply);
    }
    if (!failed) {
        snprintf(body, size, "%s", start + 4);
    }
    return failed;
}

/* The info of `box` has one published port: its guest port, host ip and host port (0: none). */
static int box_port(struct ctx *c, BoxliteBox *box, uint16_t *guest, char *host_ip, size_t size,
                    uint16_t *host_port) {
    BoxliteBoxInfo *info = NULL;
    BoxliteError *err = NULL;
    if (expect_ok(c, "boxlite_box_info", boxlite_box_info(box, &info, &err), &err)) {
        return 1;
    }
    int failed = 0;
    size_t count = boxlite_box_info_port_count(info);
    if (count != 1) {
        failed = fail(c, "info has %zu ports, want 1", count);
    } else {
        const char *ip = boxlite_box_info_port_host_ip(info, 0);
        *guest = boxlite_box_info_port_guest_port(info, 0);
        snprintf(host_ip, size, "%s", ip ? ip : "(null)");
        *host_port = 0;
        boxlite_box_info_port_host_port(info, 0, host_port);
    }
    boxlite_box_info_free(info);
    return failed;
}

/* The box's metrics: with `counting`, network counters read and each above 0; else none. */
static int expect_counted(struct ctx *c, BoxliteBox *box, bool counting) {
    BoxliteBoxMetrics m;
    BoxliteError *err = NULL;
    if (expect_ok(c, "boxlite_box_metrics", boxlite_box_metrics(box, &m, &err), &err)) {
        return 1;
    }
    bool all_counted = m.network_bytes_sent > 0 && m.network_bytes_received > 0 &&
                       m.network_packets_sent > 0 && m.network_packets_received > 0;
    if (m.has_network != counting || (counting && !all_counted)) {
        return fail(c, "metrics: has_network %d, sent %llu B / %llu pkts, received %llu B / %llu "
                    "pkts; want has_network %d%s",
                    m.has_network, (unsigned long long)m.network_bytes_sent,
                    (unsigned long long)m.network_packets_sent,
                    (unsigned long long)m.network_bytes_received,
                    (unsigned long long)m.network_packets_received, counting,
                    counting ? " and every counter above 0" : "");
    }
    return 0;
}

int published_port_reaches_box(struct ctx *c) {
    const char *image, *guest_port, *body, *host_ip, *code;
    if (run_image(c, &image) || param(c, "guest_port", &guest_port) || param(c, "body", &body) ||
        param(c, "host_ip", &host_ip) || param(c, "code", &code)) {
        return 1;
    }
    char options[512];
    snprintf(options, sizeof options,
             "{\"image\": \"%s\", \"network\": \"enabled\", \"ports\": [{\"guest_port\": %s}]}",
             image, guest_port);
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    int failed = open_runtime(c, &rt) || box_up(c, rt, options, NULL, true, &box);
    uint16_t guest = 0, host_port = 0;
    char ip[64] = "";
    if (!failed) {
        failed = box_port(c, box, &guest, ip, sizeof ip, &host_port);
    }
    if (!failed && (guest != (uint16_t)atoi(guest_port) || strcmp(ip, host_ip) != 0 ||
                    host_port == 0)) {
        failed = fail(c, "info port is %s:%u -> %u, want %s:(bound) -> %s", ip, host_port, guest,
                      host_ip, guest_port);
    }
    if (!failed) {
        char serve[256];
        snprintf(serve, sizeof serve,
                 "mkdir -p /www && echo %s > /www/index.html && httpd -p %s -h /www", body,
                 guest_port);
        const char *const argv[] = {"sh", "-c", serve, NULL};
        BoxliteCommand *cmd = NULL;
        struct capture cap;
        capture_init(&cap);
        BoxliteExecResult result;
        failed = command(c, &cmd, argv) || run_command(c, box, cmd, &cap, &result);
        if (!failed && result.exit_code != 0) {
            failed = fail(c, "httpd exited %d: %s", result.exit_code, cap.err ? cap.err : "");
        }
        boxlite_command_free(cmd);
        capture_free(&cap);
    }
    char got[4096], want[256];
    if (!failed && !(failed = http_get(c, ip, host_port, got, sizeof got))) {
        snprintf(want, sizeof want, "%s\n", body);
        if (strcmp(got, want) != 0) {
            failed = fail(c, "GET / answered \"%s\", want \"%s\"", got, want);
        }
    }
    if (!failed) {
        failed = expect_counted(c, box, true);
    }
    if (!failed) {
        BoxliteError *err = NULL;
        failed = expect_ok(c, "boxlite_box_stop", boxlite_box_stop(box, STOP_GRACE_MS, &err), &err) ||
                 box_port(c, box, &guest, ip, sizeof ip, &host_port);
        if (!failed && host_port != 0) {
            failed = fail(c, "a stopped box still reports host port %u", host_port);
        }
    }
    if (!failed) {
        failed = expect_counted(c, box, false);
    }
    failed |= box_down(c, rt, box);
    if (!failed) {
        char off[512], zero[512];
        snprintf(off, sizeof off,
                 "{\"image\": \"%s\", \"network\": \"disabled\", \"ports\": [{\"guest_port\": %s}]}",
                 image, guest_port);
        snprintf(zero, sizeof zero,
                 "{\"image\": \"%s\", \"network\": \"enabled\", \"ports\": [{\"guest_port\": 0}]}",
                 image);
        const char *const names_ports[] = {"ports", NULL};
        const char *const names_zero[] = {"guest port", NULL};
        failed = create_refused(c, rt, off, code, names_ports) ||
                 create_refused(c, rt, zero, code, names_zero) || expect_no_boxes(c, rt);
    }
    boxlite_runtime_free(rt);
    return failed;
}
