import { Injectable, NotFoundException } from '@nestjs/common';
import {
  InjectDatabase,
  type Database,
  type Queryable,
} from '../database/database.js';
import type { Order, OrderStatus } from './order.js';

interface OrderRow {
  id: string;
  item_id: string;
  quantity: number;
  status: OrderStatus;
  locked: boolean;
  fence: string | number | null;
  created_at: Date;
  expires_at: Date;
  paid_at: Date | null;
  expired?: boolean;
}

const COLUMNS =
  'id, item_id, quantity, status, locked, fence, created_at, expires_at, paid_at, expires_at <= now() AS expired';

/** An order and whether its payment window has closed (by the database clock). */
export interface OrderState {
  readonly order: Order;
  readonly windowClosed: boolean;
}

@Injectable()
export class OrdersRepository {
  constructor(@InjectDatabase() private readonly db: Database) {}

  /** The order, or a 404. */
  async get(id: string, q: Queryable = this.db): Promise<OrderState> {
    const { rows } = await q.query<OrderRow>(
      `SELECT ${COLUMNS} FROM orders WHERE id = $1`,
      [id],
    );
    if (!rows[0]) throw new NotFoundException(`Order "${id}" does not exist.`);
    return { order: toOrder(rows[0]), windowClosed: rows[0].expired === true };
  }

  /**
   * The end of a payment window starting now, by the database clock: every
   * instance and the expiry job then agree on it, whatever their own clocks.
   */
  async paymentDeadline(windowMs: number): Promise<Date> {
    const { rows } = await this.db.query<{ deadline: Date }>(
      "SELECT now() + $1::int * interval '1 millisecond' AS deadline",
      [windowMs],
    );
    return rows[0].deadline;
  }

  async insert(
    tx: Queryable,
    order: Pick<
      Order,
      'itemId' | 'quantity' | 'locked' | 'fence' | 'expiresAt'
    >,
  ): Promise<Order> {
    const { rows } = await tx.query<OrderRow>(
      `INSERT INTO orders (item_id, quantity, locked, fence, expires_at)
       VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
      [
        order.itemId,
        order.quantity,
        order.locked,
        order.fence,
        order.expiresAt,
      ],
    );
    return toOrder(rows[0]);
  }

  /** Moves an order from one status to another; false if it was not in `from` any more. */
  async transition(
    tx: Queryable,
    id: string,
    from: OrderStatus,
    to: OrderStatus,
  ): Promise<boolean> {
    const { rowCount } = await tx.query(
      `UPDATE orders SET status = $3, paid_at = CASE WHEN $3 = 'paid' THEN now() ELSE paid_at END
       WHERE id = $1 AND status = $2`,
      [id, from, to],
    );
    return rowCount === 1;
  }

  /**
   * Ids of cancelled or expired orders that were charged and have no refund
   * yet (a refund that failed after the order was released), in id order,
   * from after `after` when given.
   */
  async unrefunded(limit: number, after?: string): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT o.id FROM orders o
       JOIN payments c ON c.idempotency_key = 'charge:' || o.id
       WHERE o.status IN ('cancelled', 'expired')
         AND NOT EXISTS (SELECT 1 FROM payments r WHERE r.idempotency_key = 'refund:' || o.id)
         AND ($2::uuid IS NULL OR o.id > $2::uuid)
       ORDER BY o.id
       LIMIT $1`,
      [limit, after ?? null],
    );
    return rows.map((row) => row.id);
  }

  /** Ids of reservations whose payment window has closed, oldest first. */
  async expiredReservations(limit: number): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT id FROM orders WHERE status = 'reserved' AND expires_at <= now()
       ORDER BY expires_at LIMIT $1`,
      [limit],
    );
    return rows.map((row) => row.id);
  }
}

function toOrder(row: OrderRow): Order {
  return {
    id: row.id,
    itemId: row.item_id,
    quantity: row.quantity,
    status: row.status,
    locked: row.locked,
    fence: row.fence === null ? null : Number(row.fence),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    paidAt: row.paid_at,
  };
}
