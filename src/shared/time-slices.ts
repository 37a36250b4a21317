/**
 * Gives the event loop back once `sliceMs` of synchronous work have run since it last did, so a
 * long check on the API thread (one workflow's templates, parsed one after another) lets other
 * callers' requests run in between instead of holding them until it ends.
 *
 * @example
 * const slices = new TimeSlices();
 * for (const field of fields) {
 *   await slices.yieldIfDue();
 *   check(field);
 * }
 */
export class TimeSlices {
  private since = performance.now();

  constructor(private readonly sliceMs = 10) {}

  async yieldIfDue(): Promise<void> {
    if (performance.now() - this.since < this.sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.since = performance.now();
  }
}
