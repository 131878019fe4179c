//! A real OCI registry on 127.0.0.1 for the image tests: `scripts/registry-fixture.py` runs
//! Debian's `docker-registry` (CNCF distribution 2.8), optionally behind basic or token auth,
//! pushes the requested images with skopeo, and stops everything when we close its stdin.
//!
//! ```ignore
//! let image = common::registry::busybox(Busybox::Gzip);
//! let reg = Registry::start(RegistryOptions {
//!     auth: Auth::Token,
//!     pushes: vec![Push::new(&image, "library/busybox:1")],
//!     ..Default::default()
//! });
//! let reference = reg.reference("library/busybox:1"); // 127.0.0.1:PORT/library/busybox:1
//! let digest = reg.digest("library/busybox:1"); // sha256:… of the pushed manifest
//! ```
//!
//! Every failure panics with the reason (a missing docker-registry, skopeo, htpasswd or openssl
//! is named; scripts/setup.sh installs them): a test never passes without its registry.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Every manifest type distribution 2.8 serves: without the OCI ones an OCI manifest is a 404,
/// and without the Docker ones a Docker image is downgraded to schema 1.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// Starting includes the pushes (a few MB each, well under a second here).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// The script itself gives skopeo up to 300 s per push.
const PUSH_TIMEOUT: Duration = Duration::from_secs(330);
/// The script waits up to 10 s for the registry to stop, then kills it.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Reading what is left in the stderr pipe of an exited fixture.
const STDERR_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// How clients authenticate to the registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// Open: anyone may pull and push.
    #[default]
    None,
    /// HTTP basic auth against a bcrypt htpasswd file (`WWW-Authenticate: Basic`).
    Basic,
    /// The Docker Hub flow: `WWW-Authenticate: Bearer realm=…`, a token server on another
    /// loopback port that checks basic credentials and issues RS256 JWTs for the asked scope.
    Token,
}

impl Auth {
    fn as_str(self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Basic => "basic",
            Auth::Token => "token",
        }
    }
}

/// One image to copy into the registry with `skopeo copy`.
#[derive(Clone, Debug)]
pub struct Push {
    /// Any skopeo source: `oci:DIR:TAG`, `oci-archive:FILE`, `docker-archive:FILE`, …
    pub source: String,
    /// `REPO[:TAG]` in the registry (tag default `latest`); also the key of [`Registry::digest`].
    pub dest: String,
    /// Convert to Docker media types (`skopeo --format v2s2`).
    pub v2s2: bool,
    /// Copy a whole index with every platform (`skopeo --all`), not just this host's image.
    pub all: bool,
    /// Recompress the layers with zstd (OCI types only; not with `v2s2`).
    pub zstd: bool,
}

impl Push {
    /// Pushes `source` as is (same manifest digest as the source for OCI sources).
    pub fn new(source: impl Into<String>, dest: impl Into<String>) -> Self {
        Push { source: source.into(), dest: dest.into(), v2s2: false, all: false, zstd: false }
    }

    /// With Docker media types.
    pub fn v2s2(mut self) -> Self {
        self.v2s2 = true;
        self
    }

    /// The whole index (every platform).
    pub fn all(mut self) -> Self {
        self.all = true;
        self
    }

    /// With zstd layers.
    pub fn zstd(mut self) -> Self {
        self.zstd = true;
        self
    }

    /// The script's `SRC=DEST[,FLAG...]` form.
    fn spec(&self) -> String {
        let mut spec = format!("{}={}", self.source, self.dest);
        for (on, flag) in [(self.v2s2, "v2s2"), (self.all, "all"), (self.zstd, "zstd")] {
            if on {
                spec.push(',');
                spec.push_str(flag);
            }
        }
        spec
    }
}

/// What [`Registry::start`] sets up.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    pub auth: Auth,
    /// Done before `start` returns, in order.
    pub pushes: Vec<Push>,
    /// The one account of basic and token auth (default `boxlite`).
    pub user: Option<String>,
    /// Its password (default `s3cret`).
    pub password: Option<String>,
    /// Token auth only: requests without credentials get pull-only tokens, like public images
    /// on Docker Hub (otherwise they get a 401 from the token server).
    pub anonymous_pull: bool,
}

/// A running registry; dropping it stops the registry and removes its directory.
pub struct Registry {
    child: Option<Child>,
    stdin: Mutex<Option<ChildStdin>>,
    lines: Mutex<Receiver<String>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Ready once the fixture's stderr is closed (it exited), so `stderr` is complete.
    stderr_done: Receiver<()>,
    auth: Auth,
    addr: String,
    registry_pid: u32,
    dir: PathBuf,
    storage: PathBuf,
    log: PathBuf,
    user: Option<String>,
    password: Option<String>,
    token_realm: Option<String>,
    service: String,
    pushed: Mutex<BTreeMap<String, String>>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/registry-fixture.py")
}

