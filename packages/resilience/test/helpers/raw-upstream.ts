import { createServer, type Socket } from "node:net";
import { ConfigStore } from "@tandem/config";
import { DeadlineWheel, LocalHttp } from "@tandem/resilience";
import { pino } from "pino";
import { afterAll } from "vitest";

/**
 * An upstream written in raw bytes (an HTTP server library would not trickle, stall or reset on
 * request), served by `serve` for each connection, and an in-process `rt.http` whose upstream
 * `name` is that server with the given timeouts. Both close after the test file.
 */
export async function rawUpstream(
  name: string,
  timeout: { attempt: number; total: number },
  serve: (socket: Socket) => void,
  wheel = new DeadlineWheel(),
): Promise<LocalHttp> {
  const logger = pino({ level: "silent" });
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    serve(socket);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const store = new ConfigStore(
    { upstreams: { [name]: { endpoints: [url], loadBalancer: "round-robin", timeout } } },
    logger,
  );
  const http = new LocalHttp(store, undefined, logger, wheel);
  afterAll(async () => {
    await http.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return http;
}
