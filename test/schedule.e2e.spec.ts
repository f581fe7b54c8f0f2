/**
 * A scheduled job with `onContention: 'skip'` on two application instances
 * (two replicas) sharing one Redis: each tick runs on one replica only.
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { DistributedLock, DistributedLockModule } from '../lib/index.js';
import { createApp, overlaps, sleep, Timeline } from './support/nest-apps.js';
import { startRedis, type RedisServer } from './support/redis-harness.js';

const timeline = new Timeline();
let replica = 0;

@Injectable()
class ReportJob {
  readonly replica = ++replica;

  /** A tick, called by both replicas at once in the test below. */
  @DistributedLock('job:report', { onContention: 'skip' })
  async tick(): Promise<number> {
    return timeline.run('report', 100, this.replica);
  }

  // Real ticks: the lock decorator below @Interval...
  @Interval(60)
  @DistributedLock('job:cleanup', { onContention: 'skip' })
  async cleanup(): Promise<void> {
    await timeline.run('cleanup', 90, undefined);
  }

  // ...and above it.
  @DistributedLock('job:digest', { onContention: 'skip' })
  @Interval(60)
  async digest(): Promise<void> {
    await timeline.run('digest', 90, undefined);
  }
}

describe("a scheduled method with 'skip' on two app instances", () => {
  let redis: RedisServer;
  let apps: INestApplication[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const metadata = () => ({
      imports: [
        ScheduleModule.forRoot(),
        DistributedLockModule.forRoot({ url: redis.url }),
      ],
      providers: [ReportJob],
    });
    apps = [
      await createApp('express', metadata()),
      await createApp('express', metadata()),
    ];
  });

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await redis?.stop();
  });

  it('runs each tick once, on one replica; the other resolves to undefined', async () => {
    const jobs = apps.map((app) => app.get(ReportJob));
    expect(new Set(jobs.map((job) => job.replica)).size).toBe(2);
    for (let tick = 0; tick < 5; tick++) {
      // NOTE: the run holds its lock until the other replica's call has
      // resolved (or 10 s passed): a call slower than the 100 ms run would
      // otherwise find the key free
      const letGo = timeline.hold('report');
      const pending = jobs.map((job) => job.tick());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        for (const result of pending)
          void result.then(() => {
            clearTimeout(timer);
            resolve();
          });
      });
      letGo();
      const results = await Promise.all(pending);
      expect(results.filter((result) => result === undefined)).toHaveLength(1);
      expect(
        results.filter((result) => typeof result === 'number'),
      ).toHaveLength(1);
    }
    expect(timeline.of('report')).toHaveLength(5);
  });

  it('never overlaps runs of an @Interval job across replicas, in either decorator order', async () => {
    // NOTE: the jobs have run since the apps started; only the runs that
    // began in this window count (how long the startup and the test above
    // took does not matter)
    const from = performance.now();
    await sleep(800);
    for (const label of ['cleanup', 'digest']) {
      expect(overlaps(timeline.of(label))).toBe(0);
      const spans = timeline.of(label).filter((span) => span.enter >= from);
      // 2 replicas x ~13 ticks each were due; at most one run per ~100 ms happened.
      expect(spans.length).toBeGreaterThanOrEqual(3);
      expect(spans.length).toBeLessThanOrEqual(12);
    }
  });
});
