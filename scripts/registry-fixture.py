#!/usr/bin/env python3
"""Runs a real OCI registry on loopback for the image tests, until stdin closes.

Usage: registry-fixture.py [--auth none|basic|token] [--user U] [--password P]
                           [--token-anonymous-pull] [--push SRC=DEST[,FLAG...]]...

Starts Debian's `docker-registry` (CNCF distribution 2.8) on 127.0.0.1 with its own config and
filesystem storage in a fresh temporary directory, optionally behind HTTP basic auth (a bcrypt
htpasswd file) or the Docker Hub token flow (a token server run by this script on another
loopback port, issuing RS256 JWTs with an x5c header), and pushes images into it with skopeo.

--push SRC=DEST[,FLAG...] copies any skopeo source (oci:DIR:TAG, oci-archive:FILE,
docker-archive:FILE, ...) to docker://ADDR/DEST (DEST is REPO[:TAG], tag default latest).
Flags: v2s2 (Docker media types), all (copy a whole index), zstd (recompress layers to zstd).

Once the registry is ready and every push is done, exactly one JSON line goes to stdout:
  {"addr": "127.0.0.1:PORT", "pid": REGISTRY_PID, "dir": TEMP_DIR, "storage": STORAGE_DIR,
   "log": REGISTRY_LOG, "auth": "none|basic|token", "user": U or null, "password": P or null,
   "token_realm": URL or null, "service": NAME, "pushed": {DEST: MANIFEST_DIGEST}}
Afterwards each stdin line {"push": "SRC=DEST[,FLAG...]"} pushes one more image and is answered
by one stdout line, {"pushed": {DEST: DIGEST}} or {"error": MESSAGE}.

The script serves until stdin reaches EOF (also what happens when the parent dies) or it gets
SIGTERM/SIGINT; then it stops the registry (SIGTERM, then SIGKILL after a deadline) and the
token server and removes its temporary directory. Failing before ready, it cleans up the same
way and exits 1 with the reason on stderr. The registry also gets PR_SET_PDEATHSIG, so even a
SIGKILL of this script does not leave it behind.
"""

import argparse
import base64
import ctypes
import hmac
import http.server
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

SERVICE = "boxlite-test-registry"
ISSUER = "boxlite-test-token-issuer"
TOKEN_LIFETIME_S = 600
READY_TIMEOUT_S = 30.0
PUSH_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1
# distribution's repository name grammar (path components), then an optional tag.
DEST_RE = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
PUSH_FLAGS = ("v2s2", "all", "zstd")
TOOLS = {
    "docker-registry": "docker-registry",
    "skopeo": "skopeo",
    "htpasswd": "apache2-utils",
    "openssl": "openssl",
}


class Failure(Exception):
    """A setup step failed: the message is what the caller sees."""


class Stop(Exception):
    """SIGTERM or SIGINT arrived."""


def log(message):
    print(f"registry-fixture: {message}", file=sys.stderr, flush=True)


def on_signal(signum, _frame):
    raise Stop(signum)


def require_tool(name):
    if shutil.which(name) is None:
        raise Failure(f"{name} is not installed (apt-get install {TOOLS[name]}; "
                      "scripts/setup.sh installs it)")


# Resolved before any fork: the child between fork and exec should do as little as possible.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent():
    """preexec_fn: the child dies with this script, however this script dies. (SIGKILL: it
    cannot be blocked, and the child may inherit a mask that blocks SIGTERM.)"""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def start_thread(target, name):
    # Our handlers raise: one raised inside Thread.start() would leave the thread machinery
    # half-done, so the signal waits until the thread runs.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        threading.Thread(target=target, name=name, daemon=True).start()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)


