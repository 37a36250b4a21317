import { describe, expect, it } from 'vitest';
import {
  askBulkWritesToWait,
  forgetRunningUrgentJobs,
  JobSignal,
  urgentWorkActive,
} from '../../../src/queue/signal.ts';
import { waitFor } from '../../helpers/wait.ts';

describe('JobSignal: urgent work on its way', () => {
  it('counts each urgent accept once until it says it arrived, across signals sharing the counter', () => {
    const api = new JobSignal();
    const thread = new JobSignal(api.incomingCounter);
    const first = api.expectUrgent();
    const second = api.expectUrgent();
    expect(thread.urgentIncoming()).toBe(true);
    first();
    first();
    expect(thread.urgentIncoming()).toBe(true);
    second();
    expect(thread.urgentIncoming()).toBe(false);
  });

  it('counts an accept that never says so as arrived after its time, so a hang cannot hold bulk work', async () => {
    const signal = new JobSignal();
    const arrived = signal.expectUrgent(30);
    expect(signal.urgentIncoming()).toBe(true);
    await waitFor(() => !signal.urgentIncoming(), 'the count to drop on its own', 2_000);
    // Saying it later does not take another one off.
    const other = signal.expectUrgent();
    arrived();
    expect(signal.urgentIncoming()).toBe(true);
    other();
  });

  it('tells any thread holding the counters whether urgent work is being accepted or run', () => {
    const api = new JobSignal();
    const worker = new JobSignal(api.incomingCounter);
    const counters = api.incomingCounter;
    expect(urgentWorkActive(counters)).toBe(false);
    const arrived = api.expectUrgent();
    expect(urgentWorkActive(counters)).toBe(true);
    worker.urgentJobsRunning(2);
    arrived();
    // Running jobs are not accepts: the bulk lane's reason to wait is gone, the checkpoint's is not.
    expect(worker.urgentIncoming()).toBe(false);
    expect(urgentWorkActive(counters)).toBe(true);
    worker.urgentJobsRunning(-2);
    expect(urgentWorkActive(counters)).toBe(false);
  });

  it("counts each worker thread's running jobs in its own slot, so a thread that died can be taken off", () => {
    const api = new JobSignal(JobSignal.createIncoming(2));
    const counters = api.incomingCounter;
    const threads = [0, 1].map((index) => new JobSignal(counters, JobSignal.runningSlot(index)));
    threads[0]!.urgentJobsRunning(1);
    threads[1]!.urgentJobsRunning(3);
    // Thread 1 died with its jobs counted: only its slot goes.
    forgetRunningUrgentJobs(counters, JobSignal.runningSlot(1));
    expect(urgentWorkActive(counters)).toBe(true);
    threads[0]!.urgentJobsRunning(-1);
    expect(urgentWorkActive(counters)).toBe(false);
  });

  it('asks the bulk lane of every thread to wait for the log, which is not urgent work, and wakes it when it may go', async () => {
    const api = new JobSignal(JobSignal.createIncoming(1));
    const counters = api.incomingCounter;
    const thread = new JobSignal(counters, JobSignal.runningSlot(0));
    askBulkWritesToWait(counters, true);
    expect(thread.bulkWritesWait()).toBe(true);
    expect(urgentWorkActive(counters)).toBe(false);
    // The thread's running jobs have a slot of their own.
    thread.urgentJobsRunning(1);
    expect(thread.bulkWritesWait()).toBe(true);
    thread.urgentJobsRunning(-1);
    const started = performance.now();
    const mayGo = thread.bulkWritesMayGo(10_000);
    askBulkWritesToWait(counters, false);
    await mayGo;
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(thread.bulkWritesWait()).toBe(false);
    // Not asked: answers at once.
    await thread.bulkWritesMayGo(10_000);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
