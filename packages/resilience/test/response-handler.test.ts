import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Dispatcher } from "undici";
import { describe, expect, it } from "vitest";
import { AttemptSignal } from "../src/http/attempt-signal.js";
import { dispatchForResponse } from "../src/http/response-body.js";

/** undici's handler interface as the tests drive it. */
interface Handler {
  onRequestStart(controller: Controller, context: unknown): void;
  onResponseStart(controller: Controller, status: number, headers: Record<string, string>, text: string): void;
  onResponseData(controller: Controller, chunk: Buffer): void;
  onResponseEnd(controller: Controller, trailers: Record<string, string>): void;
  onResponseError(controller: Controller, error: Error): void;
}

/** undici's per-request controller, recording what it is asked. */
class Controller {
  readonly calls: string[] = [];
  abortedWith: Error | undefined;
  pause(): void {
    this.calls.push("pause");
  }
  resume(): void {
    this.calls.push("resume");
  }
  abort(reason?: Error): void {
    this.calls.push("abort");
    this.abortedWith = reason;
  }
}

/** A dispatcher that hands the test each request's handler instead of sending it. */
function dispatcher() {
  const sent: { options: Dispatcher.DispatchOptions; handler: Handler }[] = [];
  const fake = {
    dispatch(options: Dispatcher.DispatchOptions, handler: Handler) {
      sent.push({ options, handler });
      return true;
    },
  };
  return { sent, dispatcher: fake as unknown as Dispatcher };
}

/** A promise's state, without waiting for it to settle. */
async function state(promise: Promise<unknown>): Promise<"pending" | "resolved" | "rejected"> {
  const pending = Symbol("pending");
  const first = await Promise.race([promise, Promise.resolve(pending)]).then(
    (v) => (v === pending ? "pending" : "resolved"),
    () => "rejected" as const,
  );
  return first;
}

const OPTIONS: Dispatcher.DispatchOptions = { method: "GET", path: "/" };

/** A request sent through a test dispatcher whose answer's head (200) arrived: its body is next. */
async function answered(caller?: AbortSignal) {
  const { sent, dispatcher: d } = dispatcher();
  const answer = dispatchForResponse(d, OPTIONS, new AttemptSignal(caller, undefined));
  const { handler } = sent[0] ?? expect.unreachable();
  const controller = new Controller();
  handler.onRequestStart(controller, undefined);
  handler.onResponseStart(controller, 200, {}, "OK");
  return { handler, controller, res: await answer };
}

