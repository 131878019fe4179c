// Types of `require('boxlite')` and `import … from 'boxlite'` (the JS layer in this directory).
// Records the native module returns as they are (BoxInfo, BoxLimits, BoxMetrics, BoxPort,
// BoxState, …) are re-exported from the generated ../native.d.ts, so they cannot drift.

import type {
  BoxInfo,
  BoxLimits,
  BoxMetrics,
  BoxPort,
  BoxState,
  CopyStats,
  FileEntry,
  ImageInfo,
  ImagePruneReport,
  PortSpec,
  VolumeSpec,
  RuntimeMetrics,
} from '../native';

export type {
  BoxInfo,
  BoxLimits,
  BoxMetrics,
  BoxPort,
  BoxState,
  CopyStats,
  FileEntry,
  ImageInfo,
  ImagePruneReport,
  PortSpec,
  VolumeSpec,
  RuntimeMetrics,
};

/** One of `errorCodes()`. */
export type ErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'invalid_state'
  | 'timeout'
  | 'image'
  | 'engine'
  | 'exec'
  | 'database'
  | 'io'
  | 'internal'
  | 'command_not_found'
  | 'not_executable'
  | 'bad_working_dir'
  | 'unauthorized'
  | 'unavailable';

/** One of `statusNames()`. */
export type BoxStatus =
  | 'configured'
  | 'starting'
  | 'running'
  | 'stopping'
  | 'stopped'
  | 'failed'
  | 'unknown';

/** An environment: an object, `[name, value]` pairs, or upstream's `{key, value}` entries. */
export type Env = Record<string, string> | Array<[string, string]> | Array<{ key: string; value: string }>;

/** Options of `new Boxlite(...)`. */
export interface BoxliteOptions {
  /** Home directory; unset is `$BOXLITE_HOME`, else `~/.boxlite`. */
  homeDir?: string | null;
  /**
   * Registries: transport, credentials, mirrors and search order. They come before those of
   * `$BOXLITE_IMAGE_REGISTRIES` and of the home's `config.json`.
   */
  imageRegistries?: ReadonlyArray<ImageRegistry> | null;
}

/** Credentials of a registry: basic, or a bearer token. */
export type RegistryAuth = { username: string; password: string } | { token: string };

/** How to reach one registry (upstream BoxLite's names). */
export interface ImageRegistry {
  /** `host[:port]` as written in references: `ghcr.io`, `127.0.0.1:5000`, `docker.io`. */
  host: string;
  /** Unset: http for loopback hosts, https for the others. */
  transport?: 'https' | 'http' | null;
  /** Accept any TLS certificate (https only). */
  skipVerify?: boolean | null;
  /** Search this registry for unqualified names (`alpine`), in list order. */
  search?: boolean | null;
  /** Unset: anonymous. */
  auth?: RegistryAuth | null;
  /** Registries serving the same repositories, tried before this one. */
  mirrors?: string[] | null;
}

/** The images of one home (`rt.images`). */
export declare class ImageHandle {
  private constructor();
  /** Pulls (or loads `oci:`, `oci-archive:`, `docker-archive:`) and unpacks an image. */
  pull(reference: string): Promise<ImageInfo>;
  /** Every cached image, newest first. */
  list(): Promise<ImageInfo[]>;
  /** The cached image named by a reference or an image id (12+ hex digits), or null. */
  inspect(reference: string): Promise<ImageInfo | null>;
  /** Refused with `invalid_state` while a box uses the image, unless `force`. */
  remove(reference: string, force?: boolean): Promise<void>;
  /** Removes every blob and unpacked root no image or box uses. */
  prune(): Promise<ImagePruneReport>;
}
/** Upstream's name of `BoxliteOptions`. */
export type JsOptions = BoxliteOptions;

