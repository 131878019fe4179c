'use strict';
// A running command: line streams over the native byte chunks, stdin, wait and signals.

const { StringDecoder } = require('node:string_decoder');

const { mapped, mappedSync } = require('./errors.js');

/**
 * One output stream as lines. `next()` resolves to the next line, with its `\n`, so joining
 * the lines gives the output byte for byte (a last line without one comes as it is), or to
 * `null` at the end. The stream is also async-iterable.
 */
class ExecOutput {
  #native;
  #decoder = new StringDecoder('utf8');
  #text = '';
  #pos = 0;
  #ended = false;
  #queue = Promise.resolve();

  /** @internal */
  constructor(native) {
    this.#native = native;
  }

  /** The next line, or null once the stream ended. Calls are answered in order. */
  next() {
    const line = this.#queue.then(() => this.#nextLine());
    // A failed read must not wedge the calls queued behind it.
    this.#queue = line.then(
      () => undefined,
      () => undefined,
    );
    return line;
  }

  async #nextLine() {
    for (;;) {
      const eol = this.#text.indexOf('\n', this.#pos);
      if (eol >= 0) {
        const line = this.#text.slice(this.#pos, eol + 1);
        this.#pos = eol + 1;
        return line;
      }
      if (this.#ended) {
        const rest = this.#text.slice(this.#pos) + this.#decoder.end();
        this.#text = '';
        this.#pos = 0;
        return rest === '' ? null : rest;
      }
      const chunk = await mapped(this.#native.read());
      this.#text = this.#text.slice(this.#pos);
      this.#pos = 0;
      if (chunk === null) {
        this.#ended = true;
      } else {
        this.#text += this.#decoder.write(chunk);
      }
    }
  }

  /** Stops reading; the rest of the stream is discarded. */
  async close() {
    this.#ended = true;
    await mapped(this.#native.close());
  }

  async *[Symbol.asyncIterator]() {
    let finished = false;
    try {
      for (let line = await this.next(); line !== null; line = await this.next()) {
        yield line;
      }
      finished = true;
    } finally {
      // Leaving the loop early (break, throw) must not leave the command blocked on output
      // nobody will read.
      if (!finished) await this.close();
    }
  }
}

/** The stdin of a command. */
class ExecStdin {
  #native;

  /** @internal */
  constructor(native) {
    this.#native = native;
  }

  /** Writes bytes (a Buffer or Uint8Array) or a string (as UTF-8). */
  async write(data) {
    await mapped(this.#native.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data)));
  }

  /** Writes `text` as UTF-8. */
  async writeString(text) {
    await this.write(String(text));
  }

  /** Closes stdin: the command reads end of file. Idempotent. */
  async close() {
    await mapped(this.#native.close());
  }
}

/** Upstream's `errorMessage`: why a command did not end on its own, or undefined. */
function errorMessage(result) {
  if (result.timedOut) return 'the command ran past its timeout; its process group was killed';
  if (result.oomKilled) {
    return "the kernel's OOM killer killed the command (the box hit its memory limit)";
  }
  if (result.signal !== null) return `the command was ended by signal ${result.signal}`;
  return undefined;
}

/** A running command, from `Box.exec`. */
class Execution {
  #native;
  #stdout = null;
  #stderr = null;
  #stdin = null;

  /** @internal */
  constructor(native) {
    this.#native = native;
  }

  /** The execution's id (a method, as upstream's; awaiting it works too). */
  id() {
    return this.#native.id;
  }

  /** The stdout stream (the same object on every call). With a TTY, all output is here. */
  stdout() {
    this.#stdout ??= new ExecOutput(mappedSync(() => this.#native.stdout()));
    return this.#stdout;
  }

  /** The stderr stream (the same object on every call). */
  stderr() {
    this.#stderr ??= new ExecOutput(mappedSync(() => this.#native.stderr()));
    return this.#stderr;
  }

  /** The stdin writer (the same object on every call). */
  stdin() {
    this.#stdin ??= new ExecStdin(mappedSync(() => this.#native.stdin()));
    return this.#stdin;
  }

  /**
   * Waits for the command to end: `{exitCode, signal, timedOut, oomKilled, errorMessage}`.
   * Streams not taken by then are discarded. Every call answers the same.
   */
  async wait() {
    const result = await mapped(this.#native.wait());
    return { ...result, errorMessage: errorMessage(result) };
  }

  /** SIGKILL to the command's process group. */
  async kill() {
    await mapped(this.#native.kill());
  }

  /** Sends signal number `signal` to the command's process group. */
  async signal(signal) {
    await mapped(this.#native.signal(signal));
  }

  /** Sets the terminal size of a TTY exec. */
  async resizeTty(rows, cols) {
    await mapped(this.#native.resizeTty(rows, cols));
  }
}

module.exports = { Execution, ExecOutput, ExecStdin };
