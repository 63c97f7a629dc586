import { EventEmitter } from "node:events";
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { TandemError, TimeoutError } from "@tandem/core";
import { afterEach, describe, expect, it } from "vitest";
import { RelayBody } from "../src/http/relay-body.js";
import { DeadlineWheel } from "../src/policies/deadline-wheel.js";

/** undici's per-request controller as the body sees it, recording what it is asked. */
function controller() {
  const calls: string[] = [];
  let abortedWith: Error | undefined;
  return {
    calls,
    abortedWith: () => abortedWith,
    pause: () => calls.push("pause"),
    resume: () => calls.push("resume"),
    abort: (reason: Error) => {
      calls.push("abort");
      abortedWith = reason;
    },
  };
}

/** A server whose handler hands its `res` to the test, and a client reading from it. */
async function relayServer() {
  let respond: ((res: ServerResponse) => void) | undefined;
  const answered = new Promise<ServerResponse>((r) => {
    respond = r;
  });
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.flushHeaders();
    respond?.(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/", agent: false }, resolve).on("error", reject);
  });
  return {
    res: await answered,
    response,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Everything the client reads, and whether the answer arrived whole. */
function read(res: IncomingMessage): Promise<{ text: string; complete: boolean }> {
  return new Promise((resolve) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => (text += c));
    res.on("end", () => resolve({ text, complete: res.complete }));
    res.on("error", () => resolve({ text, complete: res.complete }));
    res.on("aborted", () => resolve({ text, complete: false }));
  });
}

