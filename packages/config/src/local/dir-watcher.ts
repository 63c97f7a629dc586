import { type FSWatcher, watch } from "node:fs";

/**
 * Watches a directory, not a file: a Kubernetes ConfigMap or Secret update swaps a `..data`
 * symlink, which a watch on the file itself never sees (nodejs/node#5039), and editors often
 * replace a file rather than write it. Bursts of events are debounced into one call. The watch
 * never keeps the process alive, and a directory that vanishes is watched again once it is back.
 */
export class DirWatcher {
  readonly #dir: string;
  readonly #debounceMs: number;
  readonly #onChange: () => void;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(dir: string, debounceMs: number, onChange: () => void) {
    this.#dir = dir;
    this.#debounceMs = debounceMs;
    this.#onChange = onChange;
    this.#start();
  }

  #start(): void {
    if (this.#closed) return;
    try {
      this.#watcher = watch(this.#dir, { persistent: false }, () => this.#schedule());
      this.#watcher.on("error", () => this.#restart());
    } catch {
      this.#restart();
    }
  }

  #restart(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#start();
      this.#schedule();
    }, 1000);
    this.#retry.unref();
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#onChange(), this.#debounceMs);
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#retry);
    this.#watcher?.close();
  }
}
