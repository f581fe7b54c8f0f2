/**
 * RedisLockStore.subscribe resolves only once notices are live, also for a
 * second listener of a channel whose SUBSCRIBE is still on its way (a waiter
 * relying on it would otherwise miss the release and sleep until its backoff).
 */
import { RedisLockStore } from '../../lib/index.js';
import { sleep } from '../support/redis-harness.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

test('a second subscribe to a channel resolves only once notices are live', async () => {
  const store = new RedisLockStore({ url: redis.server.url });
  try {
    const first: string[] = [];
    const second: string[] = [];
    const firstLive = store.subscribe(['k'], (_key, id) => first.push(id));
    await store.subscribe(['k'], (_key, id) => second.push(id));
    // "notices are live" for the second listener: a release now must reach it
    await redis.admin.publish('k:released', '42');
    await firstLive;
    // the message travels through Redis: wait for it (it never comes to a
    // listener whose subscription was not live when it was published)
    for (let i = 0; i < 250 && second.length === 0; i++) await sleep(20);
    expect(second).toEqual(['42']);
  } finally {
    await store.close();
  }
});
