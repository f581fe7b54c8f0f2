/**
 * Lock errors over the other transports: an RPC client (a TCP microservice)
 * and a WebSocket client receive the mapped payload, not Nest's generic
 * "Internal server error".
 */
import { Controller, type INestMicroservice } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import {
  ClientProxyFactory,
  MessagePattern,
  Transport,
  type ClientProxy,
} from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { BaseWsExceptionFilter, WsException } from '@nestjs/websockets';
import { lastValueFrom, throwError } from 'rxjs';
import {
  DistributedLock,
  DistributedLockInterceptor,
  DistributedLockModule,
  LockNotAcquiredError,
} from '../lib/index.js';
import { sleep, unique } from './support/nest-apps.js';
import { freePort } from './support/redis-harness.js';
import { useRedis } from './support/redis-fixture.js';

const redis = useRedis();

/** Keeps a payment inside its lock until the test lets it go. */
let payGate: Promise<void> = Promise.resolve();

@Controller()
class PaymentsHandler {
  @MessagePattern('pay')
  @DistributedLock('payment:<data.id>')
  async pay(data: { id: string }): Promise<string> {
    await payGate;
    return `paid ${data.id}`;
  }
}

describe('an RPC handler (TCP microservice)', () => {
  let service: INestMicroservice;
  let client: ClientProxy;
  const prefix = unique('rpc') + ':';

  beforeAll(async () => {
    const port = await freePort();
    const moduleRef = await Test.createTestingModule({
      imports: [
        DistributedLockModule.forRoot({
          url: redis.server.url,
          prefix,
        }),
      ],
      controllers: [PaymentsHandler],
    }).compile();
    service = moduleRef.createNestMicroservice({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
      logger: false,
    });
    await service.listen();
    client = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
    });
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await service?.close();
  });

  it('answers contention with the 409 payload', async () => {
    const send = () =>
      lastValueFrom(client.send<string>('pay', { id: 'p-1' })).catch(
        (error: unknown) => error,
      );
    // the first payment holds its lock until the second was answered
    let letGo!: () => void;
    payGate = new Promise((resolve) => (letGo = resolve));
    const paying = send();
    while ((await redis.admin.exists(`${prefix}{payment:p-1}`)) === 0)
      await sleep(5);
    const second = await send();
    letGo();
    const first = await paying;
    expect(first).toBe('paid p-1');
    expect(second).toEqual({
      status: 'error',
      statusCode: 409,
      error: 'Conflict',
      message: expect.stringMatching(/locked by another operation/),
      retryAfter: expect.any(Number),
    });
  });
});

describe('a WebSocket handler', () => {
  it('throws a WsException, which the WebSocket exception filter sends to the client', async () => {
    const emitted: unknown[][] = [];
    const socket = { emit: (...args: unknown[]) => emitted.push(args) };
    const context = new ExecutionContextHost([socket, { id: 'w-1' }]);
    context.setType('ws');
    const error = await lastValueFrom(
      new DistributedLockInterceptor().intercept(context, {
        handle: () =>
          throwError(() => new LockNotAcquiredError(['payment:w-1'], 2500)),
      }),
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WsException);
    new BaseWsExceptionFilter().catch(error, context);
    expect(emitted).toEqual([
      [
        'exception',
        expect.objectContaining({
          status: 'error',
          statusCode: 409,
          error: 'Conflict',
          retryAfter: 3,
        }),
      ],
    ]);
  });
});
