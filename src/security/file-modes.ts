import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

/**
 * Files Tidings writes under its data directory (the SQLite database and its -wal/-shm, the
 * generated API key, the master secret file) are readable by their owner only, folders likewise.
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Whatever this process creates from now on is private to its user: a umask covers files made
 * by code that takes no mode (SQLite's own -wal and -shm, a library's temp file). Worker threads
 * share the process's umask and may not set it.
 */
export function restrictNewFiles(): void {
  if (isMainThread) process.umask(0o077);
}

/** Creates `dir` (and missing parents) private; an existing folder is left as its owner set it. */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** Makes files an earlier version (or another umask) left readable by others private; missing ones are skipped. */
export function restrictExistingFiles(files: readonly string[]): void {
  for (const file of files) {
    try {
      chmodSync(file, PRIVATE_FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** Creates `file` empty and private unless it exists (SQLite then gives its -wal and -shm the same mode). */
export function createPrivateFile(file: string): void {
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  restrictExistingFiles([file]);
}
