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

/**
 * Creates `file` empty and private unless it exists (SQLite then gives its -wal and -shm the same
 * mode). An existing file is only chmod-ed, never opened: closing any descriptor of a file drops
 * every POSIX lock the process holds on it, so opening the database here after a SQLite
 * connection of this process (another thread's) took its shared lock would silently release
 * that lock, and other processes would no longer see the database as in use (`tidings restore`
 * would replace it, a closing connection would think itself the last one).
 */
export function createPrivateFile(file: string): void {
  try {
    closeSync(openSync(file, 'wx', PRIVATE_FILE_MODE));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  restrictExistingFiles([file]);
}
