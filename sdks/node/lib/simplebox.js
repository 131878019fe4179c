'use strict';
// SimpleBox: a box created on first use, with `exec` collecting a command's whole output.

const { BoxliteError } = require('./errors.js');
const { BOX_KEYS, refuseUnknown, toNativeBoxOptions } = require('./options.js');
const { Boxlite } = require('./runtime.js');

// Node >= 20.4 has Symbol.asyncDispose; older ones get the key TypeScript's `await using`
// looks for there.
const asyncDispose = Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose');

const SIMPLEBOX_KEYS = new Set([...BOX_KEYS, 'runtime', 'name', 'reuseExisting']);

function notCreated(what) {
  return new BoxliteError(`SimpleBox.${what}: the box is not created yet (call exec() first)`, {
    code: 'invalid_state',
  });
}

/** Reads a whole stream into one string. */
async function collect(stream) {
  const lines = [];
  for await (const line of stream) lines.push(line);
  return lines.join('');
}

/**
 * Splits upstream's `exec` overloads: `(cmd, ...args, env?)` and
 * `(cmd, args[], env?, {cwd, user, timeoutSecs}?)`.
 */
function execArguments(rest) {
  if (Array.isArray(rest[0])) {
    const [args, env, options] = rest;
    return { args, env, ...(options ?? {}) };
  }
  const last = rest[rest.length - 1];
  if (typeof last === 'object' && last !== null) {
    return { args: rest.slice(0, -1), env: last };
  }
  return { args: rest };
}

class SimpleBox {
  /** @internal */ _runtime;
  /** @internal */ _box = null;
  #boxPromise = null;
  #options;
  #name;
  #reuseExisting;
  #created = null;

  /**
   * `options`: box options (`image` or `rootfsPath`, `memoryMib`, `cpus`, `env` as an object,
   * `workingDir`, `user`, `entrypoint`, `cmd`, `autoRemove` (default true), `detach`) plus
   * `name`, `runtime` (default `Boxlite.withDefaultConfig()`) and `reuseExisting`. Nothing is
   * created until the first call that needs the box.
   */
  constructor(options = {}) {
    refuseUnknown(options, SIMPLEBOX_KEYS, 'SimpleBox options');
    const { runtime, name, reuseExisting, ...boxOptions } = options;
    // Refuse bad options now rather than at the first exec, far from their cause.
    toNativeBoxOptions(boxOptions);
    this.#options = boxOptions;
    this.#name = name ?? undefined;
    this.#reuseExisting = reuseExisting ?? false;
    this._runtime = runtime ?? Boxlite.withDefaultConfig();
  }

  /** @internal The box, created (or found, with `reuseExisting`) on the first call. */
  async _ensureBox() {
    this.#boxPromise ??= (async () => {
      if (this.#reuseExisting && this.#name !== undefined) {
        const { box, created } = await this._runtime.getOrCreate(this.#options, this.#name);
        this.#created = created;
        return box;
      }
      const box = await this._runtime.create(this.#options, this.#name);
      this.#created = true;
      return box;
    })().catch((err) => {
      // A failed creation may be retried by the next call.
      this.#boxPromise = null;
      throw err;
    });
    this._box = await this.#boxPromise;
    return this._box;
  }

  /** The box's id; throws before the box is created. */
  get id() {
    if (this._box === null) throw notCreated('id');
    return this._box.id;
  }

  /** The box's id, creating the box if needed. */
  async getId() {
    return (await this._ensureBox()).id;
  }

  /** The name given in the options. */
  get name() {
    return this.#name;
  }

  /** Whether the box was created (true) or an existing one reused (false); null before. */
  get created() {
    return this.#created;
  }

  /** The box's info; rejects before the box is created. */
  async info() {
    if (this._box === null) throw notCreated('info()');
    return this._box.info();
  }

  /** The box's counters now (`Box.metrics`); rejects before the box is created. */
  async metrics() {
    if (this._box === null) throw notCreated('metrics()');
    return this._box.metrics();
  }

  /** Copies a host file or tree into the box (`Box.copyIn`), creating and starting it if needed. */
  async copyIn(hostPath, containerDest, opts) {
    return (await this.#running()).copyIn(hostPath, containerDest, opts);
  }

  /** Copies a box file or tree to the host (`Box.copyOut`), creating and starting it if needed. */
  async copyOut(containerSrc, hostDest, opts) {
    return (await this.#running()).copyOut(containerSrc, hostDest, opts);
  }

  /** The bytes of a box file (`Box.readFile`). */
  async readFile(path) {
    return (await this.#running()).readFile(path);
  }

  /** Replaces a box file (`Box.writeFile`). */
  async writeFile(path, data, mode) {
    await (await this.#running()).writeFile(path, data, mode);
  }

  /** The entries of a box directory (`Box.listDir`). */
  async listDir(path) {
    return (await this.#running()).listDir(path);
  }

  /** The box, created if needed and started, as a SimpleBox is for its whole life. */
  async #running() {
    const box = await this._ensureBox();
    await box.start();
    return box;
  }

  /** The box's info, creating the box if needed. */
  async getInfo() {
    return (await this._ensureBox()).info();
  }

  /** Creates the box if needed and starts it. */
  async start() {
    await (await this._ensureBox()).start();
  }

  /**
   * Runs a command and collects its output: `{exitCode, stdout, stderr, oomKilled,
   * errorMessage}`. Both streams are read at once, so a command filling one while the other is
   * unread never stalls. Called as `exec(cmd, ...args)` with an env object optionally last, or
   * `exec(cmd, args, env?, {cwd, user, timeoutSecs}?)`. stdin is empty.
   */
  async exec(cmd, ...rest) {
    const { args, env, cwd, user, timeoutSecs } = execArguments(rest);
    const box = await this._ensureBox();
    const execution = await box._exec(cmd, args, { env, user, timeoutSecs, cwd, stdin: false });
    const [stdout, stderr] = await Promise.all([
      collect(execution.stdout()),
      collect(execution.stderr()),
    ]);
    const { exitCode, oomKilled, errorMessage } = await execution.wait();
    return { exitCode, stdout, stderr, oomKilled, errorMessage };
  }

  /** Stops the box (with `autoRemove`, the default, that also removes it). No-op if never created. */
  async stop() {
    if (this._box === null) return;
    await this._box.stop();
  }

  /** `await using box = new SimpleBox(...)` stops the box at the end of the scope. */
  async [asyncDispose]() {
    await this.stop();
  }
}

module.exports = { SimpleBox };
