import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A config directory laid out the way Kubernetes mounts a ConfigMap: the files are symlinks
 * into `..data`, itself a symlink to a timestamped directory, and an update swaps `..data` in
 * one rename (kubelet's AtomicWriter). Next to it, a secrets directory with one file per secret.
 */
export class ConfigMapFixture {
  readonly dir: string;
  readonly secretsDir: string;
  #version = 0;

  /** Creates the two empty directories; `swap` and `writeSecret` fill them. */
  constructor() {
    const root = mkdtempSync(join(tmpdir(), "tandem-configmap-"));
    this.dir = join(root, "config");
    this.secretsDir = join(root, "secrets");
    mkdirSync(this.dir);
    mkdirSync(this.secretsDir);
  }

  /** The path of a file in the config directory, as an application opens it. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** Replaces the whole set of files at once, as a ConfigMap update does. */
  swap(files: Record<string, string>): void {
    const version = `..2026_v${++this.#version}`;
    mkdirSync(join(this.dir, version));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(this.dir, version, name), text);
    symlinkSync(version, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    for (const name of Object.keys(files)) {
      try {
        symlinkSync(join("..data", name), join(this.dir, name));
      } catch {
        // The link exists already and now points into the new version.
      }
    }
    for (const entry of readdirSync(this.dir)) {
      if (entry.startsWith("..2026_v") && entry !== version)
        rmSync(join(this.dir, entry), { recursive: true, force: true });
    }
  }

  /** Writes (or rotates) one secret, atomically, as the kubelet does. */
  writeSecret(name: string, value: string): void {
    const tmp = join(this.secretsDir, `.${name}.tmp`);
    writeFileSync(tmp, value);
    renameSync(tmp, join(this.secretsDir, name));
  }

  remove(): void {
    rmSync(join(this.dir, ".."), { recursive: true, force: true });
  }
}