/** The configuration of a box. Options upstream has and this version lacks are refused. */
export interface BoxOptions {
  /** Image reference: `alpine:3.20`, `127.0.0.1:5000/x:y`, `oci:PATH[:TAG]`, … (pulled at start). */
  image?: string | null;
  /** An OCI image layout directory (instead of `image`). */
  rootfsPath?: string | null;
  /** CPU limit in cores (fractions allowed). */
  cpus?: number | null;
  /** Memory limit in MiB, a whole number; default 1024. */
  memoryMib?: number | null;
  /** Most processes and threads at once; default 4096. */
  pidsMax?: number | null;
  /** `RLIMIT_NOFILE` soft limit of the box's processes; default 1024 (at most `nofileHard`). */
  nofileSoft?: number | null;
  /** `RLIMIT_NOFILE` hard limit; default 4096 (at least `nofileSoft`). */
  nofileHard?: number | null;
  /** Size of the `/tmp` tmpfs in MiB (when the image has no `/tmp`); default half the memory limit. */
  tmpSizeMib?: number | null;
  /** Size of one box log file in MiB; default 16. */
  logMaxSizeMib?: number | null;
  /** Box log files kept, the live one included; default 2. */
  logMaxFiles?: number | null;
  /** Size of the box's disk, which bounds its writable layer, in GiB (default 10). */
  diskSizeGb?: number | null;
  /**
   * Capabilities the box's root processes get beyond the default set (Docker's minus
   * CAP_MKNOD): `'CAP_SYS_PTRACE'`, `'sys_ptrace'` or `'ALL'`.
   */
  capAdd?: string[] | null;
  /** Capabilities taken from the default set; `'ALL'` keeps only `capAdd`'s. */
  capDrop?: string[] | null;
  /**
   * `'private'` (default: box root is an unprivileged host uid) or `'host'` (box root is host
   * root, for images that need it; reported in `BoxInfo.warnings`).
   */
  userns?: 'private' | 'host' | null;
  /**
   * `'default'` (the seccomp deny-list), `'unconfined'` (no filter) or an OCI seccomp profile
   * of the box's own, as an object or its JSON text, in place of the default filter (Docker's
   * profile files load as they are). The last two are reported in `BoxInfo.warnings`.
   */
  seccomp?: 'default' | 'unconfined' | string | Record<string, unknown> | null;
  /**
   * `'enabled'` (the default, as upstream's: an `eth0` whose connections the box's shim makes
   * from the host, never to the host itself or to link-local addresses) or `'disabled'`
   * (loopback only). `BoxInfo.network` says which.
   */
  network?: 'disabled' | 'enabled' | null;
  /** Resolvers (IP addresses) for the box's DNS queries, in place of the host's. */
  dns?: string[] | null;
  /**
   * With a network, the only destinations: host names, `'*.domain'` wildcards, IPv4
   * addresses and CIDRs; other names do not resolve and other addresses are refused.
   */
  allowNet?: string[] | null;
  /**
   * Box TCP ports published on the host: `{guestPort, hostPort?, protocol?, hostIp?}`
   * (`hostPort` unset: a free one; `hostIp` default `'127.0.0.1'`). Needs a network; a port
   * already taken fails the start. `BoxInfo.ports` reports the port bound.
   */
  ports?: PortSpec[] | null;
  /**
   * Host files and directories bind-mounted into the box: `{hostPath, guestPath, readOnly?}`.
   * The host path must exist and have no symbolic link in it; `readOnly` holds for box root
   * too. `BoxInfo.volumes` reports them.
   */
  volumes?: VolumeSpec[] | null;
  /** Absolute working directory of the main command and default of exec. */
  workingDir?: string | null;
  /** Environment; a later entry wins. */
  env?: Env | null;
  /** Remove the box when it stops; default true. */
  autoRemove?: boolean | null;
  /** Keep the box running after this process exits; needs `autoRemove: false`. */
  detach?: boolean | null;
  /** Replaces the image's Entrypoint. */
  entrypoint?: string[] | null;
  /** Replaces the image's Cmd. */
  cmd?: string[] | null;
  /** `uid[:gid]` or `name[:group]`. */
  user?: string | null;
}
/** Upstream's name of `BoxOptions`. */
export type JsBoxOptions = BoxOptions;

/** Every boxlite failure; `code` says which. */
export declare class BoxliteError extends Error {
  constructor(message: string, options?: { code?: ErrorCode; cause?: unknown });
  readonly code: ErrorCode;
  readonly name: string;
}

/** A command ran and failed where success was required (`CodeBox`). */
export declare class ExecError extends BoxliteError {
  constructor(command: string, exitCode: number, stderr: string);
  readonly command: string;
  readonly exitCode: number;
  readonly stderr: string;
}

