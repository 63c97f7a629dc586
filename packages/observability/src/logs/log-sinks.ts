import { resolve } from "node:path";
import type { Config } from "@tandem/core";
import type { OtlpLogSink } from "./otlp-log-sink.js";
import { RotatingFile } from "./rotating-file.js";

/** `telemetry.logs` as the config holds it (sizes in bytes). */
interface LogsSettings {
  sinks?: string[];
  file?: { path: string; maxSize: number; maxFiles: number };
}

/**
 * The sidecar's log sinks from `telemetry.logs`: `stdout` (JSON lines), `file` (rotated by
 * size) and `otlp` (OTLP/HTTP JSON log records). The settings are read again for each batch, so
 * a reload applies; the file is reopened only when its settings change.
 */
export class LogSinks {
  readonly #config: () => Config | undefined;
  readonly #write: (text: string) => void;
  readonly #baseDir: string;
  readonly #otlp: OtlpLogSink | undefined;
  #file: { json: string; file: RotatingFile } | undefined;

  /**
   * A relative `telemetry.logs.file.path` is taken from `baseDir` (the config file's directory).
   * `stdout` is where the `stdout` sink writes: `process.stdout` unless a test says otherwise.
   * `otlp` serves the `otlp` sink; without it, lines for that sink are not written anywhere.
   */
  constructor(
    config: () => Config | undefined,
    baseDir: string,
    stdout: (text: string) => void = (t) => process.stdout.write(t),
    otlp?: OtlpLogSink,
  ) {
    this.#config = config;
    this.#baseDir = baseDir;
    this.#write = stdout;
    this.#otlp = otlp;
  }

  /** Writes the lines (each a JSON object without its newline) to every configured sink. */
  write(lines: readonly string[]): void {
    if (lines.length === 0) return;
    const settings = this.#config()?.get<LogsSettings>("telemetry.logs") ?? {};
    const text = `${lines.join("\n")}\n`;
    const sinks = settings.sinks ?? ["stdout"];
    if (sinks.includes("stdout")) this.#write(text);
    if (sinks.includes("file") && settings.file !== undefined) this.#fileFor(settings.file).write(text);
    if (sinks.includes("otlp")) this.#otlp?.write(lines);
  }

  /** Closes the file and exports what the `otlp` sink still holds (bounded). */
  async close(): Promise<void> {
    this.#file?.file.close();
    this.#file = undefined;
    await this.#otlp?.close();
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
