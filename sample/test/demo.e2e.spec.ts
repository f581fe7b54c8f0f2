/**
 * The demonstration (`npm run sample:demo`) as a user runs it: compiled, in a
 * process of its own, against a Redis that wants a password.
 */
import { execFile } from 'node:child_process';
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
});
