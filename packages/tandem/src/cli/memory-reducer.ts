import { Script } from "node:vm";

/** The C++ heap's allocation rate, as V8 averages it, decays to 0 within ~110 s of no allocation. */
const SCRIPT_INTERVAL_MS = 60_000;

/**
 * Lets V8's memory reducer give back, once the sidecar is idle, what starting grew: the young
 * generation and V8's pool of free pages, ~5 MB (docs/operations.md#sizing), and what load grew
 * if V8 ran a full collection during it (which arms the reducer again). The
 * reducer starts a memory-reducing collection only when the allocation rates of the young
 * generation, the old generation and V8's C++ heap (cppgc) are all low, and V8 13 (Node 24) takes
 * a rate of exactly 0 as the highest there is. Node allocates on the C++ heap only for `node:vm`
 * contexts and scripts, which the sidecar makes none of, so the reducer never ran
 * (`--trace-memory-reducer`: `high alloc` every 8 s). A tiny script now and then gives that heap a
 * rate that is low but not 0. Under load the other two rates are high and the reducer waits.
 */
export function keepMemoryReducerWorking(): NodeJS.Timeout {
  const compile = () => new Script("0");
  compile();
  const timer = setInterval(compile, SCRIPT_INTERVAL_MS);
  timer.unref();
  return timer;
}
