/**
 * Durations that Redis would refuse inside the scripts (SET PX / PEXPIRE take
 * whole positive milliseconds): a fractional ttl rounds up and works.
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
