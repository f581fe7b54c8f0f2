/**
 * A release that gets no answer leaves the lock as it was, so that calling
 * release() again really releases instead of reporting a success that never
 * reached Redis.
 */
import { LockManager, RedisLockStore } from '../../lib/index.js';
import { CountingStore } from '../support/counting-store.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

test('retrying a release that got no answer really releases', async () => {
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
    // the failed try never reached Redis and Redis answers the retry: it
    // must release the key for real (a retry that keeps failing, or that
    // claims success while the lease stays, both fail here)
    expect({ retry, value }).toEqual({ retry: 'resolved', value: null });
  } finally {
    await locks.close();
  }
});
