import type { Database } from './database.js';

/**
 * The tables. `items.last_fence` is the highest fencing token that wrote the
 * row: a write that carries an older one comes from a lock holder that lost
 * its lock (paused past its lease) and is refused. `payments` is the payment
 * provider's ledger; its idempotency key makes a charge sent twice one charge.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS items (
  id          text    PRIMARY KEY,
  name        text    NOT NULL,
  price_cents integer NOT NULL CHECK (price_cents >= 0),
  stock       integer NOT NULL CHECK (stock >= 0),
  available   integer NOT NULL CHECK (available >= 0),
  last_fence  bigint  NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS orders (
  id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  item_id    text        NOT NULL REFERENCES items (id),
  quantity   integer     NOT NULL CHECK (quantity > 0),
  status     text        NOT NULL DEFAULT 'reserved'
                         CHECK (status IN ('reserved', 'paid', 'cancelled', 'expired')),
  locked     boolean     NOT NULL,
  fence      bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  paid_at    timestamptz
);
CREATE INDEX IF NOT EXISTS orders_reserved_by_expiry
  ON orders (expires_at) WHERE status = 'reserved';
CREATE TABLE IF NOT EXISTS payments (
  id           bigserial   PRIMARY KEY,
  order_id     uuid        NOT NULL REFERENCES orders (id),
  amount_cents integer     NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE payments ADD COLUMN IF NOT EXISTS idempotency_key text UNIQUE;
`;

/** Items for sale on a fresh database. */
const SEED = `
INSERT INTO items (id, name, price_cents, stock, available) VALUES
  ('spring-concert', 'Spring concert, standing', 4500, 100, 100),
  ('jazz-night', 'Jazz night, front row', 8000, 10, 10)
ON CONFLICT (id) DO NOTHING;
`;

/**
 * Creates the tables and seeds the items if they are missing. Several
 * instances may start at once: a transaction-scoped advisory lock of the
 * database itself runs them one after the other.
 */
export async function migrate(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(4242)');
    for (const statement of `${SCHEMA}${SEED}`.split(';')) {
      if (statement.trim()) await tx.query(statement);
    }
  });
}
