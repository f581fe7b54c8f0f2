/**
 * close() gives up on work still running after `closeTimeout` by leaving its
 * lease to run out in Redis, never by releasing it: that covers a reentrant
 * call the work started without `await` and that outlives the work's own
 * function. The outer call releases only once every such nested call has
 * settled; once close() took the lock away, it must not release the lease
 * while the nested call still runs.
 */
import { LockLostError, LockManager, RedisLockStore } from '../../lib/index.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

const managers: LockManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});
function manager(closeTimeout?: number): LockManager {
  const m = new LockManager({
    store: new RedisLockStore({ url: redis.server.url }),
    closeTimeout,
  });
  managers.push(m);
  return m;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a nested call still running after closeTimeout keeps its lease in Redis (not released when the outer function has returned)', async () => {
  const a = manager(200);
  const b = manager();
  let finishNested!: () => void;
  let nested: Promise<unknown> | undefined;
  let started!: () => void;
  const ran = new Promise<void>((resolve) => (started = resolve));
  const running = a.using(
    'edge:drain-nested',
    () => {
      // Started without await: it outlives this function.
      nested = a.using('edge:drain-nested', async () => {
        await new Promise<void>((resolve) => (finishNested = resolve));
      });
      nested.catch(() => undefined);
      started();
      return 'outer done';
    },
    { ttl: 5000 },
  );
  running.catch(() => undefined);
  await ran;
  await a.close();
  // Let the outer call's release, if any, reach Redis.
  await sleep(200);
  const lease = await redis.admin.pttl('lock:{edge:drain-nested}');
  const during = await b.tryAcquire('edge:drain-nested');
  await during?.release();
  finishNested();
  await nested;
  const result = await running.then(
    (value) => `resolved: ${String(value)}`,
    (error: unknown) =>
      error instanceof LockLostError ? `lost: ${error.reason}` : String(error),
  );
  expect({
    takenWhileNestedRuns: during !== null,
    leaseLeft: lease > 0,
    result,
  }).toEqual({
    takenWhileNestedRuns: false,
    leaseLeft: true,
    result: 'lost: closed',
  });
});

test('the same when the outer function failed: its lease is left while the nested call runs', async () => {
  const a = manager(200);
  const b = manager();
  let finishNested!: () => void;
  let nested: Promise<unknown> | undefined;
  let started!: () => void;
  const ran = new Promise<void>((resolve) => (started = resolve));
  const running = a.using(
    'edge:drain-nested-failed',
    () => {
      nested = a.using('edge:drain-nested-failed', async () => {
        await new Promise<void>((resolve) => (finishNested = resolve));
      });
      nested.catch(() => undefined);
      started();
      throw new Error('outer failed');
    },
    { ttl: 5000 },
  );
  running.catch(() => undefined);
  await ran;
  await a.close();
  await sleep(200);
  const lease = await redis.admin.pttl('lock:{edge:drain-nested-failed}');
  const during = await b.tryAcquire('edge:drain-nested-failed');
  await during?.release();
  finishNested();
  await nested;
  const result = await running.then(
    () => 'resolved',
    (error: unknown) => (error as Error).message,
  );
  expect({
    takenWhileNestedRuns: during !== null,
    leaseLeft: lease > 0,
    result,
  }).toEqual({
    takenWhileNestedRuns: false,
    leaseLeft: true,
    result: 'outer failed',
  });
});
