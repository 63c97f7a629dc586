// A job run in a child Node process of its own: the child gets `message` over IPC and answers
// with one message, `{ result }` or `{ error }` (a stack). The open-loop generator and the HTTP
// client benchmark use it, so that a subject never shares an event loop with what measures it.
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
