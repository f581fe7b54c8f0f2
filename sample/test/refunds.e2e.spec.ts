/**
 * Refunds and answers when a lock ends badly after the database committed:
 * a cancel whose item lock is lost (or whose release Redis does not answer)
 * still refunds; a payment or reservation the database accepted is answered
 * as made; a refund that failed once is retried by a later cancel and by the
 * expiry sweep.
 */
import { Redis } from 'ioredis';
import request from 'supertest';
import { createItem } from '../src/demo/load.js';
import { ItemsRepository } from '../src/inventory/items.repository.js';
import type { Order } from '../src/orders/order.js';
import { OrdersRepository } from '../src/orders/orders.repository.js';
import { PaymentGateway } from '../src/orders/payment-gateway.js';
import { OrdersService } from '../src/orders/orders.service.js';
import { SchedulerRegistry } from '@nestjs/schedule';
import { startCluster, uniqueItemId, type Cluster } from './apps.js';

describe('refunds and answers after a lock ends badly', () => {
  let cluster: Cluster;
  let redis: Redis;

  beforeAll(async () => {
    cluster = await startCluster(2);
    redis = new Redis(cluster.redis.url);
  }, 60_000);

  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  it('cancelling an order with a lost-answer charge refunds it even if the item lock is lost meanwhile', async () => {
    const [first, second] = cluster.instances;
    const itemId = uniqueItemId('lost-refund');
    await createItem(first.url, itemId, 5);
    const order = (
      await request(first.url)
        .post('/orders')
        .send({ itemId, quantity: 1 })
        .expect(201)
    ).body as Order;

    // The provider takes the charge, but its answer is lost (as in the
    // existing spec "refunds a charge whose answer was lost").
    const gateway = first.app.get(PaymentGateway);
    const charge = gateway.charge.bind(gateway);
    gateway.charge = async (id, amount) => {
      await charge(id, amount);
      throw new Error('ETIMEDOUT');
    };
    try {
      await request(first.url).post(`/orders/${order.id}/pay`).expect(500);
    } finally {
      gateway.charge = charge;
    }

    // The canceller's item lease runs out during its transaction (a pause
    // past the ttl, Redis unreachable for the renewals): simulated by
    // removing the lease from Redis. The write itself carries the fence.
    const items = second.app.get(ItemsRepository);
    const claim = items.claim.bind(items);
    items.claim = async (tx, id, fence) => {
      for (const key of await redis.keys(`*item:${id}*`)) await redis.del(key);
      return claim(tx, id, fence);
    };
    let cancel: request.Response;
    try {
      cancel = await request(second.url).post(`/orders/${order.id}/cancel`);
    } finally {
      items.claim = claim;
    }
    const status = (await request(first.url).get(`/orders/${order.id}`)).body
      .status;
    const balance = await gateway.balance(order.id);
    const again = await request(first.url).post(`/orders/${order.id}/cancel`);
    const balanceAfterRetry = await gateway.balance(order.id);
    expect({
      cancelStatus: cancel.status,
      orderStatus: status,
      balance,
      retryStatus: again.status,
      balanceAfterRetry,
    }).toEqual({
      cancelStatus: 200,
      orderStatus: 'cancelled',
      balance: 0,
      retryStatus: 409,
      balanceAfterRetry: 0,
    });
  });

  it('answers a payment that went through with 200 even if the order lock was lost meanwhile', async () => {
    const [first] = cluster.instances;
    const itemId = uniqueItemId('lost-pay');
    await createItem(first.url, itemId, 5);
    const order = (
      await request(first.url)
        .post('/orders')
        .send({ itemId, quantity: 1 })
        .expect(201)
    ).body as Order;
    // The payer's order lease runs out during the provider call (a pause
    // past the ttl): simulated by removing the lease from Redis.
    const gateway = first.app.get(PaymentGateway);
    const charge = gateway.charge.bind(gateway);
    gateway.charge = async (id, amount) => {
      for (const key of await redis.keys(`*order:${id}*`)) await redis.del(key);
      await charge(id, amount);
    };
    let pay: request.Response;
    try {
      pay = await request(first.url).post(`/orders/${order.id}/pay`);
    } finally {
      gateway.charge = charge;
    }
    const status = (await request(first.url).get(`/orders/${order.id}`)).body
      .status;
    expect({
      payStatus: pay.status,
      orderStatus: status,
      charges: await gateway.charges(order.id),
    }).toEqual({ payStatus: 200, orderStatus: 'paid', charges: 1 });
  });

  it('cancelling an order with a lost-answer charge refunds it even if Redis does not answer its lock release', async () => {
    const [first, second] = cluster.instances;
    const itemId = uniqueItemId('redis-blip');
    await createItem(first.url, itemId, 5);
    const order = (
      await request(first.url)
        .post('/orders')
        .send({ itemId, quantity: 1 })
        .expect(201)
    ).body as Order;
    const gateway = first.app.get(PaymentGateway);
    const charge = gateway.charge.bind(gateway);
    gateway.charge = async (id, amount) => {
      await charge(id, amount);
      throw new Error('ETIMEDOUT');
    };
    try {
      await request(first.url).post(`/orders/${order.id}/pay`).expect(500);
    } finally {
      gateway.charge = charge;
    }
    // Redis stops answering for 1.5 s while the canceller's transaction runs.
    const items = second.app.get(ItemsRepository);
    const claim = items.claim.bind(items);
    items.claim = async (tx, id, fence) => {
      cluster.redis.pause();
      setTimeout(() => cluster.redis.resume(), 1500);
      return claim(tx, id, fence);
    };
    let cancel: request.Response;
    try {
      cancel = await request(second.url).post(`/orders/${order.id}/cancel`);
    } finally {
      items.claim = claim;
    }
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect({
      cancelStatus: cancel.status,
      orderStatus: (await request(first.url).get(`/orders/${order.id}`)).body
        .status,
      balance: await gateway.balance(order.id),
    }).toEqual({ cancelStatus: 200, orderStatus: 'cancelled', balance: 0 });
  });

  it('answers a reservation the database accepted as made even if Redis does not answer its lock release', async () => {
    const [first] = cluster.instances;
    const itemId = uniqueItemId('reserve-blip');
    await createItem(first.url, itemId, 5);
    const items = first.app.get(ItemsRepository);
    const claim = items.claim.bind(items);
    items.claim = async (tx, id, fence) => {
      cluster.redis.pause();
      setTimeout(() => cluster.redis.resume(), 1500);
      return claim(tx, id, fence);
    };
    let reserve: request.Response;
    try {
      reserve = await request(first.url)
        .post('/orders')
        .send({ itemId, quantity: 2 });
    } finally {
      items.claim = claim;
    }
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const figures = (await request(first.url).get(`/items/${itemId}`)).body;
    expect({
      status: reserve.status,
      sold: figures.sold,
      available: figures.available,
    }).toEqual({ status: 201, sold: 2, available: 3 });
  });

  it('a refund that failed once is retried by a later cancel', async () => {
    const [first] = cluster.instances;
    const itemId = uniqueItemId('refund-blip');
    await createItem(first.url, itemId, 5);
    const order = (
      await request(first.url)
        .post('/orders')
        .send({ itemId, quantity: 1 })
        .expect(201)
    ).body as Order;
    const gateway = first.app.get(PaymentGateway);
    const charge = gateway.charge.bind(gateway);
    gateway.charge = async (id, amount) => {
      await charge(id, amount);
      throw new Error('ETIMEDOUT');
    };
    try {
      await request(first.url).post(`/orders/${order.id}/pay`).expect(500);
    } finally {
      gateway.charge = charge;
    }
    // the provider fails the refund once
    const refund = gateway.refund.bind(gateway);
    gateway.refund = async () => {
      throw new Error('provider unavailable');
    };
    let cancel: request.Response;
    try {
      cancel = await request(first.url).post(`/orders/${order.id}/cancel`);
    } finally {
      gateway.refund = refund;
    }
    const retry = await request(first.url).post(`/orders/${order.id}/cancel`);
    expect({
      cancel: cancel.status,
      retry: retry.status,
      balance: await gateway.balance(order.id),
    }).toEqual({ cancel: 500, retry: 409, balance: 0 });
  });

  it('a refund that failed once is retried by the sweep', async () => {
    const [first] = cluster.instances;
    const itemId = uniqueItemId('refund-sweep');
    await createItem(first.url, itemId, 5);
    const order = (
      await request(first.url)
        .post('/orders')
        .send({ itemId, quantity: 1 })
        .expect(201)
    ).body as Order;
    const gateway = first.app.get(PaymentGateway);
    const charge = gateway.charge.bind(gateway);
    gateway.charge = async (id, amount) => {
      await charge(id, amount);
      throw new Error('ETIMEDOUT');
    };
    try {
      await request(first.url).post(`/orders/${order.id}/pay`).expect(500);
    } finally {
      gateway.charge = charge;
    }
    const refund = gateway.refund.bind(gateway);
    gateway.refund = async () => {
      throw new Error('provider unavailable');
    };
    try {
      await request(first.url).post(`/orders/${order.id}/cancel`).expect(500);
    } finally {
      gateway.refund = refund;
    }
    // The sweep runs every second: poll for its refund (a loaded machine
    // may delay or skip a tick) rather than look once after 2.5 s.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await gateway.balance(order.id)) !== 0)
      await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await gateway.balance(order.id)).toBe(0);
  });

  it('more refunds refused for good than a sweep takes do not keep a later one from being retried', async () => {
    const [first] = cluster.instances;
    // NOTE: the scheduled sweeps are stopped, so only the calls below retry
    // refunds, with a limit of one order per sweep.
    const crons = cluster.instances.map((instance) =>
      instance.app
        .get(SchedulerRegistry)
        .getCronJob('release-expired-reservations'),
    );
    crons.forEach((cron) => cron.stop());
    const gateway = first.app.get(PaymentGateway);
    const refund = gateway.refund.bind(gateway);
    let allowed: string | undefined;
    gateway.refund = async (id) => {
      if (id !== allowed) throw new Error('refund refused by the provider');
      return refund(id);
    };
    try {
      // Three cancelled orders whose charge (its answer lost) is not
      // refunded; the provider refuses the first two for good.
      const orders: Order[] = [];
      for (const name of ['stuck-a', 'stuck-b', 'stuck-last']) {
        const itemId = uniqueItemId(name);
        await createItem(first.url, itemId, 5);
        const order = (
          await request(first.url)
            .post('/orders')
            .send({ itemId, quantity: 1 })
            .expect(201)
        ).body as Order;
        const charge = gateway.charge.bind(gateway);
        gateway.charge = async (id, amount) => {
          await charge(id, amount);
          throw new Error('ETIMEDOUT');
        };
        try {
          await request(first.url).post(`/orders/${order.id}/pay`).expect(500);
        } finally {
          gateway.charge = charge;
        }
        await request(first.url).post(`/orders/${order.id}/cancel`).expect(500);
        orders.push(order);
      }
      const last = orders[2];
      allowed = last.id;
      // However the rows come back, sweeps of one order each reach every
      // unrefunded order within as many sweeps as there are of them.
      const service = first.app.get(OrdersService);
      const pending = (await first.app.get(OrdersRepository).unrefunded(10_000))
        .length;
      for (let sweep = 0; sweep <= pending; sweep++)
        await service.retryRefunds(1);
      expect({
        last: await gateway.balance(last.id),
        stuck: await Promise.all(
          orders.slice(0, 2).map((order) => gateway.balance(order.id)),
        ),
      }).toEqual({ last: 0, stuck: [1000, 1000] });
    } finally {
      gateway.refund = refund;
      crons.forEach((cron) => cron.start());
    }
  });

  it('a refund the provider keeps refusing does not stop the sweep from retrying the others', async () => {
    const [first] = cluster.instances;
    const gateways = cluster.instances.map((instance) =>
      instance.app.get(PaymentGateway),
    );
    const repositories = cluster.instances.map((instance) =>
      instance.app.get(OrdersRepository),
    );
    // The provider refuses every refund while two orders are cancelled,
    // then, for good, the refund of the first one (a disputed charge, say).
    let refused: string | undefined;
    const refunds = gateways.map((gateway) => gateway.refund.bind(gateway));
    const unrefunded = repositories.map((repository) =>
      repository.unrefunded.bind(repository),
    );
    gateways.forEach((gateway, index) => {
      gateway.refund = async (id) => {
        if (refused === undefined || id === refused)
          throw new Error('refund refused by the provider');
        return refunds[index](id);
      };
    });
    // The sweep meets the refused one first, whatever order the rows have.
    repositories.forEach((repository, index) => {
      repository.unrefunded = async (limit, after) =>
        (await unrefunded[index](limit, after)).sort(
          (a, b) => Number(b === refused) - Number(a === refused),
        );
    });
    try {
      // Two cancelled orders whose charge (its answer lost) is not refunded.
      const orders: Order[] = [];
      for (const name of ['refund-refused', 'refund-other']) {
        const itemId = uniqueItemId(name);
        await createItem(first.url, itemId, 5);
        const order = (
          await request(first.url)
            .post('/orders')
            .send({ itemId, quantity: 1 })
            .expect(201)
        ).body as Order;
        const gateway = gateways[0];
        const charge = gateway.charge.bind(gateway);
        gateway.charge = async (id, amount) => {
          await charge(id, amount);
          throw new Error('ETIMEDOUT');
        };
        try {
          await request(first.url).post(`/orders/${order.id}/pay`).expect(500);
        } finally {
          gateway.charge = charge;
        }
        await request(first.url).post(`/orders/${order.id}/cancel`).expect(500);
        orders.push(order);
      }
      const [refusedOrder, other] = orders;
      refused = refusedOrder.id;
      // The sweep runs every second; the other order's refund must come.
      const deadline = Date.now() + 15_000;
      while (
        Date.now() < deadline &&
        (await gateways[0].balance(other.id)) !== 0
      )
        await new Promise((resolve) => setTimeout(resolve, 200));
      expect({
        refused: await gateways[0].balance(refusedOrder.id),
        other: await gateways[0].balance(other.id),
      }).toEqual({ refused: 1000, other: 0 });
    } finally {
      gateways.forEach((gateway, index) => (gateway.refund = refunds[index]));
      repositories.forEach(
        (repository, index) => (repository.unrefunded = unrefunded[index]),
      );
    }
  });
});
