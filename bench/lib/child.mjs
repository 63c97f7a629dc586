// A job run in a child Node process of its own: the child gets `message` over IPC and answers
// with one message, `{ result }` or `{ error }` (a stack). The open-loop generator uses it, so that
// a subject never shares an event loop with what measures it; `startWorker` keeps a child for
// several jobs.
//
//   const result = await runChild({ file, args: ["--client"], message: { url }, limitMs: 60_000, name: "the client" });
import { fork } from "node:child_process";

/**
 * @param {object} o
 * @param {string} o.file  the module to fork
 * @param {string[]} o.args  its arguments (how it knows it is the child)
 * @param {string[]} [o.execArgv]  Node flags, the parent's by default
 * @param {unknown} o.message  what the child is sent
 * @param {number} o.limitMs  the child is killed, and the promise rejected, after this long
 * @param {string} o.name  how errors name the child
 * @returns {Promise<unknown>} the child's `result`
 */
export async function runChild(o) {
  const child = forkChild(o);
  try {
    return await ask(child, o.name, o.message, o.limitMs);
  } finally {
    if (child.connected) child.disconnect();
  }
}

/**
 * A child Node process kept for several jobs: it is started with `message` and answers it once
 * ready, then answers each `ask(message)` with one message, `{ result }` or `{ error }`. The HTTP
 * client benchmark runs each subject in one, so that subjects take turns without sharing a heap.
 *
 * @param {object} o  as for `runChild`; `limitMs` bounds the start
 * @returns {Promise<{ ask(message: unknown, limitMs: number): Promise<unknown>, stop(): void }>}
 */
export async function startWorker(o) {
  const child = forkChild(o);
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  try {
    await ask(child, o.name, o.message, o.limitMs);
  } catch (error) {
    stop();
    throw error;
  }
  return { ask: (message, limitMs) => ask(child, o.name, message, limitMs), stop };
}

function forkChild(o) {
  const child = fork(o.file, o.args, {
    execArgv: o.execArgv ?? process.execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  // A failure while a job waits rejects it (`ask`); one between jobs has nobody to tell.
  child.on("error", () => {});
  return child;
}

/** Sends `message` to `child` and resolves with its answer's `result`; kills it after `limitMs`. */
function ask(child, name, message, limitMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish(new Error(`${name} did not finish within ${limitMs} ms`));
    }, limitMs);
    const onMessage = (m) => finish(m.error ? new Error(`${name}: ${m.error}`) : undefined, m.result);
    const onError = (error) => finish(error);
    const onExit = (code, signal) => finish(new Error(`${name} exited (${code ?? signal}) without a result`));
    function finish(error, result) {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("error", onError);
      child.off("exit", onExit);
      if (error) reject(error);
      else resolve(result);
    }
    child.once("message", onMessage);
    child.once("error", onError);
    child.once("exit", onExit);
    child.send(message);
  });
}
