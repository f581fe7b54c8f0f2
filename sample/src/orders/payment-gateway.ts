import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { InjectDatabase, type Database } from '../database/database.js';

/**
 * Stands in for an external payment provider: a charge is a row in
 * `payments`, the provider's ledger, written after a short network delay.
 * Like a real provider, it takes an idempotency key: a charge sent again
 * with the same key (a retry, or a second worker that got the order's lock
 * after the first one lost it) is the same charge, not a new one. The order
 * lock keeps two payments of an order from running at once; the key is what
 * still holds when a holder was paused past its lease, since the provider is
 * outside the database and cannot check a fencing token.
 */
@Injectable()
export class PaymentGateway {
  static readonly LATENCY_MS = 50;

  constructor(@InjectDatabase() private readonly db: Database) {}

  /** Charges once per order: the order id is the idempotency key. */
  async charge(orderId: string, amountCents: number): Promise<void> {
    await sleep(PaymentGateway.LATENCY_MS);
    await this.db.query(
      `INSERT INTO payments (order_id, amount_cents, idempotency_key)
       VALUES ($1, $2, $3) ON CONFLICT (idempotency_key) DO NOTHING`,
      [orderId, amountCents, `charge:${orderId}`],
    );
  }

  /**
   * Refunds an order's charge, once; nothing (and no round trip to the
   * provider) when the order was never charged.
   */
  async refund(orderId: string): Promise<void> {
    const { rows } = await this.db.query(
      'SELECT 1 FROM payments WHERE idempotency_key = $1',
      [`charge:${orderId}`],
    );
    if (rows.length === 0) return;
    await sleep(PaymentGateway.LATENCY_MS);
    await this.db.query(
      `INSERT INTO payments (order_id, amount_cents, idempotency_key)
       SELECT order_id, -amount_cents, $1 FROM payments WHERE idempotency_key = $2
       ON CONFLICT (idempotency_key) DO NOTHING`,
      [`refund:${orderId}`, `charge:${orderId}`],
    );
  }

  /** How many times an order was charged (refunds not counted). */
  async charges(orderId: string): Promise<number> {
    const { rows } = await this.db.query<{ count: number }>(
      'SELECT count(*)::int AS count FROM payments WHERE order_id = $1 AND amount_cents > 0',
      [orderId],
    );
    return rows[0].count;
  }

  /** What the customer paid in the end for an order: charges less refunds. */
  async balance(orderId: string): Promise<number> {
    const { rows } = await this.db.query<{ total: number }>(
      'SELECT coalesce(sum(amount_cents), 0)::int AS total FROM payments WHERE order_id = $1',
      [orderId],
    );
    return rows[0].total;
  }
}
