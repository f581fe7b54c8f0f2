import type { PGlite } from '@electric-sql/pglite';
import { createServer, type Server, type Socket } from 'node:net';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** Message types that end a batch: Sync (extended protocol), Query (simple), Flush. */
const BATCH_END = new Set(['S', 'Q', 'H']);

interface Connection {
  readonly socket: Socket;
  buffer: Buffer;
  pending: Buffer[];
  started: boolean;
}

interface Job {
  readonly connection: Connection;
  readonly batch?: Buffer;
}

/**
 * Serves one embedded PGlite database to several processes over the
 * PostgreSQL wire protocol, so that the demo's app instances share one
 * database on a machine without a PostgreSQL server.
 *
 * PGlite has a single session, so connections take turns. A turn is a whole
 * batch (everything up to a Sync or a simple Query): interleaving the single
 * messages of two clients' extended-protocol queries (Parse, Bind, Execute)
 * would bind one client's parameters to the other's statement. While a
 * connection has a transaction open, only that connection runs, which gives
 * every transaction the isolation of a serial schedule.
 *
 * NOTE: @electric-sql/pglite-socket 0.2.17 multiplexes per message rather than
 * per batch, and fails under concurrent parameterized queries ("unnamed
 * prepared statement does not exist"); hence this small server.
 */
export class PgliteWireServer {
  private readonly queue: Job[] = [];
  private running = false;
  private owner?: Connection;
  private readonly connections = new Set<Connection>();

  private constructor(
    private readonly db: PGlite,
    private readonly server: Server,
    /** `postgres://` URL of this server, for `DATABASE_URL`. */
    readonly url: string,
  ) {}

  /** Listens on a loopback port (a free one unless `port` is given). */
  static async start(db: PGlite, port = 0): Promise<PgliteWireServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (typeof address !== 'object' || !address)
      throw new Error('The PGlite wire server has no address.');
    const instance = new PgliteWireServer(
      db,
      server,
      `postgres://postgres@127.0.0.1:${address.port}/postgres`,
    );
    server.on('connection', (socket) => instance.accept(socket));
    return instance;
  }

  /** Closes every connection and stops listening (the database stays open). */
  async stop(): Promise<void> {
    for (const connection of this.connections) connection.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const connection: Connection = {
      socket,
      buffer: Buffer.alloc(0),
      pending: [],
      started: false,
    };
    this.connections.add(connection);
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.receive(connection, chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.disconnect(connection));
  }

  private receive(connection: Connection, chunk: Buffer): void {
    connection.buffer = Buffer.concat([connection.buffer, chunk]);
    for (;;) {
      const message = this.nextMessage(connection);
      if (!message) return;
      if (!connection.started) {
        this.startup(connection, message);
        continue;
      }
      const type = String.fromCharCode(message[0]);
      if (type === 'X') {
        connection.socket.end();
        return;
      }
      connection.pending.push(message);
      if (BATCH_END.has(type)) {
        this.enqueue({ connection, batch: Buffer.concat(connection.pending) });
        connection.pending = [];
      }
    }
  }

  /** The next complete message, or `undefined` until more bytes arrive. */
  private nextMessage(connection: Connection): Buffer | undefined {
    const { buffer } = connection;
    // The startup phase has untyped messages: a length, then a code.
    const headerLength = connection.started ? 5 : 4;
    if (buffer.length < headerLength) return undefined;
    const length = connection.started
      ? 1 + buffer.readInt32BE(1)
      : buffer.readInt32BE(0);
    if (buffer.length < length) return undefined;
    connection.buffer = buffer.subarray(length);
    return buffer.subarray(0, length);
  }

  private startup(connection: Connection, message: Buffer): void {
    const code = message.length >= 8 ? message.readInt32BE(4) : 0;
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      connection.socket.write('N'); // no encryption on loopback
      return;
    }
    if (code === CANCEL_REQUEST) {
      connection.socket.end();
      return;
    }
    connection.started = true;
    this.enqueue({ connection, batch: message });
  }

  private disconnect(connection: Connection): void {
    this.connections.delete(connection);
    for (let i = this.queue.length - 1; i >= 0; i--)
      if (this.queue[i].connection === connection) this.queue.splice(i, 1);
    // A job without a batch rolls back what the connection left open.
    if (this.owner === connection) this.enqueue({ connection });
  }

  private enqueue(job: Job): void {
    this.queue.push(job);
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        const index = this.owner
          ? this.queue.findIndex((job) => job.connection === this.owner)
          : 0;
        if (index < 0 || index >= this.queue.length) return;
        const [job] = this.queue.splice(index, 1);
        await this.run(job);
        this.owner = this.db.isInTransaction() ? job.connection : undefined;
      }
    } finally {
      this.running = false;
    }
  }

  private async run({ connection, batch }: Job): Promise<void> {
    const { socket } = connection;
    try {
      if (!batch) {
        await this.db.exec('ROLLBACK');
        return;
      }
      await this.db.runExclusive(() =>
        this.db.execProtocolRawStream(new Uint8Array(batch), {
          onRawData: (data) => {
            if (socket.writable) socket.write(data);
          },
        }),
      );
    } catch {
      // NOTE: protocol-level errors are already in the answer PGlite wrote;
      // anything else leaves this connection unusable.
      socket.destroy();
    }
  }
}
