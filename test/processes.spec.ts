/**
 * Safety across real processes on a real Redis: mutual exclusion under
 * contention, a holder killed with SIGKILL, a holder paused past its lease.
 */
import { LockManager, RedisLockStore } from '../lib/index.js';
import { events, exited, runFixture } from './support/child.js';
import { useRedis } from './support/redis-fixture.js';

const redis = useRedis();

// localHandoffs 0: every release goes through the line in Redis (strict
// turns); 4: a process passes the lock to its own waiters at most 4 times
// in a row before its release goes to the line.
it.each([
  [0, 2],
  [4, 6],
])(
  'keeps 4 processes x 5 workers mutually exclusive on one key (localHandoffs %i: runs of at most %i grants per process)',
  async (localHandoffs, maxRun) => {
    const processes = 4;
    const workers = 5;
    const iterations = 25;
    await redis.admin.del('mx:counter', 'mx:history', 'mx:ready');
    await Promise.all(
      Array.from({ length: processes }, () =>
        exited(
          runFixture('counter-worker.mjs', [
            redis.server.url,
            'shared',
            workers,
            iterations,
            processes,
            localHandoffs,
          ]),
        ),
      ),
    );

    const total = processes * workers * iterations;
    expect(Number(await redis.admin.get('mx:counter'))).toBe(total); // no lost update
    const history = await redis.admin.lrange('mx:history', 0, -1);
    expect(history).toHaveLength(2 * total);
    let lastFence = 0;
    const holders: string[] = [];
    for (let i = 0; i < history.length; i += 2) {
      const [enter, who, fence] = history[i].split(' ');
      // every entry is followed directly by the same holder's exit: no overlap
      expect([enter, history[i + 1]]).toEqual([
        'enter',
        `exit ${who} ${fence}`,
      ]);
      expect(Number(fence)).toBeGreaterThan(lastFence);
      lastFence = Number(fence);
      holders.push(who.split('.')[0]);
    }
    // No process keeps the lock among its own workers while the others wait.
    // A starving engine runs one process's 125 grants, then the next one's:
    // the stretch in which every process has started and none has finished
    // is then empty. Fair turns keep all four going together for most of it
    // (the processes start their workers together).
    const pids = [...new Set(holders)];
    const allStarted = Math.max(...pids.map((pid) => holders.indexOf(pid)));
    const noneFinished = Math.min(
      ...pids.map((pid) => holders.lastIndexOf(pid)),
    );
    expect(noneFinished - allStarted).toBeGreaterThan(100);
    // While all four wait, turns go round the processes in line: a process
    // that was just served queues behind the others, and passes the lock to
    // its own waiters at most localHandoffs times first. A race (every
    // process asking on each release) gives longer runs to one process.
    const runs: number[] = [];
    for (let i = allStarted, run = 0; i <= noneFinished; i++) {
      run = holders[i] === holders[i - 1] ? run + 1 : 1;
      if (holders[i + 1] !== holders[i]) runs.push(run);
    }
    expect(Math.max(...runs)).toBeLessThanOrEqual(maxRun);
    // With handoffs, most turns do hand the lock on locally.
    const mean = runs.reduce((sum, run) => sum + run, 0) / runs.length;
    if (localHandoffs > 0) expect(mean).toBeGreaterThan(2);
  },
  120_000,
);

describe('a holder process', () => {
  const locks = () =>
    new LockManager({
      store: new RedisLockStore({ url: redis.server.url }),
      prefix: 'proc:',
    });

  it('killed with SIGKILL frees its lock within its ttl, and a waiter gets it', async () => {
    const ttl = 1000;
    const child = runFixture('holder.mjs', [redis.server.url, 'killed', ttl]);
    const held = await events(child).next('held');
    const waiter = locks();
    try {
      // NOTE: connected, scripts loaded and listening for grants before the
      // kill: the bound below is for the lease to run out, not for a cold
      // start on a loaded machine
      await (await waiter.acquire('warm-up')).release();
      child.kill('SIGKILL');
      const killedAt = performance.now();
      const lock = await waiter.acquire('killed', { waitTimeout: 5000 });
      const freedAfter = performance.now() - killedAt;
      expect(freedAfter).toBeLessThan(ttl + 500);
      expect(lock.fence).toBeGreaterThan(held.fence as number);
    } finally {
      // NOTE: also when an assertion fails, or its connections keep jest up.
      await waiter.close();
    }
  });

  it('paused past its lease learns that it lost the lock, and cannot extend or release it', async () => {
    const child = runFixture('holder.mjs', [redis.server.url, 'paused', 300]);
    const done = exited(child);
    const output = events(child);
    await output.next('held');
    child.kill('SIGSTOP');
    const thief = locks();
    try {
      const stolen = await thief.acquire('paused', {
        waitTimeout: 5000,
        ttl: 10_000,
      });
      child.kill('SIGCONT');
      expect(await output.next('lost')).toMatchObject({
        error: 'LockLostError',
      });
      const outcome = await output.next('done');
      // the holder may notice the loss from its own lease clock first ("expired")
      // or from Redis ("not-owner"); the release is always refused by Redis
      expect(outcome.extend).toMatch(/^LockLostError:(expired|not-owner)$/);
      expect(outcome.release).toBe('LockLostError:not-owner');
      await done;
      expect(stolen.isHeld).toBe(true);
      await stolen.release(); // the paused holder's release left the new owner alone
    } finally {
      child.kill('SIGCONT');
      await thief.close();
    }
  });
});
