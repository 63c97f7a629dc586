// The floor of a proxy hop written in Node: node:http in, one undici Pool out (keep-alive), the
// answer streamed back, nothing else (no policies, no spans, no metrics, no header filtering).
// The sidecar-hop scenario runs it next to the tandem sidecar to show what Node itself costs.
//
//   const proxy = await startNodeProxy("http://127.0.0.1:8080");  // { url, pids, stop() }
//   startNodeProxy(upstream, { wrap: ["valgrind", "--tool=callgrind"] })  // under another command
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";

const SELF = fileURLToPath(import.meta.url);

export async function startNodeProxy(upstream, options = {}) {
  if (typeof upstream !== "string" || !upstream.startsWith("http://"))
    throw new TypeError(`startNodeProxy: upstream must be an http:// origin, got ${JSON.stringify(upstream)}`);
  // As fork() would: this process's Node flags too.
  const command = [...(options.wrap ?? []), process.execPath, ...process.execArgv];
  const child = spawn(command[0], [...command.slice(1), SELF, "--node-proxy-child", upstream], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const port = await new Promise((resolve, reject) => {
    const limitS = options.wrap === undefined ? 10 : 120;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the Node proxy did not listen within ${limitS} s`));
    }, limitS * 1000);
    child.once("message", (p) => {
      clearTimeout(timer);
      resolve(p);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the Node proxy exited (${code}) before listening`));
    });
  });
  child.disconnect();
  const stop = async () => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await gone;
  };
  return { tool: "node", url: `http://127.0.0.1:${port}`, port, pid: child.pid, pids: [child.pid], stop };
}

if (process.argv[2] === "--node-proxy-child") {
  const pool = new Pool(process.argv[3], { connections: 128, pipelining: 1, keepAliveTimeout: 30_000 });
  const server = createServer((req, res) => {
    pool.request({ method: req.method, path: req.url, headers: { via: "1.1 node" } }).then(
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.body.pipe(res);
        answer.body.once("error", () => res.destroy());
        res.once("close", () => answer.body.destroy());
      },
      () => {
        res.writeHead(502).end();
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, "127.0.0.1", () => process.send(server.address().port));
}
