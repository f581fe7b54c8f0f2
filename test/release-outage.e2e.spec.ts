/**
 * A decorated method that ran to completion under a valid lease must
 * not be answered 503 "Retry shortly" because only the release afterwards
 * could not reach Redis (the lease runs out on its own): a client that
 * retries a non-idempotent call would run it twice.
 */
import { Controller, Param, Post, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DistributedLock, DistributedLockModule } from '../lib/index.js';
import { createApp, sleep } from './support/nest-apps.js';
import { startRedis, type RedisServer } from './support/redis-harness.js';

let payments = 0;
let onWork: () => Promise<void> = async () => {};

@Controller()
class PayController {
  @Post('pay/:id')
  @DistributedLock('pay:<id>')
  async pay(@Param('id') id: string): Promise<{ paid: string }> {
    await onWork();
    payments++; // the side effect is done: the payment went through
    return { paid: id };
  }

  @Post('pay-ignore/:id')
  @DistributedLock('pay:<id>', { onLockLost: 'ignore' })
  async payIgnoringLoss(@Param('id') id: string): Promise<{ paid: string }> {
    return this.pay(id);
  }
}

let own: RedisServer;
let app: INestApplication;

beforeAll(async () => {
  own = await startRedis();
  app = await createApp('express', {
    imports: [DistributedLockModule.forRoot({ url: own.url })],
    controllers: [PayController],
  });
});

afterAll(async () => {
  own?.resume();
  await app?.close();
  await own?.stop();
});

describe.each(['pay', 'pay-ignore'])(
  'a method that completed (%s)',
  (route) => {
    it('is answered with its result when only the release failed', async () => {
      const before = payments;
      onWork = async () => {
        own.pause(); // Redis stops answering while the method runs
        await sleep(20);
      };
      const response = await request(app.getHttpServer()).post(
        `/${route}/${route}`,
      );
      own.resume();
      onWork = async () => {};
      expect(payments).toBe(before + 1);
      expect({ status: response.status, body: response.body }).toEqual({
        status: 201,
        body: { paid: route },
      });
    });
  },
);
