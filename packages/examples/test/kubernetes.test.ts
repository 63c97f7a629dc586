import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { example, tandemBin } from "./run-example.js";

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are checked field by field below.
type K8s = any;

const dir = example("kubernetes/manifests");
const documents: { file: string; doc: K8s }[] = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), "utf8")).map((d) => {
      expect(d.errors, file).toEqual([]);
      return { file, doc: d.toJS() as K8s };
    }),
  );
const byKind = (kind: string): K8s[] => documents.filter((d) => d.doc.kind === kind).map((d) => d.doc);
const configMaps = new Map(byKind("ConfigMap").map((c) => [c.metadata.name, c]));
const secrets = new Map(byKind("Secret").map((s) => [s.metadata.name, s]));
const deployments = byKind("Deployment");
const flagValue = (args: string[], flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i === -1 ? undefined : args[i + 1];
};
const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));

describe("examples/kubernetes manifests", () => {
  it("are well-formed objects with a kind and a name", () => {
    expect(documents.length).toBeGreaterThanOrEqual(7);
    for (const { file, doc } of documents) {
      expect(doc.apiVersion, file).toMatch(/^(v1|apps\/v1)$/);
      expect(doc.metadata?.name, file).toMatch(/^[a-z0-9-]+$/);
    }
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(["orders", "orders-library"]);
  });

  describe.each(deployments.map((d) => [d.metadata.name, d]))("Deployment %s", (_name, deployment: K8s) => {
    const pod = deployment.spec.template;
    const containers: K8s[] = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
    const volumes = new Map<string, K8s>(pod.spec.volumes.map((v: K8s) => [v.name, v]));

    it("selects its own pods", () => {
      expect(pod.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    });

    it("mounts only declared volumes, from ConfigMaps and Secrets that exist", () => {
      for (const c of containers)
        for (const m of c.volumeMounts ?? []) expect(volumes.has(m.name), `${c.name} mounts ${m.name}`).toBe(true);
      for (const v of volumes.values()) {
        if (v.configMap) expect(configMaps.has(v.configMap.name), v.name).toBe(true);
        if (v.secret) expect(secrets.has(v.secret.secretName), v.name).toBe(true);
      }
    });

    it("takes env values from Secret keys that exist", () => {
      for (const c of containers)
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (ref)
            expect(Object.keys(secrets.get(ref.name)?.stringData ?? {}), `${c.name} ${e.name}`).toContain(ref.key);
        }
    });

    it("probes named ports the container declares, on tandem's probe paths", () => {
      for (const c of containers)
        for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
          const get = c[probe]?.httpGet;
          if (!get) continue;
          expect(
            c.ports.map((p: K8s) => p.name),
            `${c.name} ${probe}`,
          ).toContain(get.port);
          expect(["/healthz", "/readyz"]).toContain(get.path);
        }
    });

    it("runs non-root on a read-only root filesystem", () => {
      expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true });
      for (const c of containers)
        expect(c.securityContext, c.name).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
        });
    });

    it("is scraped by Prometheus on a declared port at /metrics", () => {
      const a = pod.metadata.annotations;
      expect(a["prometheus.io/scrape"]).toBe("true");
      expect(a["prometheus.io/path"]).toBe("/metrics");
      const ports = containers.flatMap((c) => c.ports.map((p: K8s) => p.containerPort));
      expect(ports).toContain(Number(a["prometheus.io/port"]));
    });

    it("has a Service whose targetPort names a container port", () => {
      const service = byKind("Service").find((s) => s.metadata.name === deployment.metadata.name);
      expect(service.spec.selector).toEqual(pod.metadata.labels);
      const names = containers.flatMap((c) => c.ports.map((p: K8s) => p.name));
      for (const p of service.spec.ports) expect(names).toContain(p.targetPort);
    });

    it("points TANDEM_CONFIG and the app's port at what is mounted and declared", () => {
      const app = pod.spec.containers.find((c: K8s) => c.name === "orders");
      const env = new Map(app.env.map((e: K8s) => [e.name, e.value]));
      expect(app.ports.map((p: K8s) => p.containerPort)).toContain(Number(env.get("PORT")));
      const config = env.get("TANDEM_CONFIG") as string;
      const mount = app.volumeMounts.find((m: K8s) => config.startsWith(`${m.mountPath}/`));
      expect(configMaps.get(volumes.get(mount.name).configMap.name).data).toHaveProperty(
        config.slice(mount.mountPath.length + 1),
      );
    });
  });

  it("runs tandem as a native sidecar the app reaches on loopback with the shared token", () => {
    const pod = deployments.find((d) => d.metadata.name === "orders").spec.template.spec;
    const [sidecar] = pod.initContainers;
    expect(sidecar.restartPolicy).toBe("Always");
    expect(sidecar.startupProbe.httpGet.path).toBe("/readyz");
    const args: string[] = sidecar.args;
    expect(args[0]).toBe("sidecar");
    const admin = portOf(flagValue(args, "--admin") as string);
    expect(sidecar.ports.find((p: K8s) => p.name === sidecar.startupProbe.httpGet.port).containerPort).toBe(admin);
    expect(flagValue(args, "--admin")).toMatch(/^0\.0\.0\.0:/);
    expect(args).toContain("--allow-non-loopback"); // needed to bind admin beyond loopback
    expect(flagValue(args, "--listen")).toMatch(/^127\.0\.0\.1:/);
    const app = pod.containers.find((c: K8s) => c.name === "orders");
    const env = new Map(app.env.map((e: K8s) => [e.name, e]));
    expect(env.get("TANDEM_MODE").value).toBe("sidecar");
    expect(env.get("TANDEM_SIDECAR").value).toBe(`http://${flagValue(args, "--listen")}`);
    const token = (c: K8s) => c.env.find((e: K8s) => e.name === "TANDEM_TOKEN").valueFrom.secretKeyRef;
    expect(token(app)).toEqual(token(sidecar));
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      Number.parseInt(flagValue(args, "--drain-timeout") as string, 10) * 1000,
    );
  });

  it("ships a tandem.yaml that `tandem config` accepts, whose flags and secrets paths are the mounts", () => {
    const pod = deployments.find((d) => d.metadata.name === "orders").spec.template.spec;
    const [sidecar] = pod.initContainers;
    const configPath = flagValue(sidecar.args, "--config") as string;
    const mountOf = (path: string) =>
      sidecar.volumeMounts.find((m: K8s) => path.startsWith(`${m.mountPath}/`) || path === m.mountPath);
    const volumeOf = (path: string) => pod.volumes.find((v: K8s) => v.name === mountOf(path).name);
    const text: string = configMaps.get(volumeOf(configPath).configMap.name).data["tandem.yaml"];
    const config = parse(text);
    const flagsMap = configMaps.get(volumeOf(config.flags.source).configMap.name);
    const flagsKey = config.flags.source.slice(mountOf(config.flags.source).mountPath.length + 1);
    expect(flagsMap.data).toHaveProperty(flagsKey);
    expect(mountOf(config.secrets.dir).mountPath).toBe(config.secrets.dir);
    expect(volumeOf(config.secrets.dir).secret).toBeDefined();

    // The same files on disk, at temporary paths, checked by the CLI.
    const root = mkdtempSync(join(tmpdir(), "tandem-k8s-"));
    mkdirSync(join(root, "secrets"));
    const secret = secrets.get(volumeOf(config.secrets.dir).secret.secretName);
    for (const [name, value] of Object.entries(secret.stringData))
      writeFileSync(join(root, "secrets", name), String(value));
    writeFileSync(join(root, "flags.json"), flagsMap.data[flagsKey]);
    writeFileSync(
      join(root, "tandem.yaml"),
      text.replace(config.flags.source, join(root, "flags.json")).replace(config.secrets.dir, join(root, "secrets")),
    );
    JSON.parse(flagsMap.data[flagsKey]);
    const run = spawnSync(process.execPath, [tandemBin, "config", "--config", join(root, "tandem.yaml")], {
      encoding: "utf8",
    });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("maxItems: 20");
  });

  it("builds images that run as a non-root user", () => {
    for (const file of ["Dockerfile.sidecar", "Dockerfile.orders"]) {
      const text = readFileSync(example(`kubernetes/${file}`), "utf8");
      const user = /^USER (\S+)$/m.exec(text)?.[1];
      expect(user, file).toBeDefined();
      expect(user?.startsWith("0") || user === "root", file).toBe(false);
      expect(text, file).toMatch(/^FROM node:24-alpine$/m);
    }
  });

  it("runs the sidecar image with tandem run's small young generation and an old space under its memory limit", () => {
    const text = readFileSync(example("kubernetes/Dockerfile.sidecar"), "utf8");
    const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(text)?.[1] ?? "[]") as string[];
    expect(entrypoint).toEqual([
      "node",
      "--max-semi-space-size=4",
      "--single-threaded-gc",
      "--no-allocation-site-pretenuring",
      "--max-old-space-size=128",
      "/app/bin/tandem.js",
    ]);
  });

  it("runs the orders image without allocation-site pretenuring, which Node refuses in NODE_OPTIONS", () => {
    const text = readFileSync(example("kubernetes/Dockerfile.orders"), "utf8");
    const command = JSON.parse(/^CMD (.+)$/m.exec(text)?.[1] ?? "[]") as string[];
    expect(command).toEqual(["node", "--no-allocation-site-pretenuring", "/app/server.mjs"]);
  });
});