const outcome = (p: Promise<void>) =>
  p.then(
    () => "resolved",
    (error: Error) => `rejected: ${error.message}`,
  );

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe("a relayed answer body", () => {
  it("writes what arrived before the client was attached, then the rest, and resolves once it is sent", async () => {
    const s = await relayServer();
    close = s.close;
    const c = controller();
    let done = 0;
    const body = new RelayBody(c, () => done++);
    body.data(Buffer.from("hello "));
    const reading = read(s.response);
    const relayed = outcome(body.pipeTo(s.res));
    body.data(Buffer.from("world"));
    body.end();
    expect(await reading).toEqual({ text: "hello world", complete: true });
    expect(await relayed).toBe("resolved");
    expect(done).toBe(1);
    expect(c.calls).toEqual([]);
  });

  it("keeps a body that arrived whole before anyone read it, for the client that attaches after", async () => {
    const s = await relayServer();
    close = s.close;
    const body = new RelayBody(controller(), () => {});
    body.data(Buffer.from("all "));
    body.data(Buffer.from("of it"));
    body.end();
    expect(body.destroyed).toBe(true);
    const reading = read(s.response);
    expect(await outcome(body.pipeTo(s.res))).toBe("resolved");
    expect(await reading).toEqual({ text: "all of it", complete: true });
  });

  it("cuts the client's answer off when the upstream body fails midway, naming the failure, and rejects", async () => {
    const s = await relayServer();
    close = s.close;
    const body = new RelayBody(controller(), () => {});
    body.guard(
      {
        timedOut: () => new TimeoutError("too slow"),
        failed: (e) => new TandemError("upstream_error", `named: ${(e as Error).message}`),
      },
      new DeadlineWheel(),
      10_000,
    );
    const reading = read(s.response);
    const relayed = outcome(body.pipeTo(s.res));
    body.data(Buffer.from("partial"));
    await new Promise((r) => setTimeout(r, 20));
    body.fail(new Error("socket reset"));
    const got = await reading;
    // The client must not take a truncated body for a whole one.
    expect(got).toEqual({ text: "partial", complete: false });
    expect(await relayed).toBe("rejected: named: socket reset");
  });

  it("aborts the upstream request when the client goes away, and rejects", async () => {
    const s = await relayServer();
    close = s.close;
    const c = controller();
    const body = new RelayBody(c, () => {});
    const relayed = outcome(body.pipeTo(s.res));
    body.data(Buffer.from("first"));
    await new Promise<void>((r) => s.response.once("data", () => r()));
    s.response.destroy();
    expect(await relayed).toMatch(/^rejected: /);
    expect(c.calls).toContain("abort");
    expect(body.destroyed).toBe(true);
    // undici reports the abort back as the body's error: nothing more happens.
    body.fail(c.abortedWith() as Error);
  });

  it("pauses the upstream while the client reads nothing, and delivers every byte once it does", async () => {
    const s = await relayServer();
    close = s.close;
    s.response.pause();
    const c = controller();
    const body = new RelayBody(c, () => {});
    const relayed = outcome(body.pipeTo(s.res));
    const chunk = Buffer.alloc(64 * 1024, 97);
    let written = 0;
    // Feed until the body asks undici to pause: the client pushed back through `res`.
    while (!c.calls.includes("pause")) {
      body.data(chunk);
      written += chunk.length;
      if (written > 64 * 2 ** 20) throw new Error("the body never paused the upstream");
      await new Promise((r) => setImmediate(r));
    }
    let received = 0;
    s.response.on("data", (b: Buffer) => {
      received += b.length;
    });
    const ended = new Promise<boolean>((r) => s.response.on("end", () => r(s.response.complete)));
    s.response.resume();
    await new Promise<void>((r) => {
      const check = () => (c.calls.includes("resume") ? r() : setTimeout(check, 5));
      check();
    });
    body.end();
    expect(await ended).toBe(true);
    expect(received).toBe(written);
    expect(await relayed).toBe("resolved");
  });

  it("pauses the upstream when 64 KiB arrived before anyone reads, and resumes once they are taken", async () => {
    const c = controller();
    const body = new RelayBody(c, () => {});
    body.data(Buffer.alloc(40 * 1024));
    expect(c.calls).toEqual([]);
    body.data(Buffer.alloc(40 * 1024));
    expect(c.calls).toEqual(["pause"]);
    const dumped = body.dump();
    expect(c.calls).toEqual(["pause", "resume"]);
    body.data(Buffer.alloc(1024));
    body.end();
    await dumped;
  });

  it("throws a body away up to 128 KiB read, and aborts the upstream past that rather than reading on", async () => {
    const c = controller();
    let done = 0;
    const body = new RelayBody(c, () => done++);
    const dumped = body.dump();
    for (let i = 0; i < 4; i++) body.data(Buffer.alloc(32 * 1024));
    expect(c.calls).toEqual([]);
    body.data(Buffer.alloc(1));
    expect(c.calls).toEqual(["abort"]);
    await dumped;
    expect(done).toBe(1);
    // A body that failed or ended is dumped at once.
    const failed = new RelayBody(controller(), () => {});
    failed.fail(new Error("reset"));
    await failed.dump();
  });

  it("cuts off a body still arriving when its deadline passes, with the guard's timeout error; one that arrived is left alone", async () => {
    const wheel = new DeadlineWheel();
    const guard = {
      timedOut: () => new TimeoutError("the total timeout passed while the response body was read"),
      failed: (e: unknown) => e as TandemError,
    };
    const c = controller();
    const slow = new RelayBody(c, () => {});
    slow.guard(guard, wheel, 20);
    slow.data(Buffer.from("a"));
    await new Promise((r) => setTimeout(r, 60));
    expect(c.calls).toEqual(["abort"]);
    expect(c.abortedWith()?.message).toBe("the total timeout passed while the response body was read");
    // A client attached afterwards hears of it at once (and its answer is destroyed).
    let destroyed = false;
    const late = Object.assign(new EventEmitter(), {
      destroy: () => {
        destroyed = true;
      },
    }) as unknown as ServerResponse;
    await expect(slow.pipeTo(late).catch((e: Error) => e.message)).resolves.toBe(
      "the total timeout passed while the response body was read",
    );
    expect(destroyed).toBe(true);

    const d = controller();
    const whole = new RelayBody(d, () => {});
    whole.guard(guard, wheel, 20);
    whole.data(Buffer.from("all of it"));
    whole.end();
    await new Promise((r) => setTimeout(r, 60));
    expect(d.calls).toEqual([]);
  });
});