/** An operation ran past its deadline (code `timeout`). */
export declare class TimeoutError extends BoxliteError {
  constructor(message: string, options?: { cause?: unknown });
}

/** Output the SDK had to parse was malformed. */
export declare class ParseError extends BoxliteError {
  constructor(message: string, options?: { cause?: unknown });
}

/** How a command ended. */
export interface ExecResult {
  /** The exit status, or 128 + the signal number when a signal ended it. */
  exitCode: number;
  /** The signal that ended it, or null. */
  signal: number | null;
  /** It ran past its `timeoutSecs` and its process group was killed. */
  timedOut: boolean;
  /** The kernel's OOM killer killed it (the box hit its memory limit). */
  oomKilled: boolean;
  /** Why it did not end on its own (timeout, OOM kill, signal); undefined when it did. */
  errorMessage?: string;
}

/** The whole output of a `SimpleBox.exec`. */
export interface SimpleExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The kernel's OOM killer killed the command (the box hit its memory limit). */
  oomKilled: boolean;
  errorMessage?: string;
}

/** One output stream as lines (each with its `\n`); async-iterable. */
export declare class ExecOutput implements AsyncIterable<string> {
  private constructor();
  /** The next line, or null at the end. */
  next(): Promise<string | null>;
  /** Stops reading; the rest is discarded. */
  close(): Promise<void>;
  [Symbol.asyncIterator](): AsyncGenerator<string, void, undefined>;
}
/** Upstream's names of the output streams. */
export type JsExecStdout = ExecOutput;
export type JsExecStderr = ExecOutput;

/** The stdin of a command. */
export declare class ExecStdin {
  private constructor();
  /** Writes bytes, or a string as UTF-8. */
  write(data: Uint8Array | string): Promise<void>;
  /** Writes `text` as UTF-8. */
  writeString(text: string): Promise<void>;
  /** Closes stdin (end of file). Idempotent. */
  close(): Promise<void>;
}
export type JsExecStdin = ExecStdin;

/** A running command. */
export declare class Execution {
  private constructor();
  /** The execution's id. */
  id(): string;
  /** The stdout stream; the same object on every call. */
  stdout(): ExecOutput;
  /** The stderr stream; the same object on every call. */
  stderr(): ExecOutput;
  /** The stdin writer. */
  stdin(): ExecStdin;
  /** Waits for the end; streams not taken by then are discarded. */
  wait(): Promise<ExecResult>;
  kill(): Promise<void>;
  signal(signal: number): Promise<void>;
  resizeTty(rows: number, cols: number): Promise<void>;
}
export type JsExecution = Execution;

/** Options of `copyIn` / `copyOut` (upstream's four, and `preserveOwners`). */
export interface CopyOptions {
  /** Copy directory trees (default true). */
  recursive?: boolean | null;
  /** Replace files and symlinks in the way (default true). */
  overwrite?: boolean | null;
  /** Copy what symlinks point to instead of the links (default false). */
  followSymlinks?: boolean | null;
  /** A directory copied into a directory lands as `dst/<name>` (default true). */
  includeParent?: boolean | null;
  /** Keep numeric owners (default false). */
  preserveOwners?: boolean | null;
}

/** The file methods of `Box` and `SimpleBox` (docs/files.md). */
export interface BoxFiles {
  /** Copies a host file or tree into the running box, as `docker cp` places it. */
  copyIn(hostPath: string, containerDest: string, opts?: CopyOptions | null): Promise<CopyStats>;
  /** Copies a box file or tree to the host. */
  copyOut(containerSrc: string, hostDest: string, opts?: CopyOptions | null): Promise<CopyStats>;
  /** The bytes of a box file (at most 64 MiB). */
  readFile(path: string): Promise<Buffer>;
  /** Replaces a box file (a string is written as UTF-8); mode default 0o644. */
  writeFile(path: string, data: Uint8Array | string, mode?: number | null): Promise<void>;
  /** The entries of a box directory, sorted by name. */
  listDir(path: string): Promise<FileEntry[]>;
}

