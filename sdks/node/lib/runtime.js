'use strict';
// `Boxlite` (the runtime) and `Box`, with upstream BoxLite's names over the native classes.

const native = require('../native.js');
const { BoxliteError, mapped, mappedSync, invalidArgument } = require('./errors.js');
const { Execution } = require('./execution.js');
const { ImageHandle, toNativeRegistries } = require('./images.js');
const {
  envPairs,
  isUnset,
  refuseUnknown,
  toNativeBoxOptions,
  toNativeCopyOptions,
} = require('./options.js');

const RUNTIME_KEYS = new Set(['homeDir', 'imageRegistries']);

/** What `shutdown(-1)` ("wait indefinitely", as upstream) waits: long enough never to end. */
const INDEFINITE_SECS = 100 * 365 * 24 * 3600;

/** Refuses, as core would, an argument that must be a string and is not. */
function requireStrings(what, args) {
  for (const [name, value] of Object.entries(args)) {
    if (typeof value !== 'string') throw invalidArgument(`${what}: ${name} must be a string`);
  }
}

/** A handle to one box. Status and everything else are read from the database on each call. */
class Box {
  #native;

  /** @internal */
  constructor(nativeBox) {
    this.#native = nativeBox;
  }

  /** The box's id. */
  get id() {
    return this.#native.id;
  }

  /** The box's name, or null. */
  get name() {
    return this.#native.name;
  }

