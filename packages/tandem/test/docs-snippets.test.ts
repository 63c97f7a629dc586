// Keeps the docs from rotting: every ```ts and ```typescript block of README.md and docs/*.md is
// type-checked against the built packages (`tandem` and `@tandem/*`, from their dist/ types).
//
// The rules a snippet follows:
// - Each block is its own ES module (strict, module NodeNext, the settings of tsconfig.base.json),
//   so top-level await works and names never clash between blocks.
// - A block must be whole: it imports what it uses and declares what it invents. The one
//   shorthand: a block whose first line is `// prelude: runtime` is checked with that line
//   replaced by `import type { Runtime } from "tandem"; declare const rt: Runtime;`, for
//   fragments that use `rt` without creating it.
// - Bare imports other than `tandem` and `@tandem/*` (undici, zod) resolve to the copy a workspace
//   package depends on; a module nobody depends on fails the check.
// - A block that is not meant to compile uses another language tag (```js, ```text).
//
// The blocks are written to a fresh directory under packages/tandem/test/.snippets-tmp/
// (git-ignored, inside the repo so `tandem` resolves through node_modules, removed afterwards)
// and checked by one tsc run; a failure names the Markdown file and line.
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");
// One directory per run under .snippets-tmp/, so concurrent runs of the suite do not collide.
const tmpRoot = join(here, ".snippets-tmp");
let tmp = "";

const PRELUDE_MARKER = "// prelude: runtime";
const PRELUDE = 'import type { Runtime } from "tandem"; declare const rt: Runtime;';

interface Snippet {
  /** Markdown file, relative to the repository. */
  doc: string;
  /** 1-based line of the block's first code line in the Markdown file. */
  line: number;
  code: string;
}

function markdownFiles(): string[] {
  const docs = readdirSync(join(repo, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => join("docs", name));
  return ["README.md", ...docs];
}

function extractSnippets(doc: string, text: string): Snippet[] {
  const lines = text.split("\n");
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(ts|typescript)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const indent = (open[1] as string).length;
    const fence = open[2] as string;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && (lines[j] as string).trim() !== fence) {
      body.push((lines[j] as string).slice(Math.min(indent, /^\s*/.exec(lines[j] as string)?.[0].length ?? 0)));
      j++;
    }
    snippets.push({ doc, line: i + 2, code: body.join("\n") });
    i = j;
  }
  return snippets;
}

/** The block as a module: the prelude line substituted in place, so line numbers stay the same. */
function toModule(code: string): string {
  const lines = code.split("\n");
  if (lines[0]?.trim() === PRELUDE_MARKER) lines[0] = PRELUDE;
  return `${lines.join("\n")}\nexport {};\n`;
}

/** Links bare imports other than tandem, @tandem/* and node: to the copy a workspace package uses. */
function linkDependencies(tmp: string, sources: string[]): void {
  const names = new Set<string>();
  for (const source of sources) {
    for (const match of source.matchAll(/\bfrom\s+["']([^"'./][^"']*)["']/g)) {
      const specifier = match[1] as string;
      if (specifier.startsWith("node:") || specifier === "tandem" || specifier.startsWith("@tandem/")) continue;
      const parts = specifier.split("/");
      names.add(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string));
    }
  }
  const packages = readdirSync(join(repo, "packages")).sort();
  for (const name of names) {
    const found = packages
      .map((pkg) => join(repo, "packages", pkg, "node_modules", name))
      .find((dir) => existsSync(dir));
    if (found === undefined) continue; // tsc reports the unresolved import
    const link = join(tmp, "node_modules", name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(realpathSync(found), link, "dir");
  }
}

interface Failure {
  where: string;
  message: string;
}

function checkSnippets(snippets: Snippet[]): Failure[] {
  mkdirSync(tmpRoot, { recursive: true });
  tmp = mkdtempSync(join(tmpRoot, "run-"));
  const byFile = new Map<string, Snippet>();
  const sources: string[] = [];
  for (const snippet of snippets) {
    const file = `${snippet.doc.replace(/[/.]/g, "_")}_${snippet.line}.ts`;
    const source = toModule(snippet.code);
    writeFileSync(join(tmp, file), source);
    byFile.set(file, snippet);
    sources.push(source);
  }
  linkDependencies(tmp, sources);
  writeFileSync(
    join(tmp, "tsconfig.json"),
    JSON.stringify({
      extends: relative(tmp, join(repo, "tsconfig.base.json")),
      compilerOptions: {
        noEmit: true,
        strict: true,
        module: "NodeNext",
        moduleResolution: "NodeNext",
        composite: false,
        incremental: false,
        declaration: false,
        declarationMap: false,
        sourceMap: false,
      },
      include: ["*.ts"],
    }),
  );
  const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
  const run = spawnSync(process.execPath, [tsc, "-p", join(tmp, "tsconfig.json"), "--pretty", "false"], {
    cwd: tmp,
    encoding: "utf8",
  });
  if (run.error) throw run.error;
  const output = `${run.stdout}${run.stderr}`;
  const failures: Failure[] = [];
  for (const raw of output.split("\n")) {
    const match = /^(.*?)\((\d+),(\d+)\): (error .*)$/.exec(raw);
    if (match) {
      const file = relative(tmp, resolve(tmp, match[1] as string));
      const snippet = byFile.get(file);
      const line = Number(match[2]);
      failures.push({
        where: snippet ? `${snippet.doc}:${snippet.line + line - 1}:${match[3]}` : `${file}:${line}`,
        message: match[4] as string,
      });
    } else if (raw.trim() !== "" && !raw.startsWith(" ")) {
      failures.push({ where: "tsc", message: raw });
    } else if (raw.trim() !== "" && failures.length > 0) {
      (failures.at(-1) as Failure).message += `\n${raw}`;
    }
  }
  if (run.status !== 0 && failures.length === 0) failures.push({ where: "tsc", message: `exit ${run.status}` });
  return failures;
}

describe("documentation snippets", () => {
  afterAll(() => {
    if (tmp !== "") rmSync(tmp, { recursive: true, force: true });
    try {
      rmdirSync(tmpRoot); // only when no other run is using it
    } catch {}
  });

  it("finds blocks, with the line they start on", () => {
    const snippets = extractSnippets(
      "x.md",
      "text\n```ts\nconst a = 1;\n```\n\n  ```typescript\n  const b = 2;\n  ```\n",
    );
    expect(snippets).toEqual([
      { doc: "x.md", line: 3, code: "const a = 1;" },
      { doc: "x.md", line: 7, code: "const b = 2;" },
    ]);
  });

  it("every ts block of README.md and docs/*.md type-checks against the built packages", () => {
    const snippets = markdownFiles().flatMap((doc) => extractSnippets(doc, readFileSync(join(repo, doc), "utf8")));
    expect(snippets.length).toBeGreaterThanOrEqual(10);
    const failures = checkSnippets(snippets);
    expect(failures.map((failure) => `${failure.where}: ${failure.message}`).join("\n")).toBe("");
  }, 120_000);
});
