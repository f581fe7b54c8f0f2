import { ConflictException, Inject, Injectable, Logger } from '@nestjs/common';
import {
  DistributedLock,
  DistributedLockService,
  lockKey,
} from 'nestjs-distributed-lock';
import { APP_CONFIG } from '../app-config.module.js';
import type { AppConfig } from '../app.config.js';
import {
  InjectDatabase,
  type Database,
  type Queryable,
} from '../database/database.js';
import type { Item } from '../inventory/item.js';
import { ItemsRepository } from '../inventory/items.repository.js';
import type { Order, OrderStatus } from './order.js';
import { OrdersRepository } from './orders.repository.js';
import { PaymentGateway } from './payment-gateway.js';

/**
 * Orders: reserve units of an item, pay, cancel, expire. Every change of an
 * item's stock runs under the lock `item:<id>` and carries that lock's
 * fencing token into the SQL write; every change of an order runs under
 * `order:<id>`.
 */
@Injectable()
export class OrdersService {
  private readonly logger = new Logger(OrdersService.name);
  /** Where the next {@link retryRefunds} goes on from (an order id). */
  private refundsFrom?: string;

  constructor(
    @InjectDatabase() private readonly db: Database,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly items: ItemsRepository,
    private readonly orders: OrdersRepository,
    private readonly payments: PaymentGateway,
    private readonly locks: DistributedLockService,
  ) {}

  /**
   * Reserves `quantity` units under the item's lock: requests for one item
   * queue up across every instance (up to 5 s, then 409 with Retry-After),
   * so no two of them read the same stock. NOTE: `onLockLost: 'ignore'`: the
   * fence, not the lock, is what makes the write safe once the lock may have
   * been lost, and a reservation the database accepted is answered as made.
   */
  @DistributedLock('item:<itemId>', {
    onContention: 'wait',
    waitTimeout: 5000,
    onLockLost: 'ignore',
  })
  async reserve(itemId: string, quantity: number): Promise<Order> {
    const lock = this.locks.current(lockKey('item', itemId))!;
    return this.reserveWithFence(itemId, quantity, lock.fence);
  }

  /**
   * The same work without any lock: read the stock, then write it back. Two
   * requests that read the same stock both sell the same units. For the
   * demonstration only.
   */
  async reserveWithoutLock(itemId: string, quantity: number): Promise<Order> {
    const item = await this.items.get(itemId);
    assertInStock(item, quantity);
    const expiresAt = await this.paymentDeadline();
    return this.db.transaction(async (tx) => {
      await this.items.setAvailable(tx, itemId, item.available - quantity);
      return this.insertOrder(tx, itemId, quantity, null, expiresAt);
    });
  }

  /**
   * Registers `fence` on the item, then reads the stock, checks it and writes
   * the new stock and the order, all in one transaction. If the caller's
   * lock was lost and a newer holder has registered its fence, the whole
   * reservation is refused ({@link StaleFenceError}) instead of selling
   * units that holder may have sold.
   */
  async reserveWithFence(
    itemId: string,
    quantity: number,
    fence: number,
  ): Promise<Order> {
    const expiresAt = await this.paymentDeadline();
    return this.db.transaction(async (tx) => {
      await this.items.claim(tx, itemId, fence);
      const item = await this.items.get(itemId, tx);
      assertInStock(item, quantity);
      await this.items.setAvailable(tx, itemId, item.available - quantity);
      return this.insertOrder(tx, itemId, quantity, fence, expiresAt);
    });
  }

  private paymentDeadline(): Promise<Date> {
    return this.orders.paymentDeadline(this.config.paymentWindowMs);
  }

  private insertOrder(
    tx: Queryable,
    itemId: string,
    quantity: number,
    fence: number | null,
    expiresAt: Date,
  ): Promise<Order> {
    return this.orders.insert(tx, {
      itemId,
      quantity,
      locked: fence !== null,
      fence,
      expiresAt,
    });
  }

  async get(orderId: string): Promise<Order> {
    return (await this.orders.get(orderId)).order;
  }

