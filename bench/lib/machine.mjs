// The machine a benchmark ran on: CPU model, cores, memory, OS and Node version, and the date.
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem, type } from "node:os";

export function describeMachine() {
  const list = cpus();
  return {
    cpu: list[0]?.model?.replace(/\s+/g, " ").trim() ?? "unknown",
    cores: list.length,
    ramGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${type()} ${release()}`,
    distro: distro(),
    node: process.version,
    loadAverage1m: Math.round(loadavg()[0] * 100) / 100,
    date: new Date().toISOString(),
  };
}

function distro() {
  try {
    const line = readFileSync("/etc/os-release", "utf8")
      .split("\n")
      .find((l) => l.startsWith("PRETTY_NAME="));
    return line ? line.slice("PRETTY_NAME=".length).replace(/^"|"$/g, "") : undefined;
  } catch {
    return undefined;
  }
}

/** One line for a report: "Intel Xeon ..., 2 cores, 23.5 GiB, Linux 6.1, Node v24.11.1". */
export function machineLine(m) {
  if (!m) return "unknown machine";
  const parts = [
    m.cpu ?? "unknown CPU",
    m.cores && `${m.cores} cores`,
    m.ramGiB && `${m.ramGiB} GiB RAM`,
    m.distro ?? m.os,
    m.node && `Node ${m.node}`,
  ];
  return parts.filter(Boolean).join(", ");
}
