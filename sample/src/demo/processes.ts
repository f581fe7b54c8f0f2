/** Child processes of the demonstration: app instances and a throwaway Redis. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const HOST = '127.0.0.1';

/** A child process that the demonstration started and must stop. */
export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  /** What it printed, for the report when something goes wrong. */
  readonly output: () => string;
}

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no free port')),
      );
    });
  });
}

/** Every child started and not yet exited, for {@link stopEverything}. */
const running = new Set<Child>();

function start(
  name: string,
  command: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
): Child {
  const child = spawn(command, args, {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('error', (error) => keep(Buffer.from(String(error))));
  const started: Child = { name, process: child, output: () => output };
  running.add(started);
  child.once('exit', () => running.delete(started));
  return started;
}

/**
 * Stops every child still running, app instances before the redis-server
 * they use: what a demonstration interrupted by a signal must do before it
 * exits, or its children (those still starting included) live on.
 */
export async function stopEverything(): Promise<void> {
  const children = [...running];
  await stopAll(children.filter((child) => child.name !== 'redis-server'));
  await stopAll(children);
}

/** Waits until `ready` answers true, or fails with the child's output. */
async function waitUntil(
  child: Child,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null || child.process.signalCode !== null)
      break;
    if (await ready()) return;
    await sleep(50);
  }
  throw new Error(
    `${child.name} did not start within ${timeoutMs} ms:\n${child.output()}`,
  );
}

/** Starts a throwaway `redis-server` on a free loopback port. */
export async function startRedisServer(): Promise<Child & { url: string }> {
  const port = await freePort();
  const child = start('redis-server', 'redis-server', [
    ...['--port', String(port), '--bind', HOST, '--save', ''],
    ...['--appendonly', 'no', '--protected-mode', 'no'],
  ]);
  try {
    await waitUntil(child, () => redisAnswers(port), 5000);
  } catch (error) {
    throw new Error(
      'Could not start redis-server: install it (Debian: apt-get install redis-server) or set REDIS_URL.',
      { cause: error },
    );
  }
  return { ...child, url: `redis://${HOST}:${port}` };
}

/** Starts one instance of the compiled sample app (`sample/dist/main.js`). */
export async function startInstance(
  name: string,
  env: Record<string, string>,
): Promise<Child & { url: string }> {
  const port = await freePort();
  const main = fileURLToPath(new URL('../main.js', import.meta.url));
  const child = start(name, process.execPath, [main], {
    ...process.env,
    ...env,
    PORT: String(port),
    NO_COLOR: '1',
  });
  const url = `http://${HOST}:${port}`;
  try {
    await waitUntil(child, () => httpAnswers(`${url}/items`), 30_000);
  } catch (error) {
    await stopAll([child]); // NOTE: never left running behind a failed start
    throw error;
  }
  return { ...child, url };
}

/** Stops children: SIGTERM, then SIGKILL for any still running after 3 s. */
export async function stopAll(children: readonly Child[]): Promise<void> {
  await Promise.all(
    children.map(async ({ process: child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

async function httpAnswers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
    socket.connect(port, HOST, () => socket.write('PING\r\n'));
  });
}
