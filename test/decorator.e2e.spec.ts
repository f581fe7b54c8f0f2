/**
 * @DistributedLock end to end: two Nest applications (two "replicas", each
 * with its own module instance) on one real Redis, over Express and Fastify.
 */
import {
  Body,
  Controller,
  Get,
  Injectable,
  Param,
  Post,
  Query,
  type INestApplication,
} from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants.js';
// NOTE: Observable as a value: the decorator reads it from the return type's
// metadata, which a type-only import would turn into Object.
import {
  concatMap,
  from,
  interval,
  map,
  Observable,
  of,
  take,
  tap,
} from 'rxjs';
import request from 'supertest';
import {
  DistributedLock,
  DistributedLockModule,
  DistributedLockService,
  lockKey,
} from '../lib/index.js';
import {
  createApp,
  overlaps,
  sleep,
  Timeline,
  unique,
  type Platform,
} from './support/nest-apps.js';
import { startRedis, type RedisServer } from './support/redis-harness.js';

const timeline = new Timeline();

/** Values the streams sent so far. */
const streamed: string[] = [];
/** Holds a stream after its first value (and its lock) until the test lets it go on. */
let streamGate: Promise<void> = Promise.resolve();

@Injectable()
class OrdersService {
  constructor(private readonly locks: DistributedLockService) {}

  @DistributedLock('order:<id>', { onContention: 'wait', waitTimeout: 10_000 })
  async process(id: string, ms: number): Promise<{ id: string }> {
    return timeline.run(`service:${id}`, ms, { id });
  }

  @DistributedLock('order:<0>', { onContention: 'fail' })
  async processOrFail(id: string, ms: number): Promise<{ id: string }> {
    return timeline.run(`service-fail:${id}`, ms, { id });
  }

  /** Called while the controller already holds `order:<id>`: reentrant, no deadlock. */
  @DistributedLock('order:<orderId>', { onContention: 'fail' })
  async audit(orderId: string): Promise<number | undefined> {
    return this.locks.current(lockKey('order', orderId))?.fence;
  }
}

@Controller()
class OrdersController {
  constructor(
    private readonly orders: OrdersService,
    private readonly locks: DistributedLockService,
  ) {}

  // The decorator below the route decorator...
  @Post('fail/:id')
  @DistributedLock('order:<id>', { onContention: 'fail' })
  fail(
    @Param('id') id: string,
    @Query('ms') ms: string,
  ): Promise<{ id: string }> {
    return timeline.run(`fail:${id}`, Number(ms), { id });
  }

  // ...and above it.
  @DistributedLock('order:<id>', { onContention: 'wait', waitTimeout: 10_000 })
  @Post('wait/:id')
  wait(
    @Param('id') id: string,
    @Query('ms') ms: string,
  ): Promise<{ id: string }> {
    return timeline.run(`wait:${id}`, Number(ms), { id });
  }

  @Post('service/:id')
  viaService(
    @Param('id') id: string,
    @Query('ms') ms: string,
  ): Promise<{ id: string }> {
    return this.orders.process(id, Number(ms));
  }

  @Post('service-fail/:id')
  viaServiceOrFail(
    @Param('id') id: string,
    @Query('ms') ms: string,
  ): Promise<{ id: string }> {
    return this.orders.processOrFail(id, Number(ms));
  }

  @Post('nested/:id')
  @DistributedLock('order:<id>', { onContention: 'fail' })
  async nested(
    @Param('id') id: string,
  ): Promise<{ outer?: number; inner?: number }> {
    return {
      outer: this.locks.current()?.fence,
      inner: await this.orders.audit(id),
    };
  }

  @Post('customers')
  @DistributedLock('customer:<dto.customerId>')
  createCustomer(@Body() dto: { customerId?: string }): {
    customerId?: string;
  } {
    return { customerId: dto.customerId };
  }

  @Get('stream/:id')
  @DistributedLock('stream:<id>', { onContention: 'fail' })
  stream(@Param('id') id: string): Observable<string> {
    return interval(100).pipe(
      take(3),
      concatMap((n) => (n === 1 ? from(streamGate).pipe(map(() => n)) : of(n))),
      map((n) => `${id}:${n}`),
      tap((value) => streamed.push(value)),
    );
  }

