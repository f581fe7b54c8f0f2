/**
 * A key's wait queue in Redis must not outlive the processes in it: when
 * every holder and waiter of a key dies (a crash, a killed job) and nobody
 * touches the key again, the lock and the tickets run out, and so must the
 * queue list, or each such key leaves a list in Redis for good.
 */
import { RedisLockStore } from '../../lib/index.js';
import { useRedis } from '../support/redis-fixture.js';
import { sleep } from '../support/redis-harness.js';

const redis = useRedis();

/** A ticket lives 3 s (TICKET_TTL_MS); the margin covers a slow machine. */
const TICKETS_GONE_MS = 3600;

function store(): RedisLockStore {
  return new RedisLockStore({ url: redis.server.url });
}

test('the queue of a key whose holder and waiter died runs out with their tickets', async () => {
  const key = 'edge:{queue-dies}';
  const holder = store();
  const waiter = store();
  expect(await holder.acquire([key], 'holder-token', 500)).toMatchObject({
    acquired: true,
  });
  expect(
    await waiter.acquire([key], 'waiter-token', 500, { queue: true }),
  ).toMatchObject({ acquired: false });
  const queued = await redis.admin.exists(`${key}:q`);
  // Both die: nothing is released, nobody leaves the line.
  await holder.close();
  await waiter.close();
  await sleep(TICKETS_GONE_MS);
  expect({
    queued,
    left: await redis.admin.keys('edge:{queue-dies}*'),
  }).toEqual({ queued: 1, left: [] });
});

test('the queue rebuilt by a local handoff (its own place moved to the back) runs out too', async () => {
  const key = 'edge:{queue-handoff}';
  const process = store();
  expect(await process.acquire([key], 'first', 500)).toMatchObject({
    acquired: true,
  });
  // its other waiters take the process's place in line...
  expect(
    await process.acquire([key], 'ticket', 500, { queue: true }),
  ).toMatchObject({ acquired: false });
  // ...and a local handoff moves that place to the back of the line: as the
  // only one in it, the list is emptied and pushed again.
  expect(await process.handOff(key, 'first', 'second', 500)).toMatchObject({
    outcome: 'ok',
  });
  // the rebuilt line is there until the tickets run out
  expect(await redis.admin.lrange(`${key}:q`, 0, -1)).toHaveLength(1);
  await process.close();
  await sleep(TICKETS_GONE_MS);
  expect(await redis.admin.keys('edge:{queue-handoff}*')).toEqual([]);
});
