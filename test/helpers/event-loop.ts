import { spawn } from 'node:child_process';
/**
 * The longest gap between 5 ms ticks of this process's event loop (a test server's too, when it runs
 * in this process) while `work` runs: how long the loop was held by synchronous work.
 */
export async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const ticks = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  await work().finally(() => {
    clearInterval(ticks);
    // Work that never gave the loop back got no tick at all: its whole length is the stall.
    longest = Math.max(longest, performance.now() - last);
  });
  return longest;
}

/**
 * How many times `work` gave the event loop back (turns of setImmediate while it ran): 0 for
 * work done in one synchronous block, however fast or slow the machine. A bound on turns holds on
 * a loaded machine where a bound on milliseconds does not.
 */
export async function loopTurns(work: () => Promise<unknown>): Promise<number> {
  let turns = 0;
  let running = true;
  const turn = () => {
    if (!running) return;
    turns++;
    setImmediate(turn);
  };
  setImmediate(turn);
  await work().finally(() => {
    running = false;
  });
  return turns;
}

/**
 * GETs `url` whole from another process (as a client elsewhere would, so its reading costs this
 * process's event loop nothing), answering "<status> <bytes>".
 */
export function readElsewhere(url: string, authorization: string): Promise<string> {
  const script = `const r = await fetch(process.argv[1], { headers: { authorization: process.argv[2] } });
    let n = 0; for await (const c of r.body) n += c.length; console.log(r.status, n);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, url, authorization], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
}