describe("an attempt's answer read through a stream", () => {
  it("is undici's answer: status, headers, a body with its helpers, trailers once it ended", async () => {
    const { sent, dispatcher: d } = dispatcher();
    const answer = dispatchForResponse(d, OPTIONS, new AttemptSignal(undefined, undefined));
    const { handler } = sent[0] ?? expect.unreachable();
    const controller = new Controller();
    const context = { history: [] };
    handler.onRequestStart(controller, context);
    handler.onResponseStart(controller, 100, {}, "Continue");
    expect(await state(answer)).toBe("pending");
    handler.onResponseStart(controller, 200, { "content-type": "application/json", "content-length": "11" }, "OK");
    const res = await answer;
    expect(res).toMatchObject({ statusCode: 200, statusText: "OK", opaque: null, context });
    expect(res.headers["content-type"]).toBe("application/json");
    handler.onResponseData(controller, Buffer.from('{"ok":'));
    handler.onResponseData(controller, Buffer.from("true}"));
    handler.onResponseEnd(controller, { "x-checksum": "abc" });
    expect(await res.body.json()).toEqual({ ok: true });
    expect(res.trailers).toEqual({ "x-checksum": "abc" });
  });

  it("pauses the upstream while the body's buffer is full and resumes it when read", async () => {
    const { handler, controller, res } = await answered();
    handler.onResponseData(controller, Buffer.alloc(128 * 1024));
    expect(controller.calls).toEqual(["pause"]);
    const text = res.body.text();
    await new Promise((r) => setImmediate(r));
    expect(controller.calls).toContain("resume");
    handler.onResponseEnd(controller, {});
    expect((await text).length).toBe(128 * 1024);
  });

  it("sends nothing when its signal has aborted already", async () => {
    const { sent, dispatcher: d } = dispatcher();
    const caller = new AbortController();
    caller.abort(new Error("gave up"));
    await expect(dispatchForResponse(d, OPTIONS, new AttemptSignal(caller.signal, undefined))).rejects.toThrow(
      "gave up",
    );
    expect(sent).toEqual([]);
  });

  it("rejects at once when its signal aborts before the answer, and stops the request", async () => {
    const { sent, dispatcher: d } = dispatcher();
    const caller = new AbortController();
    const answer = dispatchForResponse(d, OPTIONS, new AttemptSignal(caller.signal, undefined));
    const { handler } = sent[0] ?? expect.unreachable();
    const controller = new Controller();
    handler.onRequestStart(controller, undefined);
    caller.abort(new Error("gave up"));
    await expect(answer).rejects.toThrow("gave up");
    expect(controller.abortedWith?.message).toBe("gave up");
  });

  it("aborts a request its signal gave up on while it waited for a connection, once it starts", async () => {
    const { sent, dispatcher: d } = dispatcher();
    const caller = new AbortController();
    const answer = dispatchForResponse(d, OPTIONS, new AttemptSignal(caller.signal, undefined));
    caller.abort(new Error("gave up"));
    await expect(answer).rejects.toThrow("gave up");
    const { handler } = sent[0] ?? expect.unreachable();
    const controller = new Controller();
    handler.onRequestStart(controller, undefined);
    expect(controller.abortedWith?.message).toBe("gave up");
  });

  it("fails the body with the signal's reason when it aborts while the body arrives", async () => {
    const caller = new AbortController();
    const { handler, controller, res } = await answered(caller.signal);
    handler.onResponseData(controller, Buffer.from("half"));
    caller.abort(new Error("gave up"));
    await expect(res.body.text()).rejects.toThrow("gave up");
    expect(controller.calls).toContain("abort");
  });

  it("lets go of the caller's signal once the body arrived whole", async () => {
    const caller = new AbortController();
    const { handler, controller, res } = await answered(caller.signal);
    handler.onResponseData(controller, Buffer.from("whole"));
    handler.onResponseEnd(controller, {});
    caller.abort(new Error("too late"));
    expect(await res.body.text()).toBe("whole");
    expect(controller.calls).not.toContain("abort");
  });

  it("fails an unread body with the transport's error, without an uncaught error", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    try {
      const { handler, controller, res } = await answered();
      handler.onResponseError(controller, Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }));
      await new Promise((r) => setTimeout(r, 20));
      expect(res.body.destroyed).toBe(true);
      await expect(res.body.text()).rejects.toThrow("other side closed");
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(uncaught).toEqual([]);
  });

  it("destroys a streamed request body when the attempt fails", async () => {
    const { Readable } = await import("node:stream");
    const requestBody = new Readable({ read() {} });
    const { sent, dispatcher: d } = dispatcher();
    const answer = dispatchForResponse(
      d,
      { ...OPTIONS, method: "POST", body: requestBody },
      new AttemptSignal(undefined, undefined),
    );
    const { handler } = sent[0] ?? expect.unreachable();
    handler.onResponseError(new Controller(), new Error("connect ECONNREFUSED"));
    await expect(answer).rejects.toThrow("ECONNREFUSED");
    expect(requestBody.destroyed).toBe(true);
  });

  it("keeps no hold on the request once its body ended, even while the body is kept", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const { sent, dispatcher: d } = dispatcher();
    const answer = dispatchForResponse(d, OPTIONS, new AttemptSignal(undefined, undefined));
    let handler: Handler | undefined = sent[0]?.handler;
    sent.length = 0;
    let controller: Controller | undefined = new Controller();
    const request = new WeakRef(controller);
    handler?.onRequestStart(controller, undefined);
    handler?.onResponseStart(controller, 200, {}, "OK");
    const res = await answer;
    handler?.onResponseData(controller, Buffer.from("kept"));
    // undici lets go of the handler and the controller when the request is done.
    const end = (h: Handler, c: Controller) => h.onResponseEnd(c, {});
    if (handler !== undefined) end(handler, controller);
    handler = undefined;
    controller = undefined;
    for (let i = 0; i < 5 && request.deref() !== undefined; i++) {
      await new Promise((r) => setImmediate(r));
      gc();
    }
    expect(request.deref()).toBeUndefined();
    expect(await res.body.text()).toBe("kept");
  });
});