  /**
   * Charges the customer and marks the order paid. The caller holds
   * `order:<id>` (see the controller), so a double click or a second worker
   * waits or gets 409 instead of paying alongside.
   *
   * NOTE: the charge goes to a provider outside the database, which no
   * fencing token reaches. If this holder was paused past its lease, another
   * one may have paid the order meanwhile (the idempotency key made both
   * charges one: the order is paid, answered as such) or cancelled it (the
   * charge is refunded, and the answer says so).
   */
  async pay(orderId: string): Promise<Order> {
    const { order, windowClosed } = await this.orders.get(orderId);
    assertReserved(order, 'paid');
    if (windowClosed)
      throw new ConflictException(
        `Order "${orderId}" cannot be paid: its payment window closed at ${order.expiresAt.toISOString()}.`,
      );
    const item = await this.items.get(order.itemId);
    await this.payments.charge(orderId, item.priceCents * order.quantity);
    const paid = await this.db.transaction((tx) =>
      this.orders.transition(tx, orderId, 'reserved', 'paid'),
    );
    if (!paid) {
      const { order: now } = await this.orders.get(orderId);
      if (now.status === 'paid') return now;
      await this.payments.refund(orderId);
      this.logger.warn(
        `Order ${orderId} was ${now.status} while its payment ran; the charge was refunded.`,
      );
      throw new ConflictException(
        `Order "${orderId}" was ${now.status} while it was being paid; the charge was refunded.`,
      );
    }
    this.logger.log(`Order ${orderId} paid.`);
    return this.get(orderId);
  }

  /** Cancels a reservation and puts its units back on sale. The caller holds `order:<id>`. */
  async cancel(orderId: string): Promise<Order> {
    const { order } = await this.orders.get(orderId);
    // NOTE: a refund that failed once the order was released is retried here
    // (refunds are idempotent) before the answer "already cancelled".
    if (order.status === 'cancelled' || order.status === 'expired')
      await this.payments.refund(order.id);
    assertReserved(order, 'cancelled');
    await this.release(order, 'cancelled');
    return this.get(orderId);
  }

  /**
   * Expires one unpaid reservation whose window has closed. Skipped (returns
   * `undefined`) while another call holds the order, for instance a payment
   * under way; the next sweep looks again.
   */
  @DistributedLock('order:<orderId>', { onContention: 'skip' })
  async expire(orderId: string): Promise<boolean> {
    const { order, windowClosed } = await this.orders.get(orderId);
    if (order.status !== 'reserved' || !windowClosed) return false;
    await this.release(order, 'expired');
    return true;
  }

  /**
   * Refunds released (cancelled or expired) orders whose refund failed, at
   * most `limit` of them per call; returns how many were refunded. Refunds
   * are idempotent.
   * NOTE: each call goes on from where the last one stopped (by order id),
   * back to the start once it reached the end: refunds the provider refuses
   * for good, more of them than `limit`, would otherwise fill every sweep.
   */
  async retryRefunds(limit: number): Promise<number> {
    const ids = await this.orders.unrefunded(limit, this.refundsFrom);
    this.refundsFrom = ids.length < limit ? undefined : ids.at(-1);
    let refunded = 0;
    for (const id of ids) {
      // NOTE: a refund the provider refuses (this time or for good) must not
      // stop the others; the next sweep tries it again.
      try {
        await this.payments.refund(id);
        refunded++;
      } catch (error) {
        this.logger.warn(
          `The refund of order ${id} failed again: ${(error as Error).message}`,
        );
      }
    }
    return refunded;
  }

  /**
   * Puts an order's units back, under the item's lock and with its fence,
   * then refunds a charge the order may have had: a payment whose answer was
   * lost (a provider timeout, a crash) before it marked the order paid.
   */
  private async release(order: Order, status: OrderStatus): Promise<void> {
    let committed = false;
    try {
      await this.locks.using(
        lockKey('item', order.itemId),
        async (lock) => {
          await this.db.transaction(async (tx) => {
            if (
              !(await this.orders.transition(tx, order.id, 'reserved', status))
            )
              throw new ConflictException(
                `Order "${order.id}" changed meanwhile; nothing was done.`,
              );
            await this.items.claim(tx, order.itemId, lock.fence);
            const item = await this.items.get(order.itemId, tx);
            await this.items.setAvailable(
              tx,
              item.id,
              item.available + order.quantity,
            );
          });
          committed = true;
        },
        { waitTimeout: 5000 },
      );
    } catch (error) {
      // NOTE: the write carried the item lock's fence, so once it committed,
      // a lock lost meanwhile (or a release Redis did not answer) changes
      // nothing the database accepted: the order is cancelled or expired for
      // good, and nothing else will refund it, so the refund must still run.
      if (!committed) throw error;
      this.logger.warn(
        `Order ${order.id} was ${status}, but its item lock ended badly: ${(error as Error).message}`,
      );
    }
    await this.payments.refund(order.id);
  }
}

function assertInStock(item: Item, quantity: number): void {
  if (item.available < quantity)
    throw new ConflictException(
      `Sold out: ${item.available} unit(s) of "${item.id}" left, ${quantity} requested.`,
    );
}

function assertReserved(order: Order, wanted: OrderStatus): void {
  if (order.status === 'reserved') return;
  throw new ConflictException(
    order.status === wanted
      ? `Order "${order.id}" is already ${wanted}.`
      : `Order "${order.id}" is ${order.status}; only a reserved order can be ${wanted}.`,
  );
}
