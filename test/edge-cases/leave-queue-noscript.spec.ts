/**
 * A process that gives its place in line up while its queued attempt is
 * still under way must leave the line for good, even when the server had
 * forgotten the batch script (a restart, SCRIPT FLUSH): that attempt is then
 * sent again in full (EVAL) behind the calls made after it, and a dequeue
 * that ran ahead of it would find nothing to take out. The attempt would put
 * the given-up ticket back in line, and the holder's release would grant the
 * key to a ticket nobody waits for: blocked until that grant's lease ends.
 */
import { RedisLockStore } from '../../lib/index.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis({ own: true });

test('leaveQueue during a queued attempt sent again after NOSCRIPT takes the ticket out', async () => {
  const key = 'edge:{leave-noscript}';
  const holder = new RedisLockStore({ url: redis.server.url });
  const waiter = new RedisLockStore({ url: redis.server.url });
  try {
    expect(await holder.acquire([key], 'holder', 30_000)).toMatchObject({
      acquired: true,
    });
    // the server forgets the scripts; the dequeue script is known again
    // (another process used it), the batch script is not
    await redis.admin.script('FLUSH');
    await waiter.leaveQueue('edge:{other}', 'nobody');
    const attempt = waiter.acquire([key], 'ticket', 30_000, { queue: true });
    // the attempt leaves (its EVALSHA is on the wire), then the waiter gives
    // its place up
    await new Promise((resolve) => setImmediate(resolve));
    const left = waiter.leaveQueue(key, 'ticket');
    expect(await attempt).toMatchObject({ acquired: false });
    await left;
    expect(await redis.admin.lrange(`${key}:q`, 0, -1)).toEqual([]);
    // the holder's release frees the key: nobody waits for it
    expect(await holder.release([key], 'holder')).toBe('ok');
    expect(await redis.admin.get(key)).toBeNull();
  } finally {
    await holder.close();
    await waiter.close();
  }
});
