import { resolve } from "node:path";
import type { Config } from "@tandem/core";
import { RotatingFile } from "./rotating-file.js";

/** `telemetry.logs` as the config holds it (sizes in bytes). */
interface LogsSettings {
  sinks?: string[];
  file?: { path: string; maxSize: number; maxFiles: number };
}

/**
 * The sidecar's log sinks from `telemetry.logs`: `stdout` (JSON lines) and `file` (rotated by
 * size). The settings are read again for each batch, so a reload applies; the file is reopened
 * only when its settings change. (`otlp` is refused by the config schema.)
 */
export class LogSinks {
  readonly #config: () => Config | undefined;
  readonly #write: (text: string) => void;
  readonly #baseDir: string;
  #file: { json: string; file: RotatingFile } | undefined;

  /**
   * A relative `telemetry.logs.file.path` is taken from `baseDir` (the config file's directory).
   * `stdout` is where the `stdout` sink writes: `process.stdout` unless a test says otherwise.
   */
  constructor(
    config: () => Config | undefined,
    baseDir: string,
    stdout: (text: string) => void = (t) => process.stdout.write(t),
  ) {
    this.#config = config;
    this.#baseDir = baseDir;
    this.#write = stdout;
  }

  /** Writes the lines (each a JSON object without its newline) to every configured sink. */
  write(lines: readonly string[]): void {
    if (lines.length === 0) return;
    const settings = this.#config()?.get<LogsSettings>("telemetry.logs") ?? {};
    const text = `${lines.join("\n")}\n`;
    const sinks = settings.sinks ?? ["stdout"];
    if (sinks.includes("stdout")) this.#write(text);
    if (sinks.includes("file") && settings.file !== undefined) this.#fileFor(settings.file).write(text);
  }

  close(): void {
    this.#file?.file.close();
    this.#file = undefined;
  }

  #fileFor(settings: NonNullable<LogsSettings["file"]>): RotatingFile {
    const json = JSON.stringify(settings);
    if (this.#file?.json !== json) {
      this.#file?.file.close();
      this.#file = { json, file: new RotatingFile({ ...settings, path: resolve(this.#baseDir, settings.path) }) };
    }
    return this.#file.file;
  }
}