def clean_env():
    # REGISTRY_* variables override the registry's config file: never inherit them.
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def run(argv, what, timeout_s=60.0):
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise Failure(f"{what}: {argv[0]} did not finish within {timeout_s:.0f} s")
    if done.returncode != 0:
        raise Failure(f"{what}: {argv[0]} exited with {done.returncode}: "
                      f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout


class TokenIssuer:
    """Signs registry tokens: RS256 JWTs over a self-signed certificate, which the registry
    trusts as its rootcertbundle and finds again in each token's x5c header."""

    def __init__(self, workdir, user, password, anonymous_pull):
        self.key = os.path.join(workdir, "token-key.pem")
        self.cert = os.path.join(workdir, "token-cert.pem")
        self.user = user
        self.password = password
        self.anonymous_pull = anonymous_pull
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
             "-out", self.cert, "-days", "2", "-subj", f"/CN={ISSUER}"],
            "creating the token signing certificate")
        der = run(["openssl", "x509", "-in", self.cert, "-outform", "DER"],
                  "reading the token signing certificate")
        self.x5c = base64.b64encode(der).decode()

    def sign(self, subject, access):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "iat": now, "nbf": now - 10,
                  "exp": now + TOKEN_LIFETIME_S, "jti": secrets.token_hex(16), "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        done = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                              input=signing_input, capture_output=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"openssl dgst -sign failed: {done.stderr.decode().strip()}")
        return signing_input.decode() + "." + b64url(done.stdout)

    def account(self, authorization):
        """The user named by valid Basic credentials, "" for none, None for wrong ones."""
        if not authorization:
            return ""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True) \
                .decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        ok_user = hmac.compare_digest(user.encode(), self.user.encode())
        ok_password = hmac.compare_digest(password.encode(), self.password.encode())
        return user if sep and ok_user and ok_password else None

    def grants(self, scopes, account):
        access = []
        for scope in scopes:
            kind, sep, rest = scope.partition(":")
            name, sep2, actions = rest.rpartition(":")
            if not sep or not sep2 or not name:
                continue  # malformed scopes are not granted, as real token servers do
            wanted = [a for a in actions.split(",") if a]
            if not account:
                wanted = [a for a in wanted if a == "pull"]
            if wanted:
                access.append({"type": kind, "name": name, "actions": wanted})
        return access


