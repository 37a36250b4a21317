import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * The process id space this process lives in: its host name, and on Linux its PID namespace
 * (the inode of /proc/self/ns/pid). Two containers can share a host name (Docker's
 * `--network host`, Kubernetes' `hostNetwork`) while each numbers its processes from 1: a pid is
 * only a process of ours to look at when both match. Without the namespace, a worker starting in
 * one container found the live worker of the other "dead" (no such pid here), took its leases
 * and sent its messages a second time.
 */
function localSpace(): string {
  try {
    const inode = /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
    if (inode) return `${hostname()}+pidns${inode}`;
  } catch {
    // No /proc (macOS, Windows): no PID namespaces to tell apart either.
  }
  return hostname();
}

const LOCAL_SPACE = localSpace();

/**
 * A lease owner name that lets a restarted process in the same id space recognise its dead
 * predecessors: `space:pid:random`, unique per process.
 *
 * @example
 * ownerName(); // 'web-1+pidns4026531836:4242:9f86d081'
 */
export function ownerName(pid: number = process.pid): string {
  return `${LOCAL_SPACE}:${pid}:${randomBytes(4).toString('hex')}`;
}

/**
 * Whether `owner` names a process of this id space that no longer runs. Anything else (another
 * host or container, a name from an older version, a pid now taken by another process) is left
 * to its lease running out.
 */
export function ownerIsDeadLocalProcess(owner: string): boolean {
  const [space, pidText] = owner.split(':');
  const pid = Number(pidText);
  if (space !== LOCAL_SPACE || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
