import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** A path inside the repository's examples/ directory. */
export const example = (path: string): string => fileURLToPath(new URL(`../../../examples/${path}`, import.meta.url));

/** The `tandem` CLI of this workspace. */
export const tandemBin = fileURLToPath(new URL("../../tandem/bin/tandem.js", import.meta.url));

/** A started example process, with everything it printed. */
export interface StartedProcess {
  child: ChildProcess;
  output: string[];
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/**
 * Spawns `args` with Node and collects its output; `ready` resolves with the first stdout line
 * that `match` accepts (parsed as JSON), or rejects when the process exits first.
 */
export function startProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  match: (line: string) => boolean = (line) => line.startsWith('{"event":"listening"'),
): { process: StartedProcess; ready: Promise<Record<string, unknown>> } {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    let buffered = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        output.push(line);
        if (match(line)) resolve(JSON.parse(line) as Record<string, unknown>);
      }
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => output.push(chunk.trimEnd()));
    void exited.then((code) => reject(new Error(`exited with ${code} first:\n${output.join("\n")}`)));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    }
    return exited;
  };
  return { process: { child, output, exited, stop }, ready };
}
