import { hash, timingSafeEqual } from "node:crypto";
import { isLoopbackHost } from "@tandem/core";

/**
 * Compares the `Authorization` header with the expected token in constant time: both sides are
 * hashed first, so neither the content nor the length of the token leaks through timing.
 */
export class TokenCheck {
  readonly #digest: Buffer;

  constructor(token: string) {
    this.#digest = sha256(`Bearer ${token}`);
  }

  matches(header: string | undefined): boolean {
    return timingSafeEqual(sha256(header ?? ""), this.#digest);
  }
}

/** One-shot digest: no Hash object per request. */
function sha256(value: string): Buffer {
  return hash("sha256", value, "buffer");
}

/**
 * True when the `Host` header names this machine (or one of `extraHosts`). Refusing other names
 * defeats DNS rebinding: a web page cannot talk to the sidecar through a name it controls.
 */
export function hostAllowed(host: string | undefined, extraHosts: ReadonlySet<string>): boolean {
  if (host === undefined || host === "") return false;
  const name = stripPort(host).toLowerCase();
  return isLoopbackHost(name) || extraHosts.has(name);
}

function stripPort(host: string): string {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end === -1 ? host : host.slice(1, end);
  }
  const colon = host.lastIndexOf(":");
  return colon === -1 || host.indexOf(":") !== colon ? host : host.slice(0, colon);
}
