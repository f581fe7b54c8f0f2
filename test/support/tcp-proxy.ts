import { connect, createServer, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of a Redis, to break the network between a
 * client and a live server: `pass` forwards both ways, `blackhole` drops what
 * the client sends (the server never sees it), `down` refuses connections.
 * `drop()` cuts every connection open now.
 */
export interface TcpProxy {
  readonly url: string;
  mode: 'pass' | 'blackhole' | 'down';
  drop(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(
  targetPort: number,
  host = '127.0.0.1',
): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const proxy: TcpProxy = {
    url: '',
    mode: 'pass',
    drop() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    close: () =>
      new Promise((resolve) => {
        proxy.drop();
        server.close(() => resolve());
      }),
  };
  const server = createServer((client) => {
    if (proxy.mode === 'down') return void client.destroy();
    const upstream = connect(targetPort, host);
    sockets.add(client).add(upstream);
    client.on('data', (data) => {
      if (proxy.mode === 'pass') upstream.write(data);
    });
    upstream.on('data', (data) => {
      if (proxy.mode === 'pass') client.write(data);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('close', end);
      socket.on('error', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  return Object.assign(proxy, { url: `redis://${host}:${port}` });
}