impl Registry {
    /// Starts a registry with `options` and waits until it is ready and every push is done.
    /// Panics with the reason (the script's stderr) if that fails.
    pub fn start(options: RegistryOptions) -> Registry {
        Self::try_start(options).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Registry::start`], returning the reason instead of panicking.
    pub fn try_start(options: RegistryOptions) -> Result<Registry, String> {
        let mut cmd = Command::new("python3");
        cmd.arg(script()).args(["--auth", options.auth.as_str()]);
        if let Some(user) = &options.user {
            cmd.args(["--user", user]);
        }
        if let Some(password) = &options.password {
            cmd.args(["--password", password]);
        }
        if options.anonymous_pull {
            cmd.arg("--token-anonymous-pull");
        }
        for push in &options.pushes {
            cmd.arg("--push").arg(push.spec());
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            format!("cannot run python3 {} (is python3 installed?): {e}", script().display())
        })?;
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        let (done_tx, stderr_done) = mpsc::channel();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = err_pipe.read(&mut chunk) {
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
            let _ = done_tx.send(());
        });

        let first = lines.recv_timeout(START_TIMEOUT);
        let fail = |mut child: Child, what: String| {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            let _ = stderr_done.recv_timeout(STDERR_DRAIN_TIMEOUT);
            let text = String::from_utf8_lossy(&stderr.lock().unwrap()).trim().to_owned();
            format!("registry fixture: {what} ({status}); its stderr:\n{text}")
        };
        let line = match first {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                return Err(fail(child, format!("not ready within {START_TIMEOUT:?}")));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(fail(child, "exited before it was ready".into()));
            }
        };
        let ready: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => return Err(fail(child, format!("printed {line:?}, not JSON: {e}"))),
        };
        let text = |key: &str| ready[key].as_str().map(str::to_owned);
        let (Some(addr), Some(dir), Some(storage), Some(log), Some(registry_pid)) = (
            text("addr"),
            text("dir"),
            text("storage"),
            text("log"),
            ready["pid"].as_u64().and_then(|p| u32::try_from(p).ok()),
        ) else {
            return Err(fail(child, format!("printed an incomplete ready line: {line}")));
        };
        let pushed = ready["pushed"]
            .as_object()
            .map(|m| {
                m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()
            })
            .unwrap_or_default();
        Ok(Registry {
            child: Some(child),
            stdin: Mutex::new(stdin),
            lines: Mutex::new(lines),
            stderr,
            stderr_done,
            auth: options.auth,
            addr,
            registry_pid,
            dir: dir.into(),
            storage: storage.into(),
            log: log.into(),
            user: text("user"),
            password: text("password"),
            token_realm: text("token_realm"),
            service: text("service").unwrap_or_default(),
            pushed: Mutex::new(pushed),
        })
    }

    /// `127.0.0.1:PORT`, the registry's host part in image references.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `127.0.0.1:PORT/DEST`: the reference a client pulls, e.g. `reference("busybox:1")`.
    pub fn reference(&self, dest: &str) -> String {
        format!("{}/{dest}", self.addr)
    }

    /// The manifest digest (`sha256:…`) pushed as `dest` (exactly as it was spelled in the
    /// [`Push`]); for [`Push::all`] the index's digest. Panics if nothing was pushed there.
    pub fn digest(&self, dest: &str) -> String {
        let pushed = self.pushed.lock().unwrap();
        pushed.get(dest).cloned().unwrap_or_else(|| {
            panic!("nothing was pushed as {dest:?}; pushed: {:?}", pushed.keys())
        })
    }

    /// Pushes one more image into the running registry; returns its manifest digest. Panics
    /// with skopeo's message on failure.
    pub fn push(&self, push: Push) -> String {
        self.try_push(push).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Registry::push`], returning the fixture's message instead of panicking.
    pub fn try_push(&self, push: Push) -> Result<String, String> {
        let lines = self.lines.lock().unwrap();
        {
            let mut stdin = self.stdin.lock().unwrap();
            let pipe = stdin.as_mut().ok_or("the registry fixture is stopping")?;
            let command = serde_json::json!({ "push": push.spec() }).to_string();
            writeln!(pipe, "{command}")
                .and_then(|_| pipe.flush())
                .map_err(|e| format!("cannot write to the registry fixture: {e}"))?;
        }
        let line = lines.recv_timeout(PUSH_TIMEOUT).map_err(|e| {
            format!("registry fixture: no answer to a push of {}: {e}", push.spec())
        })?;
        let answer: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| format!("registry fixture answered {line:?}: {e}"))?;
        if let Some(error) = answer["error"].as_str() {
            return Err(error.to_owned());
        }
        let digest = answer["pushed"][&push.dest]
            .as_str()
            .ok_or_else(|| format!("registry fixture answered {line:?}"))?
            .to_owned();
        self.pushed.lock().unwrap().insert(push.dest.clone(), digest.clone());
        Ok(digest)
    }

    pub fn auth(&self) -> Auth {
        self.auth
    }

    /// The account of basic and token auth; `None` for an open registry.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The account's password; `None` for an open registry.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Token auth: the token server's URL (`http://127.0.0.1:PORT/token`).
    pub fn token_realm(&self) -> Option<&str> {
        self.token_realm.as_deref()
    }

    /// Token auth: the `service` the registry names in its challenge.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// PID of the `docker-registry` process.
    pub fn registry_pid(&self) -> u32 {
        self.registry_pid
    }

    /// The fixture's temporary directory (config, storage, log, keys), removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The registry's filesystem storage (under [`Registry::dir`]).
    pub fn storage(&self) -> &Path {
        &self.storage
    }

    /// The registry's log (one line per request), e.g. to count the requests a pull made.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `METHOD http://ADDR{path}` with `headers`, no credentials added.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        http_request(method, &format!("http://{}{path}", self.addr), headers)
    }

    /// `GET http://ADDR{path}` with `headers`, no credentials added.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.request("GET", path, headers)
    }

    /// A token for `scope` (e.g. `repository:busybox:pull`) from the token server, with
    /// `credentials` as basic auth (or none); `Err` carries the token server's answer.
    /// Panics unless the registry uses [`Auth::Token`].
    pub fn token(
        &self,
        scope: &str,
        credentials: Option<(&str, &str)>,
    ) -> Result<String, HttpResponse> {
        let realm = self.token_realm.as_deref().expect("token() needs Auth::Token");
        let url = format!("{realm}?service={}&scope={scope}", self.service);
        let authorization = credentials.map(|(user, password)| basic_authorization(user, password));
        let headers: Vec<(&str, &str)> =
            authorization.iter().map(|a| ("Authorization", a.as_str())).collect();
        let response = http_get(&url, &headers);
        let token = (response.status == 200)
            .then(|| serde_json::from_slice::<serde_json::Value>(&response.body).ok())
            .flatten()
            .and_then(|v| v["token"].as_str().map(str::to_owned));
        token.ok_or(response)
    }

    /// The `Authorization` value the configured account uses for `scope`: `None` when open,
    /// `Basic …`, or `Bearer …` with a fresh token (panics if the token server refuses).
    pub fn authorization(&self, scope: &str) -> Option<String> {
        let (user, password) = (self.user.as_deref()?, self.password.as_deref()?);
        match self.auth {
            Auth::None => None,
            Auth::Basic => Some(basic_authorization(user, password)),
            Auth::Token => {
                let token = self.token(scope, Some((user, password))).unwrap_or_else(|r| {
                    panic!("token server refused {scope}: {} {}", r.status, r.text())
                });
                Some(format!("Bearer {token}"))
            }
        }
    }

    /// `GET /v2/{repo}/manifests/{reference}` (tag or digest) with [`MANIFEST_ACCEPT`] and the
    /// configured account's credentials.
    pub fn manifest(&self, repo: &str, reference: &str) -> HttpResponse {
        let auth = self.authorization(&format!("repository:{repo}:pull"));
        let mut headers = vec![("Accept", MANIFEST_ACCEPT)];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        self.get(&format!("/v2/{repo}/manifests/{reference}"), &headers)
    }

    /// Stops the fixture; returns its stderr. Errors say what did not stop.
    fn stop(&mut self) -> Result<String, String> {
        let Some(mut child) = self.child.take() else { return Ok(String::new()) };
        drop(self.stdin.lock().unwrap().take()); // EOF: the fixture cleans up and exits
        let exited = wait_exit(child.id(), STOP_TIMEOUT);
        if !exited {
            // Its registry has PR_SET_PDEATHSIG and dies with it.
            let _ = child.kill();
        }
        let status = child.wait().map_err(|e| format!("waiting for the fixture: {e}"))?;
        let _ = self.stderr_done.recv_timeout(STDERR_DRAIN_TIMEOUT);
        let stderr = String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned();
        if !exited {
            return Err(format!("the registry fixture did not stop within {STOP_TIMEOUT:?}"));
        }
        if !status.success() {
            return Err(format!("the registry fixture ended with {status}: {stderr}"));
        }
        Ok(stderr)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            if std::thread::panicking() {
                eprintln!("{e}");
            } else {
                panic!("{e}");
            }
        }
    }
}

