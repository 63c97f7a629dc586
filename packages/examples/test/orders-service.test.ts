import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually } from "@tandem/testkit";
import { startStub } from "@tandem-examples/payments-stub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { example, type StartedProcess, startProcess, tandemBin } from "./run-example.js";

type Stub = Awaited<ReturnType<typeof startStub>>;

let stubs: Stub[] = [];

beforeAll(async () => {
  stubs = await Promise.all([0, 1, 2, 3].map((i) => startStub({ name: i === 3 ? "inventory" : `payments-${i}` })));
});

/** A fresh directory with the example's tandem.yaml (pointed at the stubs) and flags.json. */
function configDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tandem-orders-"));
  const [a, b, c, inventory] = stubs.map((s) => s.url);
  const config = readFileSync(example("orders-service/tandem.yaml"), "utf8")
    .replace("http://127.0.0.1:7001, http://127.0.0.1:7002, http://127.0.0.1:7003", `${a}, ${b}, ${c}`)
    .replace("http://127.0.0.1:7101", inventory as string);
  expect(config).toContain(a);
  writeFileSync(join(dir, "tandem.yaml"), config);
  writeFileSync(join(dir, "flags.json"), readFileSync(example("orders-service/flags.json")));
  return dir;
}

afterAll(async () => {
  await Promise.all(stubs.map((s) => s.close()));
});

const server = example("orders-service/server.mjs");
const modes = {
  library: (dir: string) =>
    startProcess([server], {
      TANDEM_MODE: "library",
      TANDEM_CONFIG: join(dir, "tandem.yaml"),
      PORT: "0",
      TANDEM_LOG_LEVEL: "info",
    }),
  sidecar: (dir: string) =>
    startProcess(
      [
        tandemBin,
        "run",
        "--config",
        join(dir, "tandem.yaml"),
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--",
        process.execPath,
        server,
      ],
      { PORT: "0", TANDEM_LOG_LEVEL: "info" },
    ),
};

describe.each(["library", "sidecar"] as const)("examples/orders-service in %s mode", (mode) => {
  let service: StartedProcess;
  let url: string;
  let dir: string;

  beforeAll(async () => {
    dir = configDir();
    const started = modes[mode](dir);
    service = started.process;
    const line = await started.ready;
    url = line.url as string;
    expect(line.mode).toBe(mode);
  });

  afterAll(async () => {
    expect(await service.stop()).toBe(0);
  });

  it("creates an order through payments and inventory, and reads it back", async () => {
    const created = await fetch(`${url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ customerId: "c1", items: [{ sku: "a", qty: 2 }], amount: 12.5 }),
    });
    expect(created.status).toBe(201);
    const order = (await created.json()) as { id: string; chargeId: string; reservationId: string; checkout: string };
    expect(order.chargeId).toMatch(/^payments-\d-\d+$/);
    expect(order.reservationId).toMatch(/^inventory-\d+$/);
    expect(order.checkout).toBe("classic");
    const read = await fetch(`${url}/orders/${order.id}`);
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual(order);
    expect((await fetch(`${url}/orders/nope`)).status).toBe(404);
  });

  it("logs the order with the trace id of its request", async () => {
    await eventually(() => {
      const line = service.output.find((l) => l.includes('"event":"order_created"'));
      expect(line).toBeDefined();
      expect(JSON.parse(line as string)).toMatchObject({ trace_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    });
  });

  it("refuses an order over app.maxItems and says so", async () => {
    const res = await fetch(`${url}/orders`, {
      method: "POST",
      body: JSON.stringify({ items: Array.from({ length: 21 }, (_, i) => ({ sku: `s${i}` })) }),
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { detail: string }).detail).toContain("at most 20");
  });

  it("answers /healthz with the mode in force", async () => {
    const res = await fetch(`${url}/healthz`);
    expect(await res.json()).toMatchObject({ status: "ok", mode, degraded: false });
  });

  it("serves its metrics: the business counter, inbound and outbound requests", async () => {
    await eventually(async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      expect(text).toMatch(/^orders_created_total\{checkout="classic"\} [1-9]/m);
      expect(text).toMatch(/^orders_max_items 20$/m);
      expect(text).toContain(
        'http_server_request_duration_seconds_count{http_request_method="POST",http_route="/orders"',
      );
      expect(text).toContain("http_client_request_duration_seconds_count");
    });
  });

  it("follows a flag flip and a config change without a restart", async () => {
    const order = (items: number) =>
      fetch(`${url}/orders`, {
        method: "POST",
        body: JSON.stringify({ customerId: "c2", items: Array.from({ length: items }, (_, i) => ({ sku: `s${i}` })) }),
      });
    const flags = join(dir, "flags.json");
    writeFileSync(flags, readFileSync(flags, "utf8").replace('"defaultVariant": "off"', '"defaultVariant": "on"'));
    await eventually(async () => {
      const res = await order(1);
      expect(((await res.json()) as { checkout: string }).checkout).toBe("new");
    });
    const config = join(dir, "tandem.yaml");
    writeFileSync(config, readFileSync(config, "utf8").replace(/maxItems: 20\b/, "maxItems: 2"));
    await eventually(async () => expect((await order(3)).status).toBe(422));
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/^orders_max_items 2$/m);
    expect(text).toMatch(/^orders_config_changes_total\{setting="app.maxItems"\} 1$/m);
    expect(text).toMatch(/^orders_created_total\{checkout="new"\} [1-9]/m);
  });
});
