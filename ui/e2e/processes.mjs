// What the browser end-to-end tests share: free ports, the processes they start (the mock
// upstream, `switchboard serve`) and ending them, and polling until something holds.

import { spawn } from "node:child_process";
import { createServer } from "node:net";

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export async function waitFor(what, check, ms = 30_000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

/** The processes one test file started; `stop()` ends them all. */
export class Processes {
  list = [];

  /** Starts `bin` with `env` added to this environment, keeping its output; an exit with a
   * failure status prints that output. */
  start(bin, args, env, name) {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code) => {
      if (code !== null && code !== 0) process.stderr.write(`${name} exited with ${code}:\n${out}\n`);
    });
    this.list.push(child);
    return { child, output: () => out };
  }

  /** The mock upstream (MOCK_BIN) on a free port, once it listens; its port. */
  async mock() {
    const port = await freePort();
    const mock = this.start(process.env.MOCK_BIN, ["--port", String(port)], {}, "mock upstream");
    await waitFor("the mock upstream", async () => mock.output().includes(`127.0.0.1:${port}`));
    return port;
  }

  /** Ends every process (SIGTERM) and waits for each, including those already killed. */
  async stop() {
    for (const p of this.list) p.kill("SIGTERM");
    await Promise.all(this.list.map((p) => (p.exitCode !== null || p.signalCode !== null ? null : new Promise((r) => p.once("exit", r)))));
  }
}
