// Dependency-free SVG charts for docs/benchmarks.md: horizontal bars (one series, optional
// min..max whiskers) and grouped horizontal bars (several series per group, with a legend).
// Labels sit left of the bars, values at their end, the unit on the value axis.

const COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"];
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

function esc(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function fmt(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "n/a";
  const a = Math.abs(v);
  if (v === 0) return "0";
  if (a >= 100) return Math.round(v).toLocaleString("en-US");
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** A "nice" axis maximum and tick step for values up to `max`. */
function niceScale(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  return { top: Math.ceil(max / step) * step, step };
}

/** A generous estimate of the width of `text` (bold labels included), so nothing is clipped. */
function textWidth(text, size = 12) {
  return String(text).length * size * 0.64;
}

/**
 * @param {{ title: string, unit: string, bars: { label: string, value: number, min?: number, max?: number, highlight?: boolean }[], note?: string }} o
 */
export function barChart(o) {
  const series = [{ name: o.unit, values: o.bars.map((b) => b.value) }];
  return groupedBarChart({
    title: o.title,
    unit: o.unit,
    note: o.note,
    groups: o.bars.map((b) => b.label),
    series,
    whiskers: o.bars.map((b) => (b.min !== undefined && b.max !== undefined ? [[b.min, b.max]] : [null])),
    highlight: o.bars.map((b) => Boolean(b.highlight)),
    legend: false,
  });
}

/**
 * @param {{ title: string, unit: string, groups: string[], series: { name: string, values: (number|null)[] }[],
 *   whiskers?: ([number, number] | null)[][], note?: string, legend?: boolean, highlight?: boolean[] }} o
 */
export function groupedBarChart(o) {
  if (!Array.isArray(o.groups) || !Array.isArray(o.series) || o.series.length === 0)
    throw new TypeError("groupedBarChart: groups and a non-empty series are required");
  const barH = 16;
  const gap = 4;
  const groupGap = 12;
  const labelW = Math.min(360, Math.max(80, ...o.groups.map((g) => textWidth(g))) + 16);
  const plotW = 460;
  const valueW = 70;
  const left = labelW;
  const top = 40;
  const legend = o.legend ?? o.series.length > 1;
  const legendH = legend ? 22 : 0;
  const groupH = o.series.length * (barH + gap) - gap;
  const plotH = o.groups.length * (groupH + groupGap);
  const width = left + plotW + valueW;
  const height = top + plotH + 40 + legendH + (o.note ? 18 : 0);
  const all = o.series.flatMap((s) => s.values).concat((o.whiskers ?? []).flat(2).filter((v) => typeof v === "number"));
  const { top: axisMax, step } = niceScale(Math.max(0, ...all.filter((v) => Number.isFinite(v))));
  const x = (v) => Math.round((left + (Math.max(0, v) / axisMax) * plotW) * 100) / 100;
  const parts = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
  );
  parts.push(`<title>${esc(o.title)}</title>`);
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(o.title)}</text>`,
  );
  for (let t = 0; t <= axisMax + step / 2; t += step) {
    const tx = x(t);
    parts.push(`<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${top + plotH}" stroke="#e0e0e0"/>`);
    parts.push(`<text x="${tx}" y="${top + plotH + 14}" text-anchor="middle" fill="#555">${esc(fmt(t))}</text>`);
  }
  parts.push(`<line x1="${left}" y1="${top - 4}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`);
  parts.push(
    `<text x="${left + plotW / 2}" y="${top + plotH + 32}" text-anchor="middle" fill="#333">${esc(o.unit)}</text>`,
  );
  o.groups.forEach((group, gi) => {
    const gy = top + gi * (groupH + groupGap);
    parts.push(
      `<text x="${left - 8}" y="${gy + groupH / 2 + 4}" text-anchor="end"${o.highlight?.[gi] ? ' font-weight="bold"' : ""}>${esc(group)}</text>`,
    );
    o.series.forEach((s, si) => {
      const v = s.values[gi];
      const y = gy + si * (barH + gap);
      const color = o.series.length > 1 ? COLORS[si % COLORS.length] : o.highlight?.[gi] ? COLORS[1] : COLORS[0];
      if (v === null || v === undefined || !Number.isFinite(v)) {
        parts.push(`<text x="${left + 4}" y="${y + barH - 4}" fill="#888">not measured</text>`);
        return;
      }
      parts.push(
        `<rect x="${left}" y="${y}" width="${Math.max(1, Math.round((x(v) - left) * 100) / 100)}" height="${barH}" fill="${color}"><title>${esc(`${s.name} ${group}: ${fmt(v)} ${o.unit}`)}</title></rect>`,
      );
      const w = o.whiskers?.[gi]?.[si];
      let end = x(v);
      if (w) {
        const [lo, hi] = w;
        const cy = y + barH / 2;
        parts.push(`<line x1="${x(lo)}" y1="${cy}" x2="${x(hi)}" y2="${cy}" stroke="#222"/>`);
        parts.push(`<line x1="${x(lo)}" y1="${cy - 4}" x2="${x(lo)}" y2="${cy + 4}" stroke="#222"/>`);
        parts.push(`<line x1="${x(hi)}" y1="${cy - 4}" x2="${x(hi)}" y2="${cy + 4}" stroke="#222"/>`);
        end = Math.max(end, x(hi));
      }
      parts.push(`<text x="${end + 4}" y="${y + barH - 4}" fill="#222">${esc(fmt(v))}</text>`);
    });
  });
  let ly = top + plotH + 40;
  if (legend) {
    let lx = left;
    o.series.forEach((s, si) => {
      parts.push(`<rect x="${lx}" y="${ly + 2}" width="12" height="12" fill="${COLORS[si % COLORS.length]}"/>`);
      parts.push(`<text x="${lx + 16}" y="${ly + 12}">${esc(s.name)}</text>`);
      lx += 28 + textWidth(s.name);
    });
    ly += legendH;
  }
  if (o.note) parts.push(`<text x="${left}" y="${ly + 12}" fill="#555" font-size="11">${esc(o.note)}</text>`);
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
