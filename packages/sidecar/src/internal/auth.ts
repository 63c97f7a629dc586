import { isLoopbackHost } from "@tandem/core";

/**
 * Compares the `Authorization` header with the expected token in constant time: every character
 * of the expected value is compared with the header's, whatever the header holds, so the time a
 * check takes depends on neither how much of a guess is right nor how long the guess is. Plain
 * JavaScript: hashing both sides with node:crypto, as this did, cost two digests per request and
 * brought OpenSSL into a sidecar that has no other use for it (~1 MB of resident memory).
 */
export class TokenCheck {
  readonly #expected: string;

  constructor(token: string) {
    this.#expected = `Bearer ${token}`;
  }

  matches(header: string | undefined): boolean {
    const expected = this.#expected;
    const given = header ?? "";
    const length = given.length;
    let difference = length ^ expected.length;
    // A shorter header is read round and round: as many steps for any header, none ending early.
    // The header's index wraps to 0 at its end by a mask, not `%` (a division per character takes
    // tens of cycles) nor a branch. An empty header gives NaN at index 0, which `^` takes as 0.
    for (let i = 0, j = 0; i < expected.length; i++) {
      difference |= expected.charCodeAt(i) ^ given.charCodeAt(j);
      j = (j + 1) & -Number(j + 1 < length);
    }
    return difference === 0;
  }
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
