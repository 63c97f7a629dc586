import { closeSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";

/** Options of `RotatingFile`. */
export interface RotatingFileOptions {
  path: string;
  /** Rotate before a write would take the file past this many bytes. */
  maxSize: number;
  /** Rotated files kept (`path.1` the newest ... `path.N`), besides the current one. */
  maxFiles: number;
}

/**
 * An append-only file rotated by size, the way logrotate's `size` and `rotate` work: before a
 * write would pass `maxSize`, `path.N-1` becomes `path.N` (the oldest is removed), ...,
 * `path` becomes `path.1`, and a new `path` is started. Writes are synchronous and small (one
 * batch at a time), so lines of two batches never interleave.
 */
export class RotatingFile {
  readonly #options: RotatingFileOptions;
  #fd: number | undefined;
  #size = 0;

  constructor(options: RotatingFileOptions) {
    this.#options = options;
  }

  get path(): string {
    return this.#options.path;
  }

  write(text: string): void {
    const bytes = Buffer.byteLength(text);
    if (this.#fd === undefined) this.#open();
    if (this.#size > 0 && this.#size + bytes > this.#options.maxSize) this.#rotate();
    writeSync(this.#fd as number, text);
    this.#size += bytes;
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #open(): void {
    this.#fd = openSync(this.#options.path, "a", 0o640);
    this.#size = statSync(this.#options.path).size;
  }

  #rotate(): void {
    this.close();
    const { path, maxFiles } = this.#options;
    rmSync(`${path}.${maxFiles}`, { force: true });
    for (let i = maxFiles - 1; i >= 1; i--) {
      try {
        renameSync(`${path}.${i}`, `${path}.${i + 1}`);
      } catch {
        // Not there yet: fewer rotations so far than maxFiles.
      }
    }
    renameSync(path, `${path}.1`);
    this.#open();
  }
}
