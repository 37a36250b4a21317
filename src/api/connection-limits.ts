import { readFileSync } from 'node:fs';

/** Assumed when the limit cannot be read (not Linux): the usual default soft limit. */
const DEFAULT_OPEN_FILES = 1024;

/**
 * The process's soft limit on open files (RLIMIT_NOFILE), which every socket counts against, read
 * from /proc/self/limits. Node cannot ask for it directly, nor raise it.
 */
export function openFilesLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number {
  try {
    const line = read()
      .split('\n')
      .find((text) => text.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    if (soft === 'unlimited') return Number.MAX_SAFE_INTEGER;
    const value = Number(soft);
    return Number.isInteger(value) && value > 0 ? value : DEFAULT_OPEN_FILES;
  } catch {
    return DEFAULT_OPEN_FILES;
  }
}

/** How many connections and realtime streams this process takes in (API.md "Inbox"). */
export interface ConnectionLimits {
  /** Open HTTP connections (server.maxConnections): past it a new one is closed at once. */
  connections: number;
  /** Open inbox streams (SSE and WebSocket) across tenants. */
  streams: number;
}

/**
 * From the open-files limit: a fifth stays for the database, logs and provider connections, so a
 * flood of clients can never leave the process unable to open what it needs; streams, which stay
 * open for hours, take at most half, so API requests and health checks always find room.
 * `TIDINGS_MAX_STREAMS` (`maxStreams`) sets the streams' share instead, within the connections.
 */
export function connectionLimits(openFiles: number, maxStreams: number | null): ConnectionLimits {
  const connections = Math.max(64, Math.floor(openFiles * 0.8));
  const streams = Math.min(maxStreams ?? Math.floor(openFiles / 2), connections - 16);
  return { connections, streams: Math.max(1, streams) };
}
