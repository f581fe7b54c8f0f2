/**
 * While close() waits for work running under `using`, that work may still
 * enter its own keys again: a reentrant acquire() or tryAcquire() inside it
 * returns a view of the held lock, as a reentrant using() does, instead of
 * failing the work with LockManagerClosedError in the middle of the drain.
 */
import { LockManager, RedisLockStore } from '../../lib/index.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

const managers: LockManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => 'ok',
    (error: unknown) => (error as Error).name,
  );

test('a reentrant acquire or tryAcquire inside work that close() waits for gets the held lock', async () => {
  const a = new LockManager({
    store: new RedisLockStore({ url: redis.server.url }),
  });
  managers.push(a);
  let finish!: () => void;
  let entered!: () => void;
  const started = new Promise<void>((resolve) => (entered = resolve));
  const seen: Record<string, string> = {};
  const running = a.using('edge:drain-reentrant-acquire', async () => {
    entered();
    await new Promise<void>((resolve) => (finish = resolve));
    seen.acquire = await outcome(
      a.acquire('edge:drain-reentrant-acquire').then((lock) => lock.release()),
    );
    seen.tryAcquire = await outcome(
      a
        .tryAcquire('edge:drain-reentrant-acquire')
        .then((lock) => lock?.release()),
    );
    seen.other = await outcome(a.tryAcquire('edge:drain-other'));
  });
  await started; // the work runs under its lock
  const closing = a.close();
  await sleep(50);
  finish();
  await running;
  await closing;
  expect(seen).toEqual({
    acquire: 'ok',
    tryAcquire: 'ok',
    other: 'LockManagerClosedError',
  });
});
