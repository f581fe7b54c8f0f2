import {
  ConflictException,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import {
  hasSqlState,
  InjectDatabase,
  UNIQUE_VIOLATION,
  type Database,
  type Queryable,
} from '../database/database.js';
import type { Item, ItemReport } from './item.js';
import { StaleFenceError } from './stale-fence.error.js';

interface ItemRow {
  id: string;
  name: string;
  price_cents: number;
  stock: number;
  available: number;
  last_fence: string | number;
  sold?: number;
}

const COLUMNS =
  'i.id, i.name, i.price_cents, i.stock, i.available, i.last_fence';
const REPORT = `
  SELECT ${COLUMNS},
         COALESCE(SUM(o.quantity) FILTER (WHERE o.status IN ('reserved', 'paid')), 0)::int AS sold
  FROM items i LEFT JOIN orders o ON o.item_id = i.id`;

/** SQL for items. Writes to `available` made under a lock carry its fence. */
@Injectable()
export class ItemsRepository {
  constructor(@InjectDatabase() private readonly db: Database) {}

  /** The item, or a 404. */
  async get(id: string, q: Queryable = this.db): Promise<Item> {
    const { rows } = await q.query<ItemRow>(
      `SELECT ${COLUMNS} FROM items i WHERE i.id = $1`,
      [id],
    );
    if (!rows[0]) throw unknownItem(id);
    return toItem(rows[0]);
  }

  async report(id: string): Promise<ItemReport> {
    const { rows } = await this.db.query<ItemRow>(
      `${REPORT} WHERE i.id = $1 GROUP BY i.id`,
      [id],
    );
    if (!rows[0]) throw unknownItem(id);
    return toReport(rows[0]);
  }

  async reports(): Promise<ItemReport[]> {
    const { rows } = await this.db.query<ItemRow>(
      `${REPORT} GROUP BY i.id ORDER BY i.id`,
    );
    return rows.map(toReport);
  }

  async create(item: Omit<Item, 'available' | 'lastFence'>): Promise<Item> {
    try {
      await this.db.query(
        'INSERT INTO items (id, name, price_cents, stock, available) VALUES ($1, $2, $3, $4, $4)',
        [item.id, item.name, item.priceCents, item.stock],
      );
    } catch (error) {
      if (hasSqlState(error, UNIQUE_VIOLATION))
        throw new ConflictException(`Item "${item.id}" already exists.`);
      throw error;
    }
    return this.get(item.id);
  }

  /**
   * Registers `fence` as the newest lock holder to write the item, before
   * the caller reads it in the same transaction: a holder whose lock was
   * lost and taken over (a smaller fence) is refused ({@link StaleFenceError})
   * from then on, even if it read the row before. NOTE: the update also locks
   * the row until the transaction ends, so a reader after this one waits for
   * its write instead of reading stock about to change.
   */
  async claim(tx: Queryable, id: string, fence: number): Promise<void> {
    const { rowCount } = await tx.query(
      'UPDATE items SET last_fence = $2 WHERE id = $1 AND last_fence <= $2',
      [id, fence],
    );
    if (rowCount === 0) {
      const { lastFence } = await this.get(id, tx);
      throw new StaleFenceError(id, fence, lastFence);
    }
  }

  /** Sets the units available (after {@link claim}, or unprotected in the unlocked demonstration). */
  async setAvailable(
    tx: Queryable,
    id: string,
    available: number,
  ): Promise<void> {
    await tx.query('UPDATE items SET available = $2 WHERE id = $1', [
      id,
      available,
    ]);
  }
}

function unknownItem(id: string): NotFoundException {
  return new NotFoundException(`Item "${id}" does not exist.`);
}

function toItem(row: ItemRow): Item {
  return {
    id: row.id,
    name: row.name,
    priceCents: row.price_cents,
    stock: row.stock,
    available: row.available,
    // NOTE: fences are Redis server microseconds (about 2^51), within the
    // safe integers; pg returns bigint columns as strings.
    lastFence: Number(row.last_fence),
  };
}

function toReport(row: ItemRow): ItemReport {
  const sold = row.sold ?? 0;
  return {
    ...toItem(row),
    sold,
    // NOTE: units sold that the stock does not account for: beyond the
    // stock, or sold twice (a lost update leaves `available` too high).
    oversold: Math.max(0, sold + row.available - row.stock),
  };
}
