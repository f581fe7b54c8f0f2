/**
 * On a store without a queue (a quorum of masters), a local waiter whose
 * predecessor in line was just granted the lock sleeps until a release
 * notice or that lock's lease end: the lock was granted unmarked (nobody
 * was refused since), so only the local release wakes it. A release that
 * got no answer (two masters frozen past the operation timeout) may still
 * run, and does once they thaw: the key is free, and the waiter must not
 * sleep through it until its waitTimeout.
 */
import { Redis } from 'ioredis';
import {
  LockBackendUnavailableError,
  LockManager,
  RedlockStore,
} from '../../lib/index.js';
import {
  sleep,
  startRedis,
  type RedisServer,
} from '../support/redis-harness.js';

let servers: RedisServer[] = [];
let admins: Redis[] = [];
beforeAll(async () => {
  servers = await Promise.all([startRedis(), startRedis(), startRedis()]);
  admins = servers.map((server) => new Redis(server.url));
});
afterAll(async () => {
  for (const server of servers) server.resume();
  admins.forEach((admin) => admin.disconnect());
  await Promise.all(servers.map((server) => server.stop()));
});

it('a release that got no answer wakes the next local waiter', async () => {
  const locks = new LockManager({
    store: new RedlockStore({
      masters: servers.map((server) => server.url),
      operationTimeout: 300,
    }),
    prefix: 'test:',
  });
  try {
    await (await locks.acquire('warm')).release();
    const first = await locks.acquire('k', { ttl: 30_000 });
    const options = { ttl: 30_000, waitTimeout: 6000 };
    const second = locks.acquire('k', options);
    const third = locks.acquire('k', options);
    await sleep(100);
    await first.release(); // wakes the second caller, who takes the key
    const lock = await second;
    await sleep(100);
    // masters 1 and 2 freeze: the release reaches master 0 only in time
    servers[1].pause();
    servers[2].pause();
    await expect(lock.release()).rejects.toBeInstanceOf(
      LockBackendUnavailableError,
    );
    const failedAt = performance.now();
    servers[1].resume();
    servers[2].resume();
    // the release runs on thawing: the key is free on every master
    const last = await third;
    // NOTE: asleep, it would wait out its 6 s waitTimeout
    expect(performance.now() - failedAt).toBeLessThan(3000);
    await last.release();
  } finally {
    for (const server of servers) server.resume();
    await locks.close();
  }
}, 20_000);
