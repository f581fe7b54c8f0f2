/**
 * Durations that Redis would refuse inside the scripts (SET PX / PEXPIRE take
 * whole positive milliseconds): a fractional ttl rounds up and works.
 */
import { LockManager, RedisLockStore } from '../../lib/index.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

test('a fractional ttl rounds up to whole milliseconds and works', async () => {
  const locks = new LockManager({
    store: new RedisLockStore({ url: redis.server.url }),
  });
  try {
    const lock = await locks.acquire('edge:fraction', { ttl: 1500.5 });
    const lease = await redis.admin.pttl('lock:{edge:fraction}');
    expect(lease).toBeGreaterThan(1400);
    expect(lease).toBeLessThanOrEqual(1501);
    await lock.extend(800.2);
    expect(await redis.admin.pttl('lock:{edge:fraction}')).toBeLessThanOrEqual(
      801,
    );
    await lock.release();
  } finally {
    await locks.close();
  }
});
