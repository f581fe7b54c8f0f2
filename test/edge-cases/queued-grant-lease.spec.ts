/**
 * A queued grant starts with a short lease (GRANT_LEASE_MS): a waiting
 * process that died keeps the key that long at most, not its whole ttl; a
 * live process gets its full ttl, by renewal or by a one-time top-up.
 */
import { GRANT_LEASE_MS } from '../../lib/core/stores/queue-timing.js';
import {
  LockManager,
  MemoryLockStore,
  RedisLockStore,
} from '../../lib/index.js';
import { sleep } from '../support/redis-harness.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

const closing: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(closing.splice(0).map((item) => item.close()));
});
/** Resolves once `count` processes are in Redis's line for `key`. */
async function inLine(key: string, count = 1): Promise<void> {
  while ((await redis.admin.llen(`lock:{${key}}:q`)) < count) await sleep(5);
}

function manager(): LockManager {
  const locks = new LockManager({
    store: new RedisLockStore({ url: redis.server.url }),
  });
  closing.push(locks);
  return locks;
}

test('a waiter behind a process that died while waiting gets the key after the short grant lease, not after the dead waiter’s ttl', async () => {
  const [holder, waiter] = [manager(), manager()];
  const held = await holder.acquire('edge:dead-waiter', { ttl: 60_000 });
  // a process in line that dies: its ticket (60 s ttl) is never renewed again
  const dead = new RedisLockStore({ url: redis.server.url });
  closing.push(dead);
  await dead.acquire(['lock:{edge:dead-waiter}'], 'dead', 60_000, {
    queue: true,
  });
  const waiting = waiter.acquire('edge:dead-waiter', {
    ttl: 5000,
    waitTimeout: 20_000,
  });
  await sleep(100);
  const releasedAt = performance.now();
  await held.release(); // granted to the dead ticket, still live
  const lock = await waiting;
  const waited = performance.now() - releasedAt;
  expect(waited).toBeGreaterThan(GRANT_LEASE_MS - 500);
  expect(waited).toBeLessThan(GRANT_LEASE_MS + 2000);
  await lock.release();
}, 30_000);

test('a queued grant to a lock that does not renew is topped up to its full ttl', async () => {
  const [holder, waiter] = [manager(), manager()];
  const held = await holder.acquire('edge:top-up', { ttl: 60_000 });
  const waiting = waiter.acquire('edge:top-up', {
    ttl: 20_000,
    waitTimeout: 10_000,
  });
  // NOTE: released once the waiter is in line: an attempt after the release
  // would take the key for its whole ttl, not as a queued grant
  await inLine('edge:top-up');
  await held.release();
  const lock = await waiting;
  // the store's grant was short...
  expect(lock.remainingTime).toBeLessThanOrEqual(GRANT_LEASE_MS);
  await sleep(GRANT_LEASE_MS + 500);
  // ...and the lock still holds the key, for about its ttl
  expect(lock.isHeld).toBe(true);
  expect(lock.remainingTime).toBeGreaterThan(15_000);
  expect(await redis.admin.pttl('lock:{edge:top-up}')).toBeGreaterThan(15_000);
  await lock.release();
}, 30_000);

test('a queued grant to a lock that renews keeps renewing past the short lease', async () => {
  const [holder, waiter] = [manager(), manager()];
  const held = await holder.acquire('edge:renewing', { ttl: 60_000 });
  const running = waiter.using(
    'edge:renewing',
    async (lock) => {
      await sleep(GRANT_LEASE_MS * 2);
      return lock.isHeld;
    },
    { ttl: 20_000, waitTimeout: 10_000 },
  );
  await inLine('edge:renewing');
  await held.release();
  expect(await running).toBe(true);
}, 30_000);

test('the holder’s own extend replaces the one-time top-up, which never shortens it', async () => {
  const [holder, waiter] = [manager(), manager()];
  const held = await holder.acquire('edge:own-extend', { ttl: 60_000 });
  const waiting = waiter.acquire('edge:own-extend', {
    ttl: 5000,
    waitTimeout: 10_000,
  });
  await inLine('edge:own-extend');
  await held.release();
  const lock = await waiting;
  await lock.extend(30_000);
  await sleep(GRANT_LEASE_MS);
  // past the top-up's time: still the holder's 30 s, not the 5 s ttl
  expect(await redis.admin.pttl('lock:{edge:own-extend}')).toBeGreaterThan(
    20_000,
  );
  expect(lock.remainingTime).toBeGreaterThan(20_000);
  await lock.release();
}, 30_000);

test.each([
  [
    'Redis',
    () => () => new RedisLockStore({ url: redis.server.url }),
    () => inLine('edge:long-ttl', 2),
  ],
  [
    'memory',
    () => {
      const one = new MemoryLockStore();
      return () => one;
    },
    () => sleep(100), // no I/O: both are in line within a few turns
  ],
])(
  'a long ttl (whose drift allowance passes the short first lease) still gets its queued grants, on %s',
  async (_name, stores, bothInLine) => {
    const store = stores();
    const managers = [0, 1, 2].map(() => {
      const locks = new LockManager({ store: store(), driftFactor: 0.1 });
      closing.push(locks);
      return locks;
    });
    const held = await managers[0].acquire('edge:long-ttl', { ttl: 60_000 });
    const grants = [1, 2].map((i) =>
      managers[i]
        .acquire('edge:long-ttl', { ttl: 60_000, waitTimeout: 3000 })
        .then(async (lock) => {
          const at = performance.now();
          await sleep(10);
          await lock.release();
          return at;
        }),
    );
    await bothInLine();
    const releasedAt = performance.now();
    await held.release();
    const times = await Promise.all(grants);
    expect(Math.max(...times) - releasedAt).toBeLessThan(1000);
  },
  20_000,
);
