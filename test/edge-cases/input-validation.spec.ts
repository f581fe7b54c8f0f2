/**
 * Durations that Redis would refuse inside the scripts (SET PX / PEXPIRE take
 * whole positive milliseconds): a fractional ttl rounds up and works.
 */
import {
  LockManager,
  MemoryLockStore,
  RedisLockStore,
} from '../../lib/index.js';
import { CountingStore } from '../support/counting-store.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

test('a fractional ttl rounds up to whole milliseconds and works', async () => {
  const locks = new LockManager({
    store: new RedisLockStore({ url: redis.server.url }),
  });
  try {
    // NOTE: a ttl whose first second may go by before the PTTL below on a
    // loaded machine
    const lock = await locks.acquire('edge:fraction', { ttl: 10_000.5 });
    const lease = await redis.admin.pttl('lock:{edge:fraction}');
    expect(lease).toBeGreaterThan(9000);
    expect(lease).toBeLessThanOrEqual(10_001);
    await lock.extend(800.2);
    expect(await redis.admin.pttl('lock:{edge:fraction}')).toBeLessThanOrEqual(
      801,
    );
    await lock.release();
  } finally {
    await locks.close();
  }
});

test('a drift factor outside [0, 1) and an operation timeout past the longest timer fail at construction', () => {
  const store = new MemoryLockStore();
  for (const driftFactor of [-1, 1, 2, Number.NaN])
    expect(() => new LockManager({ store, driftFactor })).toThrow(
      /driftFactor must be a number from 0 to below 1/,
    );
  for (const operationTimeout of [0, 3_000_000_000, Number.NaN])
    expect(() => new RedisLockStore({ operationTimeout })).toThrow(
      /operationTimeout must be a number of milliseconds from 1 to 2147483647/,
    );
});

test('a backoff longer than the longest timer waits instead of firing at once', async () => {
  // a key without expiry (PTTL -1) leaves only the backoff to decide; a
  // multi-key wait does not queue, so it backs off
  await redis.admin.set('lock:{edge:no-ttl}', 'something-else');
  const store = new CountingStore(
    new RedisLockStore({ url: redis.server.url }),
  );
  const locks = new LockManager({ store });
  try {
    const outcome = await locks
      .acquire(['edge:no-ttl', 'edge:no-ttl-2'], {
        waitTimeout: 300,
        retry: { baseDelay: 1e12, maxDelay: 1e12 },
      })
      .catch((error: Error) => error.name);
    expect(outcome).toBe('LockWaitTimeoutError');
    // one attempt, then a sleep past the wait: not an attempt every millisecond
    expect(store.calls.acquire).toBeLessThan(5);
  } finally {
    await locks.close();
    await redis.admin.del('lock:{edge:no-ttl}');
  }
});