/// Waits (pidfd + poll, bounded) until the child `pid` exits; false on timeout.
fn wait_exit(pid: u32, timeout: Duration) -> bool {
    // SAFETY: plain syscalls on an fd we own.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) as libc::c_int;
        if fd < 0 {
            return false; // no pidfd: the caller kills and reaps
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        let deadline = Instant::now() + timeout;
        let ready = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = libc::poll(&mut pfd, 1, left.as_millis() as i32);
            if n > 0 {
                break true;
            }
            if n == 0 || *libc::__errno_location() != libc::EINTR {
                break false;
            }
        };
        libc::close(fd);
        ready
    }
}

/// The busybox layouts of `scripts/make-busybox-image.py`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busybox {
    /// The default image (one gzip layer), the same bytes the box tests use.
    Gzip,
    /// One zstd layer.
    Zstd,
    /// One uncompressed layer.
    Plain,
    /// An index: linux/arm64/v8 (first) and this host's [`Busybox::Gzip`] manifest.
    Index,
}

/// `oci:DIR:latest` of a busybox layout, built once and reused (keyed by the builder's hash,
/// so a changed builder builds afresh). Panics if building fails.
pub fn busybox(variant: Busybox) -> String {
    static BUILT: OnceLock<Mutex<BTreeMap<&'static str, String>>> = OnceLock::new();
    let args: (&str, &[&str]) = match variant {
        Busybox::Gzip => ("gzip", &[]),
        Busybox::Zstd => ("zstd", &["--compression", "zstd"]),
        Busybox::Plain => ("plain", &["--compression", "none"]),
        Busybox::Index => ("index", &["--index"]),
    };
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    if let Some(reference) = built.get(args.0) {
        return reference.clone();
    }
    let builder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make-busybox-image.py");
    let source = std::fs::read(&builder).unwrap();
    let hash = hex(&Sha256::digest(&source)[..6]);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("registry-images");
    let dir = root.join(format!("busybox-{}-{hash}", args.0));
    if !dir.join("index.json").exists() {
        std::fs::create_dir_all(&root).unwrap();
        // Other test binaries may build the same layout at once: build aside, then rename into
        // place; whoever loses the rename uses the winner's (identical) layout.
        let staged = root.join(format!(".busybox-{}-{hash}.{}", args.0, std::process::id()));
        let output = Command::new("python3")
            .arg(&builder)
            .arg(&staged)
            .args(args.1)
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", builder.display()));
        assert!(
            output.status.success(),
            "make-busybox-image.py {:?} failed: {}",
            args.1,
            String::from_utf8_lossy(&output.stderr)
        );
        if std::fs::rename(&staged, &dir).is_err() {
            std::fs::remove_dir_all(&staged).unwrap();
            assert!(dir.join("index.json").exists(), "{} was not built", dir.display());
        }
    }
    let reference = format!("oci:{}:latest", dir.display());
    built.insert(args.0, reference.clone());
    reference
}

