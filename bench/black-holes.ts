/**
 * Endpoints that fail the hard way, on 127.0.0.1, for the pull bench and the e2e tests:
 * - a SYN-dropping listener: a socket listening with backlog 0 that never accepts, its one-entry accept queue filled
 *   by a connection of its own, so the kernel drops every further SYN and a client's connect hangs until its own
 *   timeout (what a firewalled-away or overloaded mirror does). A small python3 process holds it, since node accepts
 *   every connection itself.
 * - a silent server: accepts connections, reads requests, never answers (a half-dead mirror behind a load balancer).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export interface BlackHole {
  url: string;
  hostPort: string;
  close(): Promise<void>;
}

const SYN_DROP = `
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
port = s.getsockname()[1]
fill = []
for _ in range(2):
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex(("127.0.0.1", port))
    fill.append(c)
print(port, flush=True)
sys.stdin.read()
`;

/** A listener whose accept queue is full: connects to it time out (no RST, no SYN-ACK). */
export function startSynDrop(): Promise<BlackHole> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn("python3", ["-c", SYN_DROP], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.once("error", reject);
    child.stdout?.on("data", (d) => {
      out += d;
      const m = /^(\d+)\n/.exec(out);
      if (!m) return;
      const hostPort = `127.0.0.1:${m[1]}`;
      resolve({
        url: `http://${hostPort}`,
        hostPort,
        close: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGKILL");
          }),
      });
    });
    child.once("exit", (code) => reject(new Error(`the SYN-dropping listener exited (${code}) before it listened`)));
  });
}

/** Accepts connections and never answers. */
export async function startSilent(): Promise<BlackHole> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
    s.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const hostPort = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${hostPort}`,
    hostPort,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
