'use strict';
// `rt.images` (upstream BoxLite's image API) over the native `ImageHandle`, and the
// `imageRegistries` runtime option checked key by key (napi drops unknown keys silently).

const { mapped, invalidArgument } = require('./errors.js');
const { isUnset, refuseUnknown } = require('./options.js');

const REGISTRY_KEYS = new Set(['host', 'transport', 'skipVerify', 'search', 'auth', 'mirrors']);
const AUTH_KEYS = new Set(['username', 'password', 'token']);

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
    const native = {};
    for (const key of REGISTRY_KEYS) {
      if (!isUnset(entry[key])) native[key] = entry[key];
    }
    if (!isUnset(entry.auth)) {
      if (typeof entry.auth !== 'object' || Array.isArray(entry.auth)) {
        throw invalidArgument(`${what}.auth must be {username, password} or {token}`);
      }
      refuseUnknown(entry.auth, AUTH_KEYS, `${what}.auth`);
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
