/**
 * A method keeps its result when only the release gets no answer, but not
 * when its lease had already run out before it completed (renewal stalled on
 * the same frozen Redis, its extend not yet timed out, so no timer had
 * marked the lock lost): the method ran unprotected, which is a lost lock,
 * not a success.
 */
import { Controller, Param, Post, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DistributedLock, DistributedLockModule } from '../lib/index.js';
import { createApp, sleep } from './support/nest-apps.js';
import { startRedis, type RedisServer } from './support/redis-harness.js';

let payments = 0;
let own: RedisServer;

@Controller()
class PayController {
  @Post('pay/:id')
  @DistributedLock('pay:<id>', { ttl: 1000 })
  async pay(@Param('id') id: string): Promise<{ paid: string }> {
    own.pause(); // Redis freezes: the renewal at ~333 ms hangs until ~1333 ms
    await sleep(1200); // the lease (about 988 ms of validity) runs out here
    payments++;
    return { paid: id };
  }
}

let app: INestApplication;

beforeAll(async () => {
  own = await startRedis();
  app = await createApp('express', {
    imports: [
      DistributedLockModule.forRoot({ url: own.url, operationTimeout: 1000 }),
    ],
    controllers: [PayController],
  });
});

afterAll(async () => {
  own?.resume();
  await app?.close();
  await own?.stop();
});

it('a method that outlived its lease is not answered as a success because the release got no answer', async () => {
  const response = await request(app.getHttpServer()).post('/pay/1');
  own.resume();
  expect(payments).toBe(1);
  // the lock was lost before the method completed: a 500 (LockLostError),
  // as when Redis answers the release with `expired`
  expect(response.status).toBe(500);
}, 20_000);
