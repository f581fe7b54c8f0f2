/**
 * Durations that Redis would refuse inside the scripts (SET PX / PEXPIRE take
 * whole positive milliseconds) either work (a fractional ttl rounds up) or
 * are refused up front with a LockError (tombstoneTtl: 0).
 */
import { LockError, LockManager, RedisLockStore } from '../../lib/index.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

test('a fractional ttl either works or is refused up front with a LockError', async () => {
  const locks = new LockManager({
    store: new RedisLockStore({ url: redis.server.url }),
  });
  try {
    const outcome = await locks.acquire('edge:fraction', { ttl: 1500.5 }).then(
      () => 'granted',
      (error: Error) =>
        error instanceof LockError
          ? 'LockError'
          : `${error.name}: ${error.message}`,
    );
    expect(['granted', 'LockError']).toContain(outcome);
  } finally {
    await locks.close();
  }
});

test('tombstoneTtl: 0 either works or is refused by the constructor', async () => {
  let store: RedisLockStore;
  try {
    store = new RedisLockStore({ url: redis.server.url, tombstoneTtl: 0 });
  } catch {
    return; // refused up front: fine
  }
  const locks = new LockManager({ store });
  try {
    const lock = await locks.acquire('edge:tombstone0');
    const outcome = await lock.release().then(
      () => 'released',
      (error: Error) => `${error.name}: ${error.message}`,
    );
    expect(outcome).toBe('released');
    expect(await redis.admin.get('lock:{edge:tombstone0}')).not.toMatch(
      /^\d+:/,
    );
  } finally {
    await locks.close();
  }
});
