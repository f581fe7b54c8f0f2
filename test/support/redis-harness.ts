/**
 * Real Redis servers for the tests. Each server is a `redis-server` process of
 * our own on a free loopback port, so a test can kill it, pause it or restart
 * it. Where no `redis-server` binary is installed but a Docker engine answers,
 * a testcontainers Redis stands in. With neither, tests fail with a message
 * that says how to get one: they are never skipped.
 *
 * `REDIS_URL`, when set, is used by {@link sharedRedis} for the tests that
 * only need some Redis; tests that must kill or pause a server always start
 * their own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, Socket } from 'node:net';

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Process id of a local server (undefined for a container or REDIS_URL). */
  readonly pid?: number;
  /** Stops the server for good. */
  stop(): Promise<void>;
  /** Kills the server at once (SIGKILL); `restart` brings it back on the same port. */
  kill(): Promise<void>;
  /**
   * Starts the server again on the same port, empty; `extraArgs` are added to
   * the server's own arguments for this run only (a local server only).
   */
  restart(extraArgs?: readonly string[]): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing answers. */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
}

const HOST = '127.0.0.1';
const running = new Set<ChildProcess>();

process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A Redis for tests that only need one: `REDIS_URL` when set, else a server of our own. */
export async function sharedRedis(): Promise<RedisServer> {
  const url = process.env.REDIS_URL;
  if (!url) return startRedis();
  const server = externalServer(url);
  if (!(await pingOk(server.port, server.host))) {
    throw new Error(
      `REDIS_URL is set to ${url}, but no Redis answers PING there. Start it, or unset REDIS_URL to let the tests start their own redis-server.`,
    );
  }
  return server;
}

/** Starts a Redis server of our own. */
export async function startRedis(
  extraArgs: readonly string[] = [],
): Promise<RedisServer> {
  if (hasRedisBinary()) return startLocalServer(extraArgs);
  if (await dockerAnswers()) return startContainer();
  throw new Error(
    'No Redis for the tests: install redis-server (Debian: `apt-get install redis-server`), ' +
      'start a Docker engine (testcontainers is used then), or set REDIS_URL for the tests that need no server of their own.',
  );
}

let binaryChecked: boolean | undefined;
function hasRedisBinary(): boolean {
  binaryChecked ??=
    spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  return binaryChecked;
}

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function startLocalServer(
  extraArgs: readonly string[],
): Promise<RedisServer> {
  const launched = await launchOnFreePort(extraArgs);
  const port = launched.port;
  let child = launched.child;
  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    get pid() {
      return child.pid;
    },
    stop: () => terminate(child),
    kill: () => terminate(child),
    async restart(runArgs: readonly string[] = []) {
      await terminate(child);
      child = await launch(port, [...extraArgs, ...runArgs]);
    },
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
  };
}

/** Launches on a fresh free port, trying again if another process took it first. */
async function launchOnFreePort(
  args: readonly string[],
): Promise<{ port: number; child: ChildProcess }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { port, child: await launch(port, args) };
    } catch (error) {
      if (attempt === 5) throw error;
    }
  }
}

async function launch(
  port: number,
  args: readonly string[],
): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--loglevel',
      'warning',
      ...args,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await pingOk(port)) return child;
    await sleep(20);
  }
  child.kill('SIGKILL');
  throw new Error(
    `redis-server on port ${port} did not start: ${stderr.trim() || 'no answer to PING within 5 s'}`,
  );
}

function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  });
}

async function startContainer(): Promise<RedisServer> {
  const { GenericContainer } = await import('testcontainers');
  const container = await new GenericContainer('redis:7-alpine')
    .withExposedPorts(6379)
    .start();
  const info = () => ({
    host: container.getHost(),
    port: container.getMappedPort(6379),
  });
  const unsupported = (what: string) => {
    throw new Error(
      `${what} needs a local redis-server process; install redis-server to run this test.`,
    );
  };
  return {
    get host() {
      return info().host;
    },
    get port() {
      return info().port;
    },
    get url() {
      return `redis://${info().host}:${info().port}`;
    },
    async stop() {
      await container.stop();
    },
    async kill() {
      unsupported('kill');
    },
    async restart(runArgs: readonly string[] = []) {
      if (runArgs.length > 0) unsupported('restart with other arguments');
      await container.restart();
    },
    pause: () => unsupported('pause'),
    resume: () => unsupported('resume'),
  };
}

function externalServer(url: string): RedisServer {
  const parsed = new URL(url);
  const unsupported = (what: string) => {
    throw new Error(
      `${what} is not possible on REDIS_URL; this test starts its own server.`,
    );
  };
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    url,
    stop: async () => {},
    kill: async () => unsupported('kill'),
    restart: async () => unsupported('restart'),
    pause: () => unsupported('pause'),
    resume: () => unsupported('resume'),
  };
}

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

function pingOk(port: number, host = HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
    socket.connect(port, host, () => socket.write('PING\r\n'));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 5 ms until it holds; fails after `ms`. */
export async function until(
  check: () => Promise<boolean> | boolean,
  ms = 5000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline)
      throw new Error(`not the case within ${ms} ms: ${String(check)}`);
    await sleep(5);
  }
}
