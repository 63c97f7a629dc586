import type { MetricDefinition, Series } from "./metric-family.js";

/** Prometheus text format 0.0.4. */
export const PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
/** OpenMetrics 1.0 text format. */
export const OPENMETRICS_TEXT = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/** One metric as it is exposed: its definition and its series, label values in declared order. */
export interface FamilySnapshot {
  definition: MetricDefinition;
  /** Extra label names appended to the declared ones (the sidecar's `process`). */
  extraLabels?: readonly string[];
  series: Iterable<Series>;
}

/** True when a scraper's `Accept` header asks for OpenMetrics. */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept?.includes("application/openmetrics-text") ?? false;
}

/**
 * Writes families in the Prometheus text format or OpenMetrics (without the final `# EOF`,
 * which the caller adds once after every part of a scrape).
 */
export function writeFamilies(families: Iterable<FamilySnapshot>, openMetrics: boolean): string {
  let out = "";
  for (const { definition, extraLabels, series } of families) {
    const { name, type, help } = definition;
    const family = openMetrics && type === "counter" ? name.slice(0, -"_total".length) : name;
    const labelNames = extraLabels === undefined ? definition.labelNames : [...definition.labelNames, ...extraLabels];
    out += `# HELP ${family} ${escapeHelp(help)}\n# TYPE ${family} ${type}\n`;
    for (const s of series) {
      if ("counts" in s) {
        const buckets = definition.buckets ?? [];
        let cumulative = 0;
        for (let i = 0; i <= buckets.length; i++) {
          cumulative += s.counts[i] as number;
          const le = i === buckets.length ? "+Inf" : formatNumber(buckets[i] as number);
          out += `${name}_bucket${labelSet(labelNames, s.labels, `le="${le}"`)} ${cumulative}\n`;
        }
        out += `${name}_sum${labelSet(labelNames, s.labels)} ${formatNumber(s.sum)}\n`;
        out += `${name}_count${labelSet(labelNames, s.labels)} ${s.count}\n`;
      } else {
        out += `${name}${labelSet(labelNames, s.labels)} ${formatNumber(s.value)}\n`;
      }
    }
  }
  return out;
}

function labelSet(names: readonly string[], values: readonly string[], extra?: string): string {
  let out = "";
  for (let i = 0; i < names.length; i++) {
    const value = values[i] as string;
    if (value === "") continue;
    out += `${out === "" ? "" : ","}${names[i]}="${escapeLabel(value)}"`;
  }
  if (extra !== undefined) out += `${out === "" ? "" : ","}${extra}`;
  return out === "" ? "" : `{${out}}`;
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function escapeHelp(help: string): string {
  return help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}
