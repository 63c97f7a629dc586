import { ConfigError, isLoopbackHost } from "@tandem/core";

/** Where a sidecar listener binds: a TCP host and port, or a unix socket path. */
export type ListenAddress = { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT` or `unix:/path`. `flag` names the option in errors. A host
 * that is not loopback is refused unless `allowNonLoopback` is set.
 */
export function parseListenAddress(value: string, flag: string, allowNonLoopback = false): ListenAddress {
  const fail = (why: string): never => {
    throw new ConfigError(
      `${flag} is "${value}": ${why}; expected HOST:PORT (e.g. 127.0.0.1:4600, [::1]:4600) or unix:/absolute/path.sock`,
      { details: { option: flag, value } },
    );
  };
  if (value.startsWith("unix:")) {
    const path = value.slice("unix:".length);
    if (!path.startsWith("/")) fail("a unix socket path must be absolute");
    return { kind: "unix", path };
  }
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  if (match === null) return fail("not HOST:PORT");
  const host = (match[1] ?? match[2]) as string;
  const port = Number(match[3]);
  if (port > 65535) fail("the port is above 65535");
  if (!allowNonLoopback && !isLoopbackHost(host)) {
    fail("binding beyond loopback needs --allow-non-loopback and a token");
  }
  return { kind: "tcp", host, port };
}

/** Formats an address as `http://host:port` or `unix:/path`, the form `TANDEM_SIDECAR` takes. */
export function formatListenAddress(address: ListenAddress): string {
  if (address.kind === "unix") return `unix:${address.path}`;
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return `http://${host}:${address.port}`;
}
