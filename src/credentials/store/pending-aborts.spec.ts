import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { ProjectNotFoundError } from '../errors.js';
import { PendingAborts } from './pending-aborts.js';

/** An abort function that fails while `down` is true, and records its calls. */
function server() {
  const state = { down: true, calls: 0, noSuchUpload: false };
  const abort = async () => {
    state.calls++;
    if (state.noSuchUpload) throw Object.assign(new Error('gone'), { name: 'NoSuchUpload' });
    if (state.down)
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  };
  return { state, abort };
}

describe('PendingAborts', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('aborts at once when the server takes it, keeping nothing', async () => {
    const { state, abort } = server();
    state.down = false;
    const pending = new PendingAborts(abort);
    await pending.abortOrKeep('b', 'k', 'u1');
    expect(pending.size).toBe(0);
    expect(state.calls).toBe(1);
  });

  it('keeps an abort the server cannot take, and retries it with backoff until it can', async () => {
    const { state, abort } = server();
    const pending = new PendingAborts(abort, { firstDelayMs: 1_000, maxDelayMs: 8_000 });
    await pending.abortOrKeep('b', 'k', 'u1');
    expect(pending.size).toBe(1);
    await jest.advanceTimersByTimeAsync(1_000); // retry 1 fails, next in 2 s
    expect(state.calls).toBe(2);
    await jest.advanceTimersByTimeAsync(1_999);
    expect(state.calls).toBe(2);
    state.down = false;
    await jest.advanceTimersByTimeAsync(1);
    expect(state.calls).toBe(3);
    expect(pending.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('retries on flush (the next upload) without waiting for the timer', async () => {
    const { state, abort } = server();
    const pending = new PendingAborts(abort, { firstDelayMs: 60_000 });
    await pending.abortOrKeep('b', 'k', 'u1');
    state.down = false;
    await pending.flush();
    expect(pending.size).toBe(0);
  });

  it('counts an upload the server no longer knows (NoSuchUpload) as aborted', async () => {
    const { state, abort } = server();
    const pending = new PendingAborts(abort);
    await pending.abortOrKeep('b', 'k', 'u1');
    state.noSuchUpload = true;
    await pending.flush();
    expect(pending.size).toBe(0);
  });

  it('gives up after giveUpAfterMs, so nothing is retried forever', async () => {
    const { state, abort } = server();
    const pending = new PendingAborts(abort, {
      firstDelayMs: 1_000,
      maxDelayMs: 1_000,
      giveUpAfterMs: 5_000,
    });
    await pending.abortOrKeep('b', 'k', 'u1');
    await jest.advanceTimersByTimeAsync(10_000);
    expect(pending.size).toBe(0);
    const calls = state.calls;
    await jest.advanceTimersByTimeAsync(10_000);
    expect(state.calls).toBe(calls);
  });

  it('makes one last attempt on close and leaves no timer', async () => {
    const { state, abort } = server();
    const pending = new PendingAborts(abort, { firstDelayMs: 60_000 });
    await pending.abortOrKeep('b', 'k', 'u1');
    const before = state.calls;
    await pending.close();
    expect(state.calls).toBe(before + 1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('says what the abort found: aborted, gone (NoSuchUpload, also as a typed error), kept', async () => {
    const { state, abort } = server();
    const pending = new PendingAborts(abort, { firstDelayMs: 60_000 });
    expect(await pending.abortOrKeep('b', 'k', 'u1')).toBe('kept');
    state.down = false;
    expect(await pending.abortOrKeep('b', 'k', 'u2')).toBe('aborted');
    state.noSuchUpload = true;
    expect(await pending.abortOrKeep('b', 'k', 'u3')).toBe('gone');
    const typed = new PendingAborts(async () => {
      throw new ProjectNotFoundError('b', 'k', { code: 'NoSuchUpload', status: 404 });
    });
    expect(await typed.abortOrKeep('b', 'k', 'u4')).toBe('gone');
    await pending.close();
  });

  it('aborts the upload of a create answered late, and close() waits for that answer', async () => {
    const { state, abort } = server();
    state.down = false;
    const pending = new PendingAborts(abort);
    let answer: (id: string) => void = () => undefined;
    pending.abortWhenCreated('b', 'k', new Promise((resolve) => (answer = resolve)));
    let closed = false;
    const closing = pending.close().then(() => (closed = true));
    await jest.advanceTimersByTimeAsync(10);
    expect(closed).toBe(false);
    answer('late-upload');
    await closing;
    expect(state.calls).toBe(1);
  });

  it('a late create that failed leaves nothing to abort', async () => {
    const { state, abort } = server();
    const pending = new PendingAborts(abort);
    pending.abortWhenCreated('b', 'k', Promise.reject(new Error('timed out')));
    await pending.close();
    expect(state.calls).toBe(0);
  });
});