  @Get('stream-or-skip/:id')
  @DistributedLock('stream:<id>', { onContention: 'skip' })
  streamOrSkip(@Param('id') id: string): Observable<string> {
    return this.stream(id);
  }
}

describe.each<Platform>(['express', 'fastify'])(
  '@DistributedLock over HTTP (%s, two app instances)',
  (platform) => {
    let redis: RedisServer;
    let apps: INestApplication[];
    const servers = () => apps.map((app) => app.getHttpServer());

    beforeAll(async () => {
      redis = await startRedis();
      const metadata = () => ({
        imports: [
          DistributedLockModule.forRoot({
            url: redis.url,
            prefix: `${platform}:`,
          }),
        ],
        controllers: [OrdersController],
        providers: [OrdersService],
      });
      apps = [
        await createApp(platform, metadata()),
        await createApp(platform, metadata()),
      ];
    });

    afterAll(async () => {
      await Promise.all(apps?.map((app) => app.close()) ?? []);
      await redis?.stop();
    });

    /** `count` concurrent POSTs, spread over both apps. */
    function burst(path: string, count: number) {
      return Promise.all(sent(path, count));
    }

    function sent(path: string, count: number) {
      const targets = servers();
      return Array.from({ length: count }, (_, i) =>
        request(targets[i % targets.length])
          .post(path)
          .then((response) => response),
      );
    }

    /**
     * `count` concurrent POSTs to a section held (by `timeline.hold`) until
     * all but one were answered: the holder's lock lasts until then, however
     * slowly the others arrive. Opens after 10 s if they never are.
     */
    async function contended(path: string, count: number, label: string) {
      const letGo = timeline.hold(label);
      const pending = sent(path, count);
      let answered = 0;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        pending.forEach((response) =>
          response.then(() => {
            if (++answered < count - 1) return;
            clearTimeout(timer);
            resolve();
          }),
        );
      });
      letGo();
      return Promise.all(pending);
    }

    /** Polls until a stream sent `value` (under its lock). */
    async function untilStreamed(value: string): Promise<void> {
      while (!streamed.includes(value)) await sleep(5);
    }

    it('keeps the route when the decorator stands below or above @Post()', () => {
      expect(
        Reflect.getMetadata(PATH_METADATA, OrdersController.prototype.fail),
      ).toBe('fail/:id');
      expect(
        Reflect.getMetadata(PATH_METADATA, OrdersController.prototype.wait),
      ).toBe('wait/:id');
      expect(OrdersController.prototype.fail.name).toBe('fail');
      expect(OrdersController.prototype.fail.length).toBe(2);
    });

    it("'fail': exactly one concurrent request succeeds, the others get 409 with Retry-After", async () => {
      const id = unique('o');
      const responses = await contended(`/fail/${id}?ms=0`, 6, `fail:${id}`);
      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([201, 409, 409, 409, 409, 409]);
      for (const response of responses.filter((r) => r.status === 409)) {
        expect(response.headers['retry-after']).toMatch(/^[1-9]\d*$/);
        expect(response.body).toMatchObject({
          statusCode: 409,
          error: 'Conflict',
        });
      }
      expect(timeline.of(`fail:${id}`)).toHaveLength(1);
    });

    it("'wait': every concurrent request succeeds, one at a time", async () => {
      const id = unique('o');
      const responses = await burst(`/wait/${id}?ms=80`, 6);
      expect(responses.map((response) => response.status)).toEqual(
        Array(6).fill(201),
      );
      const spans = timeline.of(`wait:${id}`);
      expect(spans).toHaveLength(6);
      expect(overlaps(spans)).toBe(0);
    });

    it('runs requests for different keys in parallel', async () => {
      const ids = [unique('p'), unique('p'), unique('p'), unique('p')];
      const targets = servers();
      // NOTE: each section is held until all four entered (or 10 s passed):
      // sections that ran one after another would never all enter
      const letGo = ids.map((id) => timeline.hold(`fail:${id}`));
      const pending = ids.map((id, i) =>
        request(targets[i % 2])
          .post(`/fail/${id}?ms=0`)
          .then((response) => response),
      );
      const deadline = performance.now() + 10_000;
      while (
        ids.some((id) => !timeline.entered.includes(`fail:${id}`)) &&
        performance.now() < deadline
      )
        await sleep(5);
      for (const open of letGo) open();
      const responses = await Promise.all(pending);
      expect(responses.map((response) => response.status)).toEqual([
        201, 201, 201, 201,
      ]);
      const spans = ids.map((id) => timeline.of(`fail:${id}`)[0]);
      // NOTE: in parallel, every section started before any of them ended.
      expect(Math.max(...spans.map((s) => s.enter))).toBeLessThan(
        Math.min(...spans.map((s) => s.exit)),
      );
    });

    it("locks a plain service method called from a controller: 'wait' serializes across apps", async () => {
      const id = unique('s');
      const responses = await burst(`/service/${id}?ms=80`, 6);
      expect(responses.map((response) => response.status)).toEqual(
        Array(6).fill(201),
      );
      const spans = timeline.of(`service:${id}`);
      expect(spans).toHaveLength(6);
      expect(overlaps(spans)).toBe(0);
    });

    it("locks a plain service method called from a controller: 'fail' maps to 409", async () => {
      const id = unique('s');
      const responses = await contended(
        `/service-fail/${id}?ms=0`,
        4,
        `service-fail:${id}`,
      );
      expect(responses.map((response) => response.status).sort()).toEqual([
        201, 409, 409, 409,
      ]);
      expect(
        responses.find((r) => r.status === 409)?.headers['retry-after'],
      ).toMatch(/^[1-9]\d*$/);
    });

    it('lets a decorated route call a decorated service method on the same key (reentrant)', async () => {
      const response = await request(servers()[0]).post(
        `/nested/${unique('n')}`,
      );
      expect(response.status).toBe(201);
      expect(response.body.outer).toEqual(expect.any(Number));
      expect(response.body.inner).toBe(response.body.outer);
    });

    it('answers 400 with a clear message when a key value is missing from the request', async () => {
      const response = await request(servers()[0]).post('/customers').send({});
      expect(response.status).toBe(400);
      expect(response.body.message).toMatch(/"dto\.customerId" is undefined/);
      const ok = await request(servers()[1])
        .post('/customers')
        .send({ customerId: 'c-1' });
      expect(ok.status).toBe(201);
      expect(ok.body).toEqual({ customerId: 'c-1' });
    });

    it('holds the lock while an Observable result streams, and releases it when it completes', async () => {
      const id = unique('st');
      // the first stream holds its lock, after its first value, until the
      // second request was answered
      let start!: () => void;
      streamGate = new Promise((resolve) => (start = resolve));
      const streaming = request(servers()[0])
        .get(`/stream/${id}`)
        .then((response) => response);
      await untilStreamed(`${id}:0`);
      const second = await request(servers()[1]).get(`/stream/${id}`);
      start();
      const first = await streaming;
      expect(first.status).toBe(200);
      expect(first.text).toBe(`${id}:2`);
      expect(second.status).toBe(409);
      const third = await request(servers()[1]).get(`/stream/${id}`);
      expect(third.status).toBe(200);
    });

    it('answers a skipped Observable route like a skipped Promise one: 200 with no body', async () => {
      const id = unique('sk');
      let start!: () => void;
      streamGate = new Promise((resolve) => (start = resolve));
      const streaming = request(servers()[0])
        .get(`/stream-or-skip/${id}`)
        .then((response) => response);
      await untilStreamed(`${id}:0`);
      const second = await request(servers()[1]).get(`/stream-or-skip/${id}`);
      start();
      const first = await streaming;
      expect(first.status).toBe(200);
      expect(first.text).toBe(`${id}:2`);
      expect({ status: second.status, text: second.text }).toEqual({
        status: 200,
        text: '',
      });
    });
  },
);