def token_handler(issuer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_args):
            pass  # the registry's log is the one tests read

        def reply(self, status, body, extra=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                return self.reply(404, {"error": "not found"})
            query = urllib.parse.parse_qs(url.query)
            if query.get("service", [SERVICE]) != [SERVICE]:
                return self.reply(400, {"error": f"unknown service {query['service']}"})
            account = issuer.account(self.headers.get("Authorization"))
            if account is None or (account == "" and not issuer.anonymous_pull):
                return self.reply(401, {"error": "authentication required"},
                                  [("WWW-Authenticate", f'Basic realm="{ISSUER}"')])
            access = issuer.grants(query.get("scope", []), account)
            try:
                token = issuer.sign(account, access)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                return self.reply(500, {"error": str(e)})
            issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.reply(200, {"token": token, "access_token": token,
                             "expires_in": TOKEN_LIFETIME_S, "issued_at": issued})

    return Handler


class Fixture:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="boxlite-registry-")
        self.storage = os.path.join(self.dir, "storage")
        self.log_path = os.path.join(self.dir, "registry.log")
        self.registry = None
        self.token_server = None
        self.token_realm = None
        self.addr = None
        self.children = set()  # running skopeo processes, killed on stop
        self.lock = threading.Lock()
        self.stopping = False
        self.stop_event = threading.Event()
        self.stop_reason = None
        self.ready = False
        self.out_lock = threading.Lock()

    # ---- start

    def start(self):
        a = self.args
        for tool in ("docker-registry", "skopeo"):
            require_tool(tool)
        auth_yaml = ""
        if a.auth == "basic":
            require_tool("htpasswd")
            line = run(["htpasswd", "-Bbn", a.user, a.password], "creating the htpasswd file")
            path = os.path.join(self.dir, "htpasswd")
            with open(path, "wb") as f:
                f.write(line.strip() + b"\n")
            auth_yaml = (f"auth:\n  htpasswd:\n    realm: {q(SERVICE)}\n"
                         f"    path: {q(path)}\n")
        elif a.auth == "token":
            require_tool("openssl")
            issuer = TokenIssuer(self.dir, a.user, a.password, a.token_anonymous_pull)
            # The registry reads the certificate at start: the issuer exists first.
            self.token_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                                token_handler(issuer))
            self.token_server.daemon_threads = True
            # shutdown() returns once serve_forever notices, within one poll interval.
            server = self.token_server
            start_thread(lambda: server.serve_forever(poll_interval=0.05), "token-server")
            port = self.token_server.server_address[1]
            self.token_realm = f"http://127.0.0.1:{port}/token"
            auth_yaml = (f"auth:\n  token:\n    realm: {q(self.token_realm)}\n"
                         f"    service: {q(SERVICE)}\n    issuer: {q(ISSUER)}\n"
                         f"    rootcertbundle: {q(issuer.cert)}\n")
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            # Port 0: the kernel picks a free port, and the registry's "listening on" line
            # names it, so there is no window in which another process could take it.
            f.write("version: 0.1\n"
                    "log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {q(self.storage)}\n"
                    "  delete:\n    enabled: true\n"
                    f"http:\n  addr: 127.0.0.1:0\n  secret: {q(secrets.token_hex(16))}\n"
                    + auth_yaml)
        self.start_registry(config)
        pushed = {}
        for spec in a.push:
            pushed.update(self.push(spec))
        return {"addr": self.addr, "pid": self.registry.pid, "dir": self.dir,
                "storage": self.storage, "log": self.log_path, "auth": a.auth,
                "user": a.user if a.auth != "none" else None,
                "password": a.password if a.auth != "none" else None,
                "token_realm": self.token_realm, "service": SERVICE, "pushed": pushed}

    def start_registry(self, config):
        logfile = open(self.log_path, "wb")
        events = queue.Queue()
        try:
            self.registry = subprocess.Popen(
                ["docker-registry", "serve", config], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=clean_env(),
                preexec_fn=die_with_parent)
        except OSError as e:
            logfile.close()
            raise Failure(f"cannot run docker-registry: {e}")

        def pump():
            # Copies the registry's log to the log file for as long as it runs, and reports
            # its address once it listens (the listener exists before that line is logged).
            listening = re.compile(rb'msg="listening on (127\.0\.0\.1:\d+)"')
            with logfile:
                for line in self.registry.stdout:
                    logfile.write(line)
                    logfile.flush()
                    match = listening.search(line)
                    if match:
                        events.put(("ready", match.group(1).decode()))
            events.put(("exited", None))
            self.request_stop("the registry exited")

        start_thread(pump, "registry-log")
        try:
            kind, addr = events.get(timeout=self.args.ready_timeout)
        except queue.Empty:
            raise Failure(f"docker-registry did not listen within {self.args.ready_timeout} s"
                          f"{self.log_tail()}")
        if kind != "ready":
            self.registry.wait(timeout=STOP_TIMEOUT_S)
            raise Failure(f"docker-registry exited with {self.registry.returncode} before "
                          f"listening{self.log_tail()}")
        self.addr = addr

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()[-15:]
        except OSError:
            return ""
        return "; its log ends with:\n" + "\n".join(lines) if lines else ""

    # ---- push

    def push(self, spec):
        source, sep, target = spec.rpartition("=")
        if not sep or not source:
            raise Failure(f"--push {spec!r}: expected SRC=DEST[,FLAG...]")
        dest, *flags = target.split(",")
        if not DEST_RE.match(dest):
            raise Failure(f"--push {spec!r}: {dest!r} is not a repository name with an "
                          "optional :TAG")
        unknown = [f for f in flags if f not in PUSH_FLAGS]
        if unknown:
            raise Failure(f"--push {spec!r}: unknown flag(s) {', '.join(unknown)} "
                          f"(known: {', '.join(PUSH_FLAGS)})")
        if "v2s2" in flags and "zstd" in flags:
            raise Failure(f"--push {spec!r}: Docker v2s2 manifests have no zstd layer type")
        ref = dest if ":" in dest.rsplit("/", 1)[-1] else dest + ":latest"
        scratch = tempfile.mkdtemp(prefix="push-", dir=self.dir)
        try:
            if "zstd" in flags:
                # skopeo 1.9 asked to recompress while pushing reuses a gzip blob of the same
                # layer already in the registry (its blob-info cache knows both): recompress
                # into a local layout first, then push that layout's exact bytes.
                staged = f"oci:{os.path.join(scratch, 'zstd')}:image"
                argv = ["skopeo", "--insecure-policy", "copy", "--quiet",
                        "--dest-compress-format", "zstd"]
                self.skopeo(argv + (["--all"] if "all" in flags else []) + [source, staged],
                            f"recompressing {source} with zstd")
                source = staged
            digestfile = os.path.join(scratch, "digest")
            argv = ["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
                    "--digestfile", digestfile] + self.dest_creds()
            if "v2s2" in flags:
                argv += ["--format", "v2s2"]
            else:
                # Without it skopeo may swap a layer for a differently compressed copy it
                # knows is in the registry; with it, the registry serves the source's bytes.
                argv.append("--preserve-digests")
            if "all" in flags:
                argv.append("--all")
            self.skopeo(argv + [source, f"docker://{self.addr}/{ref}"],
                        f"pushing {source} to {dest}")
            with open(digestfile) as f:
                digest = f.read().strip()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise Failure(f"pushing {source} to {dest}: skopeo wrote digest {digest!r}")
        if "v2s2" in flags:
            self.check_v2s2(dest, ref)
        return {dest: digest}

    def dest_creds(self):
        if self.args.auth == "none":
            return ["--dest-no-creds"]
        return ["--dest-creds", f"{self.args.user}:{self.args.password}"]

    def check_v2s2(self, dest, ref):
        """skopeo silently keeps the source's types when it cannot convert: say so instead."""
        argv = ["skopeo", "inspect", "--raw", "--tls-verify=false"]
        argv += ["--no-creds"] if self.args.auth == "none" else \
            ["--creds", f"{self.args.user}:{self.args.password}"]
        raw = self.skopeo(argv + [f"docker://{self.addr}/{ref}"], f"inspecting {dest}")
        media_type = json.loads(raw).get("mediaType", "")
        if not media_type.startswith("application/vnd.docker.distribution."):
            raise Failure(f"pushing {dest} with v2s2: the registry serves {media_type!r}")

    def skopeo(self, argv, what):
        """Runs skopeo, killable by stop(); returns its stdout."""
        try:
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=die_with_parent)
        except OSError as e:
            raise Failure(f"{what}: cannot run skopeo: {e}")
        with self.lock:
            if self.stopping:
                child.kill()
            self.children.add(child)
        try:
            out, err = child.communicate(timeout=PUSH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise Failure(f"{what}: skopeo took over {PUSH_TIMEOUT_S:.0f} s")
        finally:
            with self.lock:
                self.children.discard(child)
        if child.returncode != 0:
            text = (err or out).decode(errors="replace").strip()
            raise Failure(f"{what}: skopeo exited with {child.returncode}: {text}")
        return out

    # ---- serve and stop

    def emit(self, value):
        with self.out_lock:
            try:
                sys.stdout.write(json.dumps(value) + "\n")
                sys.stdout.flush()
            except OSError:
                # Whoever started us stopped listening: nobody can use the registry any more.
                self.request_stop("stdout closed")

    def request_stop(self, reason):
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stop_event.set()

    def read_commands(self):
        # Raw reads of fd 0: a daemon thread blocked inside sys.stdin's buffered reader makes
        # the interpreter abort at exit (it cannot take that reader's lock while finalizing).
        pending = b""
        while True:
            try:
                chunk = os.read(0, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                if raw.strip():
                    self.run_command(raw)
        self.request_stop("stdin closed")

    def run_command(self, raw):
        try:
            command = json.loads(raw)
            spec = command["push"]
            if not isinstance(spec, str):
                raise TypeError("push must be a string")
        except (ValueError, KeyError, TypeError) as e:
            self.emit({"error": f"bad command {raw.strip()[:200]!r}: {e}"})
            return
        try:
            self.emit({"pushed": self.push(spec)})
        except Failure as e:
            self.emit({"error": str(e)})

    def serve(self, ready):
        start_thread(self.read_commands, "stdin")
        self.ready = True  # first: a signal right after the line is a normal stop
        self.emit(ready)
        self.stop_event.wait()
        if self.stop_reason == "the registry exited":
            raise Failure(f"docker-registry exited while serving{self.log_tail()}")

    def stop(self):
        with self.lock:
            self.stopping = True
            children = list(self.children)
        for child in children:
            child.kill()
        if self.registry is not None and self.registry.poll() is None:
            self.registry.send_signal(signal.SIGTERM)
            try:
                self.registry.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log(f"docker-registry (pid {self.registry.pid}) ignored SIGTERM for "
                    f"{STOP_TIMEOUT_S} s: killing it")
                self.registry.kill()
                self.registry.wait()
        if self.token_server is not None:
            self.token_server.shutdown()
            self.token_server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)


def q(value):
    """A YAML scalar: JSON strings are valid double-quoted YAML."""
    return json.dumps(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auth", choices=("none", "basic", "token"), default="none")
    parser.add_argument("--user", default="boxlite")
    parser.add_argument("--password", default="s3cret")
    parser.add_argument("--token-anonymous-pull", action="store_true",
                        help="token mode: grant pull (only) to requests without credentials, "
                             "as Docker Hub does for public images")
    parser.add_argument("--push", action="append", default=[], metavar="SRC=DEST[,FLAG...]")
    parser.add_argument("--ready-timeout", type=float, default=READY_TIMEOUT_S,
                        metavar="SECONDS")
    args = parser.parse_args()
    if not args.user or ":" in args.user or not args.password:
        parser.error("--user must be non-empty without ':' and --password non-empty")
    if args.token_anonymous_pull and args.auth != "token":
        parser.error("--token-anonymous-pull needs --auth token")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fixture = None
    status = 0
    try:
        fixture = Fixture(args)
        fixture.serve(fixture.start())
    except Failure as e:
        log(str(e))
        status = 1
    except Stop as e:
        if fixture is None or not fixture.ready:
            log(f"stopped by signal {e.args[0]} before the registry was ready")
            status = 128 + e.args[0]
    finally:
        # A signal during cleanup must not cut it short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if fixture is not None:
            fixture.stop()
    # Not sys.exit: interpreter shutdown can abort while a daemon thread (a push in progress,
    # the token server) holds a stdio lock. Every line this script prints is flushed already.
    os._exit(status)


if __name__ == "__main__":
    main()
