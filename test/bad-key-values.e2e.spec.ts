/**
 * A key value from the request that the engine refuses (a lone surrogate,
 * more keys than a lock takes) is answered 400 (InvalidLockKeyArgumentError),
 * never 500.
 */
import { Body, Controller, Post, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DistributedLock, DistributedLockModule } from '../lib/index.js';
import { createApp, unique } from './support/nest-apps.js';
import { useRedis } from './support/redis-fixture.js';

const redis = useRedis();

@Controller()
class KeysController {
  @Post('customers')
  @DistributedLock('customer:<dto.customerId>')
  create(@Body() dto: { customerId?: string }): { ok: true } {
    return { ok: !!dto };
  }

  @Post('fn')
  @DistributedLock((dto: { id: string }) => `fn:${dto.id}`)
  fn(@Body() dto: { id: string }): { ok: true } {
    ran++;
    return { ok: !!dto };
  }

  @Post('many')
  @DistributedLock((dto: { ids: string[] }) => dto.ids.map((id) => `m:${id}`))
  many(@Body() dto: { ids: string[] }): { ok: true } {
    return { ok: !!dto };
  }
}

const apps: INestApplication[] = [];
let ran = 0;
afterEach(async () => {
  ran = 0;
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function start() {
  const app = await createApp('express', {
    imports: [
      DistributedLockModule.forRoot({
        url: redis.server.url,
        prefix: unique('rv') + ':',
      }),
    ],
    controllers: [KeysController],
  });
  apps.push(app);
  return app;
}

describe('bad key values from the request', () => {
  it('answers 400 (not 500) for a template value with a lone surrogate', async () => {
    const app = await start();
    const response = await request(app.getHttpServer())
      .post('/customers')
      .set('content-type', 'application/json')
      .send('{"customerId":"\\ud800"}');
    expect(response.status).toBe(400);
    expect(response.body.message).toMatch(
      /"dto\.customerId" is a string that is not well-formed/,
    );
    // the same value, well-formed, passes
    const ok = await request(app.getHttpServer())
      .post('/customers')
      .send({ customerId: '\ud83d\ude00' });
    expect(ok.status).toBe(201);
  });

  it('answers 400 (not 500) for a key function value with a lone surrogate', async () => {
    const app = await start();
    const response = await request(app.getHttpServer())
      .post('/fn')
      .set('content-type', 'application/json')
      .send('{"id":"\\udc00"}');
    expect(response.status).toBe(400);
  });

  it('answers 400 (not 500) when a key function gives more keys than a lock takes', async () => {
    const app = await start();
    const ids = Array.from({ length: 1001 }, (_, i) => String(i));
    const response = await request(app.getHttpServer())
      .post('/many')
      .send({ ids });
    expect(response.status).toBe(400);
  });

  it('answers 400 when a key function turns a missing field into "undefined", and the method does not run', async () => {
    const app = await start();
    const response = await request(app.getHttpServer()).post('/fn').send({});
    expect(response.status).toBe(400);
    expect(response.body.message).toBe(
      'The request does not identify the resource to lock.',
    );
    expect(ran).toBe(0);
    const ok = await request(app.getHttpServer()).post('/fn').send({ id: 'a' });
    expect(ok.status).toBe(201);
    expect(ran).toBe(1);
  });
});
