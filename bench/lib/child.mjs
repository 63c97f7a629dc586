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
export function runChild(o) {
  return new Promise((resolve, reject) => {
    const child = fork(o.file, o.args, {
      execArgv: o.execArgv ?? process.execArgv,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${o.name} did not finish within ${o.limitMs} ms`));
    }, o.limitMs);
    let answered = false;
    child.once("message", (m) => {
      answered = true;
      clearTimeout(timer);
      child.disconnect();
      if (m.error) reject(new Error(`${o.name}: ${m.error}`));
      else resolve(m.result);
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (!answered) reject(new Error(`${o.name} exited (${code ?? signal}) without a result`));
    });
    child.send(o.message);
  });
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
  const child = fork(o.file, o.args, {
    execArgv: o.execArgv ?? process.execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  child.once("error", () => {});
  const ask = (message, limitMs) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${o.name} did not answer within ${limitMs} ms`));
      }, limitMs);
      const onExit = (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${o.name} exited (${code ?? signal}) without a result`));
      };
      child.once("exit", onExit);
      child.once("message", (m) => {
        clearTimeout(timer);
        child.off("exit", onExit);
        if (m.error) reject(new Error(`${o.name}: ${m.error}`));
        else resolve(m.result);
      });
      child.send(message);
    });
  try {
    await ask(o.message, o.limitMs);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    ask,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
