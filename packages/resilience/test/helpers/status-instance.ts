import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** An upstream instance on a loopback port, and how many requests it answered. */
export interface StatusInstance {
  url: string;
  hits: number;
  close(): Promise<void>;
}

/**
 * An instance that answers every request with `status`, its status as the body; without one, with
 * the status its path names (`/503`), 200 for any other path.
 */
export async function statusInstance(status?: number): Promise<StatusInstance> {
  const server = createServer((req, res) => {
    self.hits++;
    req.resume();
    res.statusCode = status ?? (Number(req.url?.slice(1)) || 200);
    res.end(String(res.statusCode));
  });
  const self: StatusInstance = {
    url: "",
    hits: 0,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return self;
}
