'use strict';
// `rt.images` (upstream BoxLite's image API) over the native `ImageHandle`, and the
// `imageRegistries` runtime option checked key by key (napi drops unknown keys silently).

const { mapped, invalidArgument } = require('./errors.js');
const { isUnset, refuseUnknown } = require('./options.js');

const REGISTRY_KEYS = new Set(['host', 'transport', 'skipVerify', 'search', 'auth', 'mirrors']);
const AUTH_KEYS = new Set(['username', 'password', 'token']);

/** Refuses `object[key]` unless it is unset or of `type`. */
function expectType(object, key, type, what) {
  if (!isUnset(object[key]) && typeof object[key] !== type) {
    throw invalidArgument(`${what}: ${key} must be a ${type}`);
  }
}

/** The native form of `imageRegistries`; every entry and its `auth` refuse unknown keys. */
function toNativeRegistries(registries) {
  if (isUnset(registries)) return undefined;
  if (!Array.isArray(registries)) {
    throw invalidArgument('runtime options: imageRegistries must be an array');
  }
  return registries.map((entry, i) => {
    const what = `runtime options: imageRegistries[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw invalidArgument(`${what} must be an object`);
    }
    refuseUnknown(entry, REGISTRY_KEYS, what);
    // Types are checked here so that a mistake is a BoxliteError naming the entry, not
    // napi's own conversion error.
    if (typeof entry.host !== 'string' || entry.host === '') {
      throw invalidArgument(`${what}: host must be a non-empty string (host[:port])`);
    }
    expectType(entry, 'transport', 'string', what);
    expectType(entry, 'skipVerify', 'boolean', what);
    expectType(entry, 'search', 'boolean', what);
    if (!isUnset(entry.mirrors) && !(Array.isArray(entry.mirrors) && entry.mirrors.every((m) => typeof m === 'string'))) {
      throw invalidArgument(`${what} (${entry.host}): mirrors must be an array of host[:port] strings`);
    }
    if (!isUnset(entry.auth)) {
      if (typeof entry.auth !== 'object' || Array.isArray(entry.auth)) {
        throw invalidArgument(`${what} (${entry.host}): auth must be {username, password} or {token}`);
      }
      refuseUnknown(entry.auth, AUTH_KEYS, `${what}.auth`);
      for (const key of AUTH_KEYS) expectType(entry.auth, key, 'string', `${what}.auth`);
    }
    const native = {};
    for (const key of REGISTRY_KEYS) {
      if (!isUnset(entry[key])) native[key] = entry[key];
    }
    return native;
  });
}

/** The images of one home: pull, list, inspect, remove, prune. */
class ImageHandle {
  #native;

  /** @internal */
  constructor(nativeImages) {
    this.#native = nativeImages;
  }

  /**
   * Pulls `reference` from its registry (or loads `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
   * `docker-archive:FILE[:REF]`) and unpacks it; resolves to its `ImageInfo`.
   */
  async pull(reference) {
    return mapped(this.#native.pull(reference));
  }

  /** Every cached image, newest first. */
  async list() {
    return mapped(this.#native.list());
  }

  /** The cached image named by a reference or an image id (12+ hex digits), or null. */
  async inspect(reference) {
    return mapped(this.#native.inspect(reference));
  }

  /** Removes a cached image; rejects with `invalid_state` while a box uses it, unless `force`. */
  async remove(reference, force = false) {
    await mapped(this.#native.remove(reference, force));
  }

  /** Removes every blob and unpacked root no image or box uses: `{blobsRemoved, ...}`. */
  async prune() {
    return mapped(this.#native.prune());
  }
}

module.exports = { ImageHandle, toNativeRegistries };
