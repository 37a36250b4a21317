import { Worker as Thread } from 'node:worker_threads';
import type { MjmlResult } from './mjml.ts';
import type { FromMjmlThread, ToMjmlThread } from './mjml-thread.ts';

const ENTRY = new URL('./mjml-thread-entry.mjs', import.meta.url);

/**
 * How long one compile may run on the thread, counted from when the thread starts it (not while it
 * waits its turn, nor while a fresh thread loads MJML). Real templates compile in milliseconds:
 * a 100 KB layout of 1,300 plain sections in under 1 s, the largest a body may hold. What takes
 * longer is CSS inlining gone quadratic (thousands of `mj-style inline` rules × thousands of
 * elements took 24 s), which only grows from there; 2 s leaves real templates room on a busy host
 * while keeping what one tenant can take from the others' compiles small.
 */
export const COMPILE_TIME_LIMIT_MS = 2_000;
/**
 * How long a compile may wait for its turn (behind other compiles, and a fresh thread loading
 * MJML, which takes a second or more) before it answers `busy`: a compile stuck behind a run of
 * too-slow templates fails fast and may be retried, rather than waiting on each of them.
 */
export const WAIT_LIMIT_MS = 10_000;
/** Compiles waiting beyond this many answer `busy` at once (each holds its source, up to 1 MB). */
export const MAX_WAITING = 64;
/**
 * How long a fresh thread may take to load MJML (about a second; more on a loaded machine): one
 * that hangs while loading is terminated, what waits for it fails, and the next compile starts
 * another, rather than every compile waiting on it for good.
 */
const START_LIMIT_MS = 60_000;
/**
 * The thread's heap: well above what compiling the largest real template needs (about 120 MB
 * with MJML loaded); a template that needs more fails alone, and the thread is started again.
 */
const HEAP_LIMIT_MB = 512;

export interface MjmlCompilerOptions {
  timeLimitMs: number;
  waitLimitMs: number;
  maxWaiting: number;
  /** How long a fresh thread may take to say it is ready (START_LIMIT_MS). */
  startLimitMs: number;
  /** The thread's entry and data (mjml-thread-entry.mjs; tests give a stand-in). */
  entry: URL;
  workerData?: unknown;
}

interface Job {
  id: number;
  source: string;
  resolve(result: MjmlResult): void;
  reject(error: Error): void;
  /** Fails the job `busy` if it is still waiting. */
  waitTimer: NodeJS.Timeout;
  /** Fails the job for time once the thread has it. */
  runTimer?: NodeJS.Timeout;
}

interface ThreadState {
  thread: Thread;
  ready: boolean;
  error?: Error;
}

/**
 * Compiles MJML on a thread of its own, one source at a time, so a template that is expensive to
 * compile never stalls the API thread (every tenant's requests). The thread starts on the first
 * compile (loading MJML takes seconds; start-up stays fast). A compile running longer than the
 * time limit is failed and its thread terminated (the next compile starts a fresh one); a thread
 * that dies fails only the compile it was running. Too many waiting compiles, or one waiting too
 * long, answer `{ ok: false, cause: 'busy' }`: the server is overloaded, the template is not at
 * fault. An idle thread does not keep the process alive.
 *
 * @example
 * const compiler = new MjmlCompiler();
 * const result = await compiler.compile('<mjml><mj-body></mj-body></mjml>');
 * if (result.ok) save(result.html);
 */
export class MjmlCompiler {
  private readonly options: MjmlCompilerOptions;
  private readonly waiting: Job[] = [];
  private running: Job | null = null;
  private current: ThreadState | null = null;
  private nextId = 1;

  constructor(options: Partial<MjmlCompilerOptions> = {}) {
    this.options = {
      timeLimitMs: COMPILE_TIME_LIMIT_MS,
      waitLimitMs: WAIT_LIMIT_MS,
      maxWaiting: MAX_WAITING,
      startLimitMs: START_LIMIT_MS,
      entry: ENTRY,
      ...options,
    };
  }