/** A handle to one box. */
export declare class Box {
  private constructor();
  readonly id: string;
  readonly name: string | null;
  info(): Promise<BoxInfo>;
  /** Its usage now and this runtime's counters of it (usage null while it does not run). */
  metrics(): Promise<BoxMetrics>;
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after `timeoutSecs` (default 10). */
  stop(timeoutSecs?: number | null): Promise<void>;
  /** Runs a command; stdin is a pipe until `stdin().close()`. */
  exec(
    cmd: string,
    args?: string[] | null,
    env?: Env | null,
    tty?: boolean | null,
    user?: string | null,
    timeoutSecs?: number | null,
    cwd?: string | null,
  ): Promise<Execution>;
}
// The file methods, merged into the class declaration.
export interface Box extends BoxFiles {}
export type JsBox = Box;

/** What `getOrCreate` resolves to. */
export interface GetOrCreateResult {
  box: Box;
  created: boolean;
}

/** A home directory of boxes; opened off the JS thread by the first call. */
export declare class Boxlite {
  constructor(options?: BoxliteOptions);
  /** The process's shared runtime (a new one after it was shut down). */
  static withDefaultConfig(): Boxlite;
  /** Options of the shared runtime; before its first use only. */
  static initDefault(options: BoxliteOptions): void;
  /** The image store of this home. */
  readonly images: ImageHandle;
  create(options: BoxOptions, name?: string | null): Promise<Box>;
  getOrCreate(options: BoxOptions, name?: string | null): Promise<GetOrCreateResult>;
  get(idOrName: string): Promise<Box | null>;
  getInfo(idOrName: string): Promise<BoxInfo | null>;
  listInfo(): Promise<BoxInfo[]>;
  /** This runtime's counters since it was opened (`numRunningBoxes`: the whole home's). */
  metrics(): Promise<RuntimeMetrics>;
  remove(idOrName: string, force?: boolean): Promise<void>;
  /** Stops this runtime's non-detached boxes (grace default 10 s; -1 waits indefinitely). */
  shutdown(timeoutSecs?: number | null): Promise<void>;
  close(): void;
}
/** Upstream's name of the runtime class. */
export declare const JsBoxlite: typeof Boxlite;
export type JsBoxlite = Boxlite;

/** Options of `SimpleBox`: box options plus how to find or make the box. */
export interface SimpleBoxOptions extends BoxOptions {
  /** Box name (unique in the home). */
  name?: string | null;
  /** Runtime to use; default `Boxlite.withDefaultConfig()`. */
  runtime?: Boxlite | null;
  /** Reuse the box of that name if it exists instead of failing. */
  reuseExisting?: boolean | null;
}

/** Extra options of `SimpleBox.exec(cmd, args, env, options)`. */
export interface SimpleExecOptions {
  cwd?: string;
  user?: string;
  timeoutSecs?: number;
}

/** A box created on first use; `exec` collects the whole output. */
export declare class SimpleBox {
  constructor(options?: SimpleBoxOptions);
  /** The box's id; throws before the box is created. */
  readonly id: string;
  readonly name: string | undefined;
  /** true: created, false: reused, null: not yet. */
  readonly created: boolean | null;
  getId(): Promise<string>;
  info(): Promise<BoxInfo>;
  metrics(): Promise<BoxMetrics>;
  getInfo(): Promise<BoxInfo>;
  start(): Promise<void>;
  exec(cmd: string, ...args: string[]): Promise<SimpleExecResult>;
  exec(cmd: string, ...argsThenEnv: [...string[], Record<string, string>]): Promise<SimpleExecResult>;
  exec(
    cmd: string,
    args: string[],
    env?: Record<string, string> | null,
    options?: SimpleExecOptions,
  ): Promise<SimpleExecResult>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
// The file methods (the box is created and started first when needed).
export interface SimpleBox extends BoxFiles {}

/** Options of `CodeBox`; `image` defaults to upstream's `python:slim`. */
export type CodeBoxOptions = SimpleBoxOptions;

/** A SimpleBox for running Python code. */
export declare class CodeBox extends SimpleBox {
  constructor(options?: CodeBoxOptions);
  /** Runs Python code; resolves to stdout, rejects with ExecError on failure. */
  run(code: string): Promise<string>;
  runScript(scriptPath: string): Promise<string>;
  installPackage(packageName: string): Promise<string>;
  installPackages(...packages: string[]): Promise<string>;
}

/** Every status name, in lifecycle order. */
export declare function statusNames(): BoxStatus[];
/** Every error code. */
export declare function errorCodes(): ErrorCode[];
