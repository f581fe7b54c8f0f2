/**
 * The demonstration (`npm run sample:demo`) as a user runs it: compiled, in a
 * process of its own, against a Redis that wants a password.
 */
import { execFile, spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  startRedis,
  type RedisServer,
} from '../../test/support/redis-harness.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const PASSWORD = 'demo-s3cret-pw';

describe('the demonstration', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    // NOTE: a server without a password: the client's AUTH is refused with a
    // warning (ioredis goes on), which is enough to see what gets printed.
    redis = await startRedis();
    // NOTE: `npm test` has built the library (pretest); the sample is
    // compiled here as `npm run sample:build` does.
    await run(process.execPath, ['sample/scripts/link-library.mjs'], {
      cwd: root,
    });
    await run(
      process.execPath,
      ['node_modules/typescript/bin/tsc', '-p', 'sample/tsconfig.json'],
      { cwd: root },
    );
  }, 120_000);

  afterAll(() => redis?.stop());

  it('does not print the password of REDIS_URL', async () => {
    const { stdout } = await run(
      process.execPath,
      ['sample/dist/demo/demo.js'],
      {
        cwd: root,
        env: {
          ...process.env,
          REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${redis.port}`,
          DATABASE_URL: '',
          DEMO_INSTANCES: '1',
          DEMO_STOCK: '2',
          DEMO_REQUESTS: '4',
        },
        timeout: 90_000,
      },
    );
    // (execFile fails unless the demo exits with 0: the locked run added up)
    expect(stdout).toMatch(/^Redis: redis:\/\//m);
    expect(stdout).not.toContain(PASSWORD);
  }, 120_000);

  it('stops the processes it started when it is terminated (SIGTERM)', async () => {
    const demo = spawn(process.execPath, ['sample/dist/demo/demo.js'], {
      cwd: root,
      env: {
        ...process.env,
        REDIS_URL: '',
        DATABASE_URL: '',
        DEMO_REQUESTS: '3000',
        DEMO_STOCK: '3000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<unknown>((resolve) =>
      demo.once('exit', (code, signal) => resolve(code ?? signal)),
    );
    let stdout = '';
    // Terminated once its instances are up and the load is on its way.
    await new Promise<void>((resolve, reject) => {
      demo.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('POST /orders (locked)')) resolve();
      });
      void exited.then(() => reject(new Error(`demo exited:\n${stdout}`)));
    });
    demo.kill('SIGTERM');
    await exited;
    const redisPort = Number(
      /throwaway redis-server at redis:\/\/[\d.]+:(\d+)/.exec(stdout)![1],
    );
    const pids = [...stdout.matchAll(/\(pid (\d+)\)/g)].map((m) =>
      Number(m[1]),
    );
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    const redisAnswers = await answersPing(redisPort);
    try {
      expect({ pids: pids.length, alive, redisAnswers }).toEqual({
        pids: 3,
        alive: [],
        redisAnswers: false,
      });
    } finally {
      // NOTE: what the demo left behind is ours to stop.
      for (const pid of alive) process.kill(pid, 'SIGKILL');
      if (redisAnswers) await shutdownRedis(redisPort);
    }
  }, 120_000);
});

/** Whether something answers PING on this loopback port. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
  });
}

/** Stops a Redis left behind (SHUTDOWN NOSAVE), waiting for it to go. */
function shutdownRedis(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('error', () => resolve());
    socket.once('close', () => resolve());
    socket.connect(port, '127.0.0.1', () =>
      socket.write('SHUTDOWN NOSAVE\r\n'),
    );
  });
}
