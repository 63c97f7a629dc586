/**
 * Retries `check` until it stops throwing, every 20 ms, for at most `timeoutMs`; then throws
 * what it last threw. For results that arrive asynchronously (a reload, a flush, a reconnect).
 */
export async function eventually(check: () => void | Promise<void>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
