/**
 * A script the server forgot (a restart, SCRIPT FLUSH) is sent again in full
 * behind calls sent after it: a token's release must still never run ahead
 * of that token's acquire. On a scripted client, so that the order of calls
 * is exact.
 */
import type { Redis } from 'ioredis';
import { RedisLockStore } from '../../lib/index.js';

test("a release waits for its token's acquire even when that acquire is sent again after NOSCRIPT", async () => {
  const sent: string[] = [];
  let forgotten = true;
  const answer = (keysAndArgs: unknown[]) => {
    // the batch script's arguments: keys, then client, grantPrefix,
    // ticketTtl, releases, acquires, ...
    const keyCount = 1;
    const [, , , releases, acquires] = keysAndArgs.slice(keyCount) as number[];
    if (releases > 0) return [1];
    if (acquires > 0) return [1, 42];
    return [];
  };
  const call = (kind: string, keysAndArgs: unknown[]) => {
    const releases = (keysAndArgs.slice(1) as number[])[3];
    sent.push(`${kind}:${releases > 0 ? 'release' : 'acquire'}`);
  };
  const client = {
    options: {},
    isCluster: false,
    status: 'ready',
    on: () => client,
    async evalsha(_sha: string, _n: number, ...keysAndArgs: unknown[]) {
      call('evalsha', keysAndArgs);
      // a round trip: later calls leave before this answer comes
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (forgotten) {
        forgotten = false; // another process loads it meanwhile
        throw new Error('NOSCRIPT No matching script.');
      }
      return answer(keysAndArgs);
    },
    async eval(_source: string, _n: number, ...keysAndArgs: unknown[]) {
      call('eval', keysAndArgs);
      await new Promise((resolve) => setTimeout(resolve, 20));
      return answer(keysAndArgs);
    },
  };
  const store = new RedisLockStore({ client: client as unknown as Redis });
  const acquired = store.acquire(['k'], 'token', 30_000);
  const released = store.release(['k'], 'token'); // the same turn: a give-back
  expect(await acquired).toEqual({ acquired: true, fences: [42] });
  expect(await released).toBe('ok');
  expect(sent).toEqual(['evalsha:acquire', 'eval:acquire', 'evalsha:release']);
  await store.close();
});
