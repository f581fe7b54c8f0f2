/**
 * A decorated method returning an Observable whose subscriber unsubscribes
 * while the source is still emitting its first, synchronous values (`take(1)`
 * on a source that emits at once and goes on): the source's subscription
 * must end with the call, not run on unlocked after the release.
 */
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { firstValueFrom, Observable } from 'rxjs';
import {
  DistributedLock,
  DistributedLockModule,
  DistributedLockService,
  MemoryLockStore,
} from '../../lib/index.js';

@Injectable()
class Ticker {
  /** Whether the source's teardown ran. */
  tornDown = false;
  timer?: NodeJS.Timeout;

  @DistributedLock('ticker:<id>')
  ticks(id: string): Observable<string> {
    return new Observable<string>((subscriber) => {
      subscriber.next(`${id}:0`);
      // Would go on forever: only an unsubscribe ends it.
      this.timer = setInterval(() => subscriber.next(`${id}:more`), 5);
      return () => {
        clearInterval(this.timer);
        this.tornDown = true;
      };
    });
  }
}

test('a subscriber that takes the first, synchronous value ends the source subscription before the lock is released', async () => {
  const moduleRef = await Test.createTestingModule({
    imports: [DistributedLockModule.forRoot({ store: new MemoryLockStore() })],
    providers: [Ticker],
  }).compile();
  await moduleRef.init();
  try {
    const ticker = moduleRef.get(Ticker);
    const locks = moduleRef.get(DistributedLockService);
    await expect(firstValueFrom(ticker.ticks('t1'))).resolves.toBe('t1:0');
    // Waits for the release of the call's lock.
    const lock = await locks.acquire('ticker:t1', { waitTimeout: 5_000 });
    expect(ticker.tornDown).toBe(true);
    await lock.release();
  } finally {
    // NOTE: so that a failure here does not keep jest running.
    clearInterval(moduleRef.get(Ticker).timer);
    await moduleRef.close();
  }
});
