/**
 * A lock passed on in this process to a waiting using() call just before
 * close() (the holder released it in the same turn): the waiter's work has
 * not started yet when close() begins, and close() had no work to wait for.
 * That work must not start then: it would run under a lock that close()
 * takes away at once (no wait at all, whatever closeTimeout says), and its
 * call would end with LockLostError although it did its job. It is refused
 * like any new lock (LockManagerClosedError), and the lock is released.
 */
import { LockManager, RedisLockStore } from '../../lib/index.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

const managers: LockManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});
/** Tells when an attempt was refused (the caller then starts to wait). */
class WatchedStore extends RedisLockStore {
  onRefused?: () => void;
  override async acquire(
    ...args: Parameters<RedisLockStore['acquire']>
  ): ReturnType<RedisLockStore['acquire']> {
    const result = await super.acquire(...args);
    if (!result.acquired) this.onRefused?.();
    return result;
  }
}
function manager(store = new RedisLockStore({ url: redis.server.url })) {
  const m = new LockManager({ store });
  managers.push(m);
  return m;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('work whose lock was passed on just before close() does not start under a lock close() takes away', async () => {
  const store = new WatchedStore({ url: redis.server.url });
  const refused = new Promise<void>((resolve) => (store.onRefused = resolve));
  const a = manager(store);
  const b = manager();
  const handle = await a.acquire('edge:close-handoff', { ttl: 5000 });
  let started = false;
  let finish: (() => void) | undefined;
  const waiting = a.using(
    'edge:close-handoff',
    async () => {
      started = true;
      await new Promise<void>((resolve) => (finish = resolve));
    },
    { ttl: 5000 },
  );
  waiting.catch(() => undefined);
  // The waiter's attempt was refused; a timer lets it take its place in line.
  await refused;
  await sleep(20);
  // The release passes the lock to the waiter; close() comes in the same turn.
  const released = handle.release().catch(() => undefined);
  const closing = a.close();
  await closing;
  const startedBeforeEnd = started;
  finish?.();
  const result = await waiting.then(
    () => 'resolved',
    (error: unknown) => (error as Error).name,
  );
  await released;
  const after = await b.tryAcquire('edge:close-handoff');
  await after?.release();
  expect({
    started: startedBeforeEnd,
    result,
    freeAfterClose: after !== null,
  }).toEqual({
    started: false,
    result: 'LockManagerClosedError',
    freeAfterClose: true,
  });
});