  /** Compiles `source`; rejects only when the thread cannot start at all (MJML does not load). */
  compile(source: string): Promise<MjmlResult> {
    if (this.waiting.length >= this.options.maxWaiting) return Promise.resolve(busy());
    return new Promise((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        source,
        resolve,
        reject,
        waitTimer: setTimeout(() => {
          const at = this.waiting.indexOf(job);
          if (at < 0) return;
          this.waiting.splice(at, 1);
          resolve(busy());
          this.pump();
        }, this.options.waitLimitMs),
      };
      this.waiting.push(job);
      this.pump();
    });
  }

  /** Stops the thread; compiles not finished yet answer `busy`. */
  async close(): Promise<void> {
    const state = this.current;
    this.current = null;
    for (const job of [...(this.running ? [this.running] : []), ...this.waiting.splice(0)]) {
      clearTimeout(job.waitTimer);
      clearTimeout(job.runTimer);
      job.resolve(busy());
    }
    this.running = null;
    await state?.thread.terminate();
  }

  /** Hands the next waiting compile to the thread (starting one if there is none) when it is free. */
  private pump(): void {
    if (this.running === null && this.waiting.length > 0) {
      if (this.current === null) {
        try {
          this.current = this.start();
        } catch (error) {
          this.failWaiting(`the MJML compiler thread could not start: ${(error as Error).message}`);
          return;
        }
      }
      if (this.current.ready) {
        const job = this.waiting.shift()!;
        clearTimeout(job.waitTimer);
        this.running = job;
        job.runTimer = setTimeout(() => this.tooSlow(job), this.options.timeLimitMs);
        this.current.thread.postMessage({
          type: 'compile',
          id: job.id,
          source: job.source,
        } satisfies ToMjmlThread);
      }
    }
    // The thread keeps the process alive only while someone waits on it.
    const busyNow = this.running !== null || this.waiting.length > 0;
    if (busyNow) this.current?.thread.ref();
    else this.current?.thread.unref();
  }

  private start(): ThreadState {
    const thread = new Thread(this.options.entry, {
      workerData: this.options.workerData,
      resourceLimits: { maxOldGenerationSizeMb: HEAP_LIMIT_MB },
    });
    const state: ThreadState = { thread, ready: false };
    const startTimer = setTimeout(() => {
      state.error = new Error(`it did not start within ${this.options.startLimitMs / 1000} s`);
      void thread.terminate();
    }, this.options.startLimitMs);
    startTimer.unref();
    thread.on('message', (message: FromMjmlThread) => {
      if (state !== this.current) return;
      if (message.type === 'ready') {
        clearTimeout(startTimer);
        state.ready = true;
      } else if (message.id === this.running?.id) {
        const job = this.running;
        clearTimeout(job.runTimer);
        this.running = null;
        job.resolve(message.result);
      }
      this.pump();
    });
    thread.on('error', (error) => {
      state.error = error;
    });
    thread.on('exit', (code) => {
      clearTimeout(startTimer);
      this.exited(state, code);
    });
    return state;
  }

  /** Fails every waiting compile: the thread could not start (a server fault, not the template's). */
  private failWaiting(why: string): void {
    for (const job of this.waiting.splice(0)) {
      clearTimeout(job.waitTimer);
      job.reject(new Error(why));
    }
  }

  /** The running compile took too long: it fails alone, its thread is terminated. */
  private tooSlow(job: Job): void {
    if (this.running !== job) return;
    this.running = null;
    const state = this.current;
    this.current = null;
    void state?.thread.terminate();
    const seconds = this.options.timeLimitMs / 1000;
    job.resolve({
      ok: false,
      cause: 'too_slow',
      message:
        `took longer than ${seconds} s to compile: the template is too expensive ` +
        '(e.g. many inlined mj-style rules × many elements); simplify it',
    });
    this.pump();
  }

  /** A thread this compiler did not stop exited: it fails what it was running, or, at start-up, what waits. */
  private exited(state: ThreadState, code: number): void {
    if (state !== this.current) return;
    this.current = null;
    const why = state.error?.message ?? `exit code ${code}`;
    if (!state.ready) {
      this.failWaiting(`the MJML compiler thread could not start: ${why}`);
      return;
    }
    const job = this.running;
    this.running = null;
    if (job) {
      clearTimeout(job.runTimer);
      const outOfMemory = (state.error as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      job.resolve({
        ok: false,
        message: outOfMemory
          ? 'needs more memory to compile than a template may use; simplify it'
          : `could not be compiled (the compiler stopped: ${why})`,
      });
    }
    this.pump();
  }
}

function busy(): MjmlResult {
  return {
    ok: false,
    cause: 'busy',
    message: 'MJML compilation is busy with other templates; retry shortly',
  };
}
