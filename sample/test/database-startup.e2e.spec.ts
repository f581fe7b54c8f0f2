import net from 'node:net';
import { startInstance } from './apps.js';

/** A TCP server that accepts connections and never answers (a database host gone silent). */
async function silentServer(): Promise<{
  port: number;
  /** Whether every connection is closed, within a second. */
  allClosed: () => Promise<boolean>;
  close: () => Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    // NOTE: read (and drop) what comes, or the peer's close goes unseen.
    socket.resume();
  });
  await new Promise<void>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve()),
  );
  return {
    port: (server.address() as net.AddressInfo).port,
    allClosed: async () => {
      for (let i = 0; i < 100 && sockets.size > 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      return sockets.size === 0;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('the sample app on a database that never answers', () => {
  it('fails its startup with an error naming the database, and leaves no connection open', async () => {
    const silent = await silentServer();
    try {
      const failed = await startInstance({
        databaseUrl: `postgres://shop:hunter2@127.0.0.1:${silent.port}/shop`,
      }).then(
        () => undefined,
        (error: Error) => error,
      );
      expect(failed?.message).toMatch(
        new RegExp(
          `^PostgreSQL at 127\\.0\\.0\\.1:${silent.port}/shop: the schema could not be created: .*timeout`,
        ),
      );
      expect(failed?.message).not.toContain('hunter2');
      expect(await silent.allClosed()).toBe(true);
    } finally {
      await silent.close();
    }
  }, 30_000);
});
