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
  await work().finally(() => clearInterval(ticks));
  return longest;
}
