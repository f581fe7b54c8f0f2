/**
 * A release that gets no answer leaves the lock as it was, so that calling
 * release() again really releases instead of reporting a success that never
 * reached Redis.
 */
import { LockManager, RedisLockStore } from '../../lib/index.js';
import { CountingStore } from '../support/counting-store.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

test('retrying a release that got no answer really releases (or keeps failing)', async () => {
  const store = new CountingStore(
    new RedisLockStore({ url: redis.server.url }),
  );
  const locks = new LockManager({ store });
  try {
    const lock = await locks.acquire('edge:release', { ttl: 30_000 });
    store.failRelease = 1;
    await expect(lock.release()).rejects.toThrow('injected');
    const retry = await lock.release().then(
      () => 'resolved',
      () => 'rejected',
    );
    const value = await redis.admin.get('lock:{edge:release}');
    // resolved => must have released; otherwise it must not claim success
    expect({ retry, heldInRedis: value?.includes(':') ?? false }).not.toEqual({
      retry: 'resolved',
      heldInRedis: true,
    });
  } finally {
    await locks.close();
  }
});