/// The manifest digest the `oci:DIR:TAG` layout's index.json names for its (only) tag.
pub fn layout_digest(reference: &str) -> String {
    let dir = reference.strip_prefix("oci:").and_then(|r| r.rsplit_once(':')).unwrap().0;
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(dir).join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

/// `sha256:HEX` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(data)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A response read whole (the connection is closed after it).
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// In order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics (showing the body) if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body as text, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `Basic BASE64(user:password)`.
pub fn basic_authorization(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// `GET url` (plain `http://HOST:PORT/PATH` only).
pub fn http_get(url: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http_request("GET", url, headers)
}

/// One HTTP/1.1 request without a body; panics on I/O errors and malformed answers.
pub fn http_request(method: &str, url: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("not an http:// URL: {url}"));
    let (host, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let addr = host.to_socket_addrs().unwrap().next().unwrap();
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {host}: {e}"));
    stream.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(HTTP_TIMEOUT)).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if method != "GET" && method != "HEAD" {
        request.push_str("Content-Length: 0\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    parse_response(&raw, method == "HEAD")
        .unwrap_or_else(|e| panic!("{method} {url}: {e}: {:?}", String::from_utf8_lossy(&raw)))
}

fn parse_response(raw: &[u8], head: bool) -> Result<HttpResponse, String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of headers")?;
    let head_text = std::str::from_utf8(&raw[..end]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = HttpResponse { status, headers, body: Vec::new() };
    let body = &raw[end + 4..];
    if head {
        return Ok(response);
    }
    let chunked =
        response.header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    response.body = if chunked { dechunk(body)? } else { body.to_vec() };
    if let Some(len) = response.header("Content-Length").and_then(|v| v.parse::<usize>().ok()) {
        if !chunked && response.body.len() != len {
            return Err(format!("body is {} bytes, Content-Length {len}", response.body.len()));
        }
    }
    Ok(response)
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").ok_or("truncated chunk")?;
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
