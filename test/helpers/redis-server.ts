import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/**
 * A Redis of the test's own, so a fault test can stop and restart it without touching the
 * machine's shared 6379. Ports are drawn from 16000–16999 (kept free of other services).
 */
export interface OwnRedis {
  port: number;
  url: string;
  /** Stops the server (SIGTERM) and waits until it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port and waits until it answers; a no-op while it runs. */
  start(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open but nothing is answered, like a hung host. */
  freeze(): void;
  /** Lets a frozen server go on (SIGCONT). */
  thaw(): void;
}

const portFree = (port: number) => new Promise<boolean>((resolve) => {
  const srv = net.createServer();
  srv.once('error', () => resolve(false));
  srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
});

/** True once the server answers PING with PONG. */
const answers = (port: number) => new Promise<boolean>((resolve) => {
  const socket = net.connect({ host: '127.0.0.1', port });
  let reply = '';
  socket.setTimeout(500);
  socket.once('connect', () => socket.write('PING\r\n'));
  socket.on('data', (d) => { reply += d.toString(); if (reply.includes('\r\n')) { socket.destroy(); resolve(reply.startsWith('+PONG')); } });
  socket.once('error', () => resolve(false));
  socket.once('timeout', () => { socket.destroy(); resolve(false); });
});

export async function startOwnRedis(): Promise<OwnRedis> {
  let port = 0;
  for (let i = 0; i < 50 && !port; i++) {
    const candidate = 16000 + Math.floor(Math.random() * 1000);
    if (await portFree(candidate)) port = candidate;
  }
  if (!port) throw new Error('no free port in 16000-16999 for a test Redis');
  let child: ChildProcess | null = null;

  const start = async () => {
    if (child && child.exitCode === null) return;
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
    child = proc;
    // A spawn that fails (no binary, no permission) or a signal that cannot be sent is reported
    // here; without a listener it would be an uncaught error that takes the test worker down.
    let failed: Error | null = null;
    proc.on('error', (err) => { failed = err; });
    const deadline = Date.now() + 10_000;
    while (!(await answers(port))) {
      if (failed) throw new Error(`redis-server on ${port} could not be run`, { cause: failed });
      if (proc.exitCode !== null) throw new Error(`redis-server on ${port} exited with ${proc.exitCode}`);
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGCONT');
    proc.kill('SIGTERM');
    await exited;
  };
  // Should the test process end without stopping it (a killed worker), take the server along.
  process.once('exit', () => { if (child && child.exitCode === null) child.kill('SIGKILL'); });
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, start, stop, freeze: () => child?.kill('SIGSTOP'), thaw: () => child?.kill('SIGCONT') };
}
