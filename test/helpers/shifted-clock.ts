/**
 * Moves this process's wall clock (`Date.now()`, `new Date()`) forward by `offsetMs` while real
 * time keeps running at its own pace: a test whose subject runs in-process can reach a wall-clock
 * instant (a whole minute, say) without waiting for it. Timers are untouched, so everything that
 * sleeps "until" an instant computed from `Date.now()` still wakes at the right moment. Answers the
 * function that puts the real clock back.
 *
 * Only forward: a clock that jumps ahead is what a paused process sees anyway, one that goes back
 * is not something Tidings promises to handle.
 */
export function shiftClockForward(offsetMs: number): () => void {
  if (!(offsetMs >= 0)) throw new Error(`the clock only moves forward (asked for ${offsetMs} ms)`);
  const RealDate = globalThis.Date;
  const realNow = RealDate.now.bind(RealDate);
  class ShiftedDate extends RealDate {
    // biome-ignore lint/suspicious/noExplicitAny: Date's constructor overloads, passed through as they came
    constructor(...args: any[]) {
      if (args.length === 0) super(realNow() + offsetMs);
      else super(...(args as [string]));
    }
    static override now(): number {
      return realNow() + offsetMs;
    }
    // Dates made before the shift (or by code holding the real Date) are still Dates.
    static override [Symbol.hasInstance](value: unknown): boolean {
      return value instanceof RealDate;
    }
  }
  globalThis.Date = ShiftedDate as DateConstructor;
  return () => {
    globalThis.Date = RealDate;
  };
}