  /** Current info, from the database. */
  async info() {
    return mapped(this.#native.info());
  }

  /** The box's counters now: its network's bytes and packets, read on the host. */
  async metrics() {
    return mapped(this.#native.metrics());
  }

  /**
   * Copies the host file or tree `hostPath` into the running box at `containerDest`, as
   * `docker cp` places it. `opts`: `{recursive, overwrite, followSymlinks, includeParent,
   * preserveOwners}`, each defaulting as upstream's. Resolves to `{entries, bytes}`.
   */
  async copyIn(hostPath, containerDest, opts) {
    const what = `copyIn to box ${this.id}`;
    requireStrings(what, { hostPath, containerDest });
    return mapped(this.#native.copyIn(hostPath, containerDest, toNativeCopyOptions(opts, what)));
  }

  /** Copies the running box's file or tree `containerSrc` to the host at `hostDest`. */
  async copyOut(containerSrc, hostDest, opts) {
    const what = `copyOut from box ${this.id}`;
    requireStrings(what, { containerSrc, hostDest });
    return mapped(this.#native.copyOut(containerSrc, hostDest, toNativeCopyOptions(opts, what)));
  }

  /** The bytes of the box file `path` (at most 64 MiB), as a Buffer. */
  async readFile(path) {
    requireStrings(`readFile in box ${this.id}`, { path });
    return mapped(this.#native.readFile(path));
  }

  /** Replaces the box file `path` with `data` (a string is written as UTF-8), mode 0o644 unless given. */
  async writeFile(path, data, mode) {
    const what = `writeFile in box ${this.id}`;
    requireStrings(what, { path });
    let bytes;
    if (typeof data === 'string') bytes = Buffer.from(data, 'utf8');
    else if (data instanceof Uint8Array) bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    else throw invalidArgument(`${what}: data must be a Buffer, a Uint8Array or a string`);
    await mapped(this.#native.writeFile(path, bytes, mode ?? undefined));
  }

  /** The entries of the box directory `path`, sorted by name. */
  async listDir(path) {
    requireStrings(`listDir in box ${this.id}`, { path });
    return mapped(this.#native.listDir(path));
  }

  /** Starts the box (idempotent when running). */
  async start() {
    await mapped(this.#native.start());
  }

  /** Stops the box: SIGTERM to its processes, SIGKILL after `timeoutSecs` (default 10). */
  async stop(timeoutSecs) {
    await mapped(this.#native.stop(timeoutSecs ?? undefined));
  }

  /**
   * Runs `cmd` with `args`, starting the box first when it is configured or stopped, and
   * resolves once it runs. `env` is `[name, value]` pairs or an object. stdin is a pipe until
   * `execution.stdin().close()`.
   */
  async exec(cmd, args, env, tty, user, timeoutSecs, cwd) {
    return this._exec(cmd, args, { env, tty, user, timeoutSecs, cwd, stdin: true });
  }

  /** @internal `exec` with stdin chosen by the caller (SimpleBox runs without a pipe). */
  async _exec(cmd, args, { env, tty, user, timeoutSecs, cwd, stdin }) {
    if (typeof cmd !== 'string') {
      throw invalidArgument(`exec in box ${this.id}: the command must be a string`);
    }
    const options = { stdin };
    const pairs = envPairs(env, `exec in box ${this.id}`);
    if (pairs !== undefined) options.env = pairs;
    if (!isUnset(tty)) options.tty = tty;
    if (!isUnset(user)) options.user = user;
    if (!isUnset(timeoutSecs)) options.timeoutSecs = timeoutSecs;
    if (!isUnset(cwd)) options.workingDir = cwd;
    const execution = await mapped(this.#native.exec(cmd, args ?? [], options));
    return new Execution(execution);
  }
}

/**
 * A home directory of boxes. The constructor does no I/O: the home is opened (created if
 * missing, its database migrated) off the JS thread by the first call, which also reports any
 * failure to open it.
 */
class Boxlite {
  #native;

  /**
   * `options`: `{homeDir?, imageRegistries?}`; no `homeDir` is `$BOXLITE_HOME`, else
   * `~/.boxlite`. `imageRegistries`: `[{host, transport?, skipVerify?, search?, auth?, mirrors?}]`
   * with `auth` `{username, password}` or `{token}`.
   */
  constructor(options = {}) {
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('runtime options must be an object');
    }
    refuseUnknown(options, RUNTIME_KEYS, 'runtime options');
    const nativeOptions = {};
    if (!isUnset(options.homeDir)) nativeOptions.homeDir = options.homeDir;
    const registries = toNativeRegistries(options.imageRegistries);
    if (registries !== undefined) nativeOptions.imageRegistries = registries;
    this.#native = mappedSync(() => new native.Boxlite(nativeOptions));
  }

  /** The image store of this home: `pull`, `list`, `inspect`, `remove`, `prune`. */
  get images() {
    return new ImageHandle(this.#native.images());
  }

  /**
   * The process's shared runtime on `$BOXLITE_HOME`, else `~/.boxlite` (options set by
   * `initDefault`). A fresh one replaces it once it was shut down.
   */
  static withDefaultConfig() {
    if (defaultRuntime === null || defaultRuntime.#shutDown) {
      defaultRuntime = new Boxlite(defaultOptions);
    }
    return defaultRuntime;
  }

  /** Sets the options of the shared runtime; before its first `withDefaultConfig()` only. */
  static initDefault(options) {
    if (defaultRuntime !== null && !defaultRuntime.#shutDown) {
      throw new BoxliteError('initDefault: the default runtime is already in use', {
        code: 'invalid_state',
      });
    }
    defaultOptions = { ...options };
    defaultRuntime = new Boxlite(defaultOptions);
  }

  #shutDown = false;

  /** Creates a box in status `configured` (nothing runs yet); `name` must be unique. */
  async create(options, name) {
    const nativeOptions = toNativeBoxOptions(options);
    return new Box(await mapped(this.#native.create(nativeOptions, name ?? undefined)));
  }

  /** The box named `name`, created from `options` if there is none: `{box, created}`. */
  async getOrCreate(options, name) {
    const nativeOptions = toNativeBoxOptions(options);
    if (isUnset(name)) {
      return { box: await this.create(options), created: true };
    }
    const { box, created } = await mapped(this.#native.getOrCreate(nativeOptions, name));
    return { box: new Box(box), created };
  }

  /** The box with this id or name, or null. */
  async get(idOrName) {
    const found = await mapped(this.#native.get(idOrName));
    return found === null ? null : new Box(found);
  }

  /** Info of the box with this id or name, or null. */
  async getInfo(idOrName) {
    return mapped(this.#native.getInfo(idOrName));
  }

  /** This runtime's counters since it was opened (`numRunningBoxes`: the whole home's). */
  async metrics() {
    return mapped(this.#native.metrics());
  }

  /** Info of every box, newest first. */
  async listInfo() {
    return mapped(this.#native.listInfo());
  }

  /** Removes a box and its files; `force` also stops and removes a running one. */
  async remove(idOrName, force = false) {
    await mapped(this.#native.remove(idOrName, force));
  }

  /**
   * Stops every non-detached box this runtime started, each with `timeoutSecs` of grace
   * (default 10; -1 waits indefinitely, as upstream). Idempotent; afterwards every other
   * call rejects with `invalid_state`.
   */
  async shutdown(timeoutSecs) {
    const grace = timeoutSecs === -1 ? INDEFINITE_SECS : (timeoutSecs ?? undefined);
    this.#shutDown = true;
    await mapped(this.#native.shutdown(grace));
  }

  /** Nothing to release beyond what garbage collection does (upstream has it too). */
  close() {}
}

let defaultRuntime = null;
let defaultOptions = {};

module.exports = { Boxlite, Box };
