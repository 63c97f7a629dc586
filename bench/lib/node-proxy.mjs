// The floor of a proxy hop written in Node: node:http in, one undici Pool out (keep-alive), the
// answer streamed back, nothing else (no policies, no spans, no metrics, no header filtering).
// The sidecar-hop scenario runs it next to the tandem sidecar to show what Node itself costs.
//
// Two yardsticks go lower (`kind`): "http-socket" is node:http in and a bare kept-alive socket
// out, "socket" bare sockets both ways. Both read only what the benchmarks send and get (GET,
// answers framed by Content-Length): they show how much of a proxy's work in Node is Node's HTTP
// server (the instruction counts), and what any Node process on the path adds to a request
// (scenario 3's latency), and are no proxy anyone should run.
//
//   const proxy = await startNodeProxy("http://127.0.0.1:8080");  // { url, pids, stop() }
//   startNodeProxy(upstream, { wrap: ["valgrind", "--tool=callgrind"] })  // under another command
//   startNodeProxy(upstream, { kind: "socket" })
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { connect, createServer as createTcpServer } from "node:net";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";

const SELF = fileURLToPath(import.meta.url);

export async function startNodeProxy(upstream, options = {}) {
  if (typeof upstream !== "string" || !upstream.startsWith("http://"))
    throw new TypeError(`startNodeProxy: upstream must be an http:// origin, got ${JSON.stringify(upstream)}`);
  // As fork() would: this process's Node flags too.
  const command = [...(options.wrap ?? []), process.execPath, ...process.execArgv];
  const kind = options.kind ?? "undici";
  if (!["undici", "http-socket", "socket"].includes(kind))
    throw new TypeError(`startNodeProxy: kind must be undici, http-socket or socket, got ${JSON.stringify(kind)}`);
  const child = spawn(command[0], [...command.slice(1), SELF, "--node-proxy-child", upstream, kind], {
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

if (process.argv[2] === "--node-proxy-child" && process.argv[4] === "undici") {
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

if (process.argv[2] === "--node-proxy-child" && process.argv[4] !== "undici") {
  const { hostname, port } = new URL(process.argv[3]);
  const idle = [];
  const HEAD_END = Buffer.from("\r\n\r\n");
  // A new upstream connection, taken out of the idle list when the upstream closes it (nginx closes
  // one idle for 65 s: one left at the bottom of the list while the rate is low).
  const opened = () => {
    const socket = connect({ host: hostname, port: Number(port), noDelay: true });
    socket.once("close", () => {
      const at = idle.indexOf(socket);
      if (at !== -1) idle.splice(at, 1);
    });
    socket.on("error", () => {});
    return socket;
  };
  // Sends `head` on an idle upstream socket (or a new one); `done` gets the whole answer's bytes.
  const forward = (head, done) => {
    const socket = idle.pop() ?? opened();
    let bytes = null;
    const onData = (chunk) => {
      bytes = bytes === null ? chunk : Buffer.concat([bytes, chunk]);
      const end = bytes.indexOf(HEAD_END);
      if (end < 0) return;
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(bytes.latin1Slice(0, end))?.[1] ?? 0);
      if (bytes.length < end + 4 + length) return;
      socket.removeListener("data", onData);
      idle.push(socket);
      done(bytes, end, length);
    };
    socket.on("data", onData);
    socket.write(head, "latin1");
  };
  let server;
  if (process.argv[4] === "socket") {
    server = createTcpServer({ noDelay: true }, (client) => {
      let pending = null;
      client.on("data", (chunk) => {
        pending = pending === null ? chunk : Buffer.concat([pending, chunk]);
        const end = pending.indexOf(HEAD_END);
        if (end < 0) return;
        const head = pending.latin1Slice(0, end + 4);
        pending = end + 4 < pending.length ? pending.subarray(end + 4) : null;
        forward(head, (answer) => client.write(answer));
      });
      client.on("error", () => {});
    });
  } else {
    server = createServer((req, res) => {
      let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) head += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      forward(`${head}via: 1.1 node\r\n\r\n`, (answer, end, length) => {
        const lines = answer.latin1Slice(0, end).split("\r\n");
        const headers = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(":");
          const name = line.slice(0, colon).toLowerCase();
          if (name !== "connection" && name !== "keep-alive") headers[name] = line.slice(colon + 1).trim();
        }
        res.writeHead(Number(lines[0].slice(9, 12)), headers);
        res.end(answer.subarray(end + 4, end + 4 + length));
      });
    });
    server.keepAliveTimeout = 65_000;
  }
  server.listen(0, "127.0.0.1", () => process.send(server.address().port));
}
