import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it); override with TIDINGS_TEST_CHROMIUM. */
export const CHROMIUM_PATH = process.env.TIDINGS_TEST_CHROMIUM ?? '/usr/bin/chromium';

const missing = !existsSync(CHROMIUM_PATH);
if (missing) {
  if (process.env.CI) {
    throw new Error(
      `Chromium is required in CI for the browser tests: nothing at ${CHROMIUM_PATH} ` +
        '(install it with `apt-get install -y chromium`, or set TIDINGS_TEST_CHROMIUM).',
    );
  }
  console.warn(
    `\n  Browser tests SKIPPED: no Chromium at ${CHROMIUM_PATH}.\n  Install it (apt-get install -y chromium) or set TIDINGS_TEST_CHROMIUM.\n`,
  );
}

/** True when Chromium is installed (always true in CI, where a missing browser fails the run). */
export const chromiumAvailable = !missing;

/** One headless Chromium for a test file. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ['--no-sandbox'] });
}

/**
 * A page server on its own port, i.e. another origin than Tidings: the customer's app that
 * embeds the element. Serves `html` at every path.
 */
export async function startPageServer(html: () => string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A TCP proxy in front of Tidings that can drop every connection through it and refuse new ones
 * for a while: a network outage as the browser sees it, with the server still running.
 */
export async function startDropProxy(targetUrl: string): Promise<{
  url: string;
  /** Ends every open connection at once, and refuses new ones until `restore()`. */
  cut(): void;
  /**
   * Silently stops forwarding on every open connection, closing none (a half-open connection:
   * a laptop that slept, a NAT that forgot it); new connections work.
   */
  freeze(): void;
  restore(): void;
  close(): Promise<void>;
}> {
  const { createServer: createTcpServer, connect } = await import('node:net');
  const target = new URL(targetUrl);
  const sockets = new Set<import('node:net').Socket>();
  let refusing = false;
  const pairs = new Set<{ frozen: boolean }>();
  const server = createTcpServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    const pair = { frozen: false };
    pairs.add(pair);
    client.on('data', (chunk) => pair.frozen || upstream.write(chunk));
    upstream.on('data', (chunk) => pair.frozen || client.write(chunk));
    client.on('close', () => pairs.delete(pair));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      refusing = false;
    },
    freeze() {
      for (const pair of pairs) pair.frozen = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A reverse proxy that serves Tidings under `prefix` (`/behind/inbox.js` → `/inbox.js`), streams
 * and WebSocket upgrades included, and answers 404 outside it: Tidings deployed under a path.
 */
export async function startPathProxy(
  targetUrl: string,
  prefix: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const { request: forward } = await import('node:http');
  const { connect } = await import('node:net');
  const target = new URL(targetUrl);
  const sockets = new Set<import('node:net').Socket>();
  const strip = (url = '') => (url.startsWith(`${prefix}/`) ? url.slice(prefix.length) : null);
  const server: Server = createServer((incoming, outgoing) => {
    const path = strip(incoming.url);
    if (path === null) {
      outgoing.writeHead(404).end();
      return;
    }
    const upstream = forward(
      { host: target.hostname, port: target.port, method: incoming.method, path, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on('error', () => outgoing.destroy());
    incoming.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (incoming, client, head) => {
    const path = strip(incoming.url);
    if (path === null) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname, () => {
      const lines = [`${incoming.method} ${path} HTTP/1.1`];
      for (let i = 0; i < incoming.rawHeaders.length; i += 2)
        lines.push(`${incoming.rawHeaders[i]}: ${incoming.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    for (const socket of [client, upstream]) socket.on('error', () => undefined);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
