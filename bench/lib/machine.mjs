// The machine a benchmark ran on: CPU model, cores, memory, OS, kernel and Node version, whether
// it is a virtual machine, the versions of the peers and tools measured, and the date.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg, release, totalmem, type } from "node:os";
import { dirname, join } from "node:path";

/** The npm packages the scenarios measure or measure with. */
const PACKAGES = [
  "autocannon",
  "undici",
  "cockatiel",
  "opossum",
  "prom-client",
  "hdr-histogram-js",
  "@openfeature/flagd-core",
  "@openfeature/server-sdk",
];
/** The programs the scenarios run, each with the flag that prints its version and where the version is. */
const PROGRAMS = [
  { name: "nginx", args: ["-v"], version: /nginx\/(\S+)/ },
  { name: "haproxy", args: ["-v"], version: /HAProxy version (\S+)/ },
  { name: "valgrind", args: ["--version"], version: /valgrind-(\S+)/ },
];

export function describeMachine() {
  const list = cpus();
  return {
    cpu: list[0]?.model?.replace(/\s+/g, " ").trim() ?? "unknown",
    cores: list.length,
    ramGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${type()} ${release()}`,
    distro: distro(),
    node: process.version,
    virtual: virtualMachine(),
    software: software(),
    loadAverage1m: Math.round(loadavg()[0] * 100) / 100,
    date: new Date().toISOString(),
  };
}

/** Whether the CPUs say a hypervisor runs them (x86's `hypervisor` flag); undefined when unknown. */
function virtualMachine() {
  try {
    return /^flags\s*:.*\bhypervisor\b/m.test(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    return undefined;
  }
}

/** The version of each package and program of `PACKAGES` and `PROGRAMS` found here. */
export function software() {
  const out = {};
  const require = createRequire(import.meta.url);
  for (const name of PACKAGES) {
    const version = packageVersion(require, name);
    if (version !== undefined) out[name] = version;
  }
  for (const { name, args, version } of PROGRAMS) {
    // nginx prints its version on stderr; a program not installed gives neither.
    const run = spawnSync(name, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 5000 });
    const found = version.exec(`${run.stdout ?? ""}${run.stderr ?? ""}`)?.[1];
    if (found !== undefined) out[name] = found;
  }
  return out;
}

/** A package's version from its package.json, found from its entry point (some export no package.json). */
function packageVersion(require, name) {
  let dir;
  try {
    dir = dirname(require.resolve(name));
  } catch {
    return undefined;
  }
  for (; dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (manifest.name === name) return manifest.version;
    } catch {
      // no package.json at this level
    }
  }
  return undefined;
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
    m.distro !== undefined && m.os !== undefined && `kernel ${m.os.replace(/^Linux /, "")}`,
    m.virtual === true && "a virtual machine",
    m.node && `Node ${m.node}`,
  ];
  return parts.filter(Boolean).join(", ");
}
