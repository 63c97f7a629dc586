// Helpers for the report renderers (bench/report/*.mjs): numbers, tables, verdicts, and the
// subject with the lowest figure.

/** A number with a sensible number of digits; thin groups of three for large values. */
export function num(v, digits) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "n/a";
  const a = Math.abs(v);
  const d = digits ?? (a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
  const fixed = v.toFixed(d);
  const [int, frac] = fixed.split(".");
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, " ");
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

/** "median (min..max)" of a `{ median, min, max }` summary. */
export function mmm(s, digits) {
  if (!s || s.median === null || s.median === undefined) return "n/a";
  if (s.min === s.max) return num(s.median, digits);
  return `${num(s.median, digits)} (${num(s.min, digits)}..${num(s.max, digits)})`;
}

/** A ratio as "0.93×". */
export function times(v, digits = 2) {
  return v === null || v === undefined || !Number.isFinite(v) ? "n/a" : `${v.toFixed(digits)}×`;
}

/** A GitHub-flavoured markdown table. */
export function table(headers, rows) {
  const cells = rows.map((r) => r.map((c) => String(c ?? "").replace(/\|/g, "\\|")));
  const widths = headers.map((h, i) => Math.max(3, h.length, ...cells.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(headers), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...cells.map(line)].join("\n");
}

/** "**met**" or "**missed**" for a boolean; "not judged" when undefined. */
export function verdict(ok) {
  if (ok === undefined || ok === null) return "**not judged**";
  return ok ? "**met**" : "**missed**";
}

/** The line every section opens its numbers with: when, where, which file, quick or full. */
export function runLine(result, file) {
  const m = result.machine ?? {};
  const when = (result.date ?? "").slice(0, 10) || "unknown date";
  const quick = result.quick
    ? " **Quick run** (`BENCH_QUICK=1`: short rounds, fewer of them): indicative only, noisy."
    : "";
  const of = result.revision ? ` of tandem ${result.revision}` : "";
  return `Run of ${when}${of}, Node ${m.node ?? "?"}, ${m.cpu ?? "unknown CPU"}, ${m.cores ?? "?"} cores (\`bench/results/${file}\`).${quick}`;
}

/** The name of `names` whose `value` is lowest, with that value (`[name, value]`); undefined when none has one. */
export function lowest(names, value) {
  return names
    .map((n) => [n, value(n)])
    .filter(([, v]) => v !== undefined && v !== null)
    .sort((x, y) => x[1] - y[1])[0];
}
