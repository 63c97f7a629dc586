import { connect } from "node:net";
import type { Concern, Logger } from "@tandem/core";
import { type ListenAddress, Sidecar, type SidecarOptions } from "@tandem/sidecar";
import { pino } from "pino";

/** A logger that keeps its lines in memory, to assert on them. */
export function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

export const random: ListenAddress = { kind: "tcp", host: "127.0.0.1", port: 0 };

/** An in-process sidecar on random ports with an in-memory log. */
export async function startInProcess(options: SidecarOptions = {}, concerns: Concern[] = []) {
  const { logger, lines } = memoryLogger();
  const sidecar = await Sidecar.start({ api: random, admin: random, logger, concerns, ...options });
  const port = (a: ListenAddress) => (a.kind === "tcp" ? a.port : 0);
  return {
    sidecar,
    lines,
    api: `http://127.0.0.1:${port(sidecar.api)}`,
    admin: `http://127.0.0.1:${port(sidecar.admin)}`,
    apiPort: port(sidecar.api),
  };
}

/** Sends raw bytes and resolves with everything the server answered before closing or `waitMs`. */
export function rawRequest(port: number, text: string, waitMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    socket.on("data", (c) => (answer += c.toString("latin1")));
    socket.on("error", reject);
    socket.on("close", () => resolve(answer));
    socket.write(text);
    setTimeout(() => socket.destroy(), waitMs);
  });
}
