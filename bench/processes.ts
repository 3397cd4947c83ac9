/**
 * Child processes of a benchmark, tracked by PID so that every exit path
 * (the end, an error, SIGINT) stops them: SIGTERM, a grace period, SIGKILL.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** The children still running. */
export const children = new Set<ChildProcess>();

export function track(p: ChildProcess): ChildProcess {
  children.add(p);
  p.once('exit', () => children.delete(p));
  return p;
}

export async function stopProc(p: ChildProcess, graceMs = 4000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  try { p.kill('SIGTERM'); } catch { /* gone */ }
  await Promise.race([done, sleep(graceMs)]);
  if (p.exitCode === null && p.signalCode === null) {
    try { p.kill('SIGKILL'); } catch { /* gone */ }
    await Promise.race([done, sleep(1000)]);
  }
}

export async function stopAll(graceMs?: number): Promise<void> {
  await Promise.all([...children].map((p) => stopProc(p, graceMs)));
}

/**
 * On SIGINT or SIGTERM: stop every child, run `cleanup`, exit 130. On any exit
 * (an exception past the caller's finally): SIGKILL what is left, so no
 * process outlives the benchmark.
 */
export function stopOnSignals(cleanup: () => void, graceMs?: number): void {
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (interrupted) return;
      interrupted = true;
      process.stderr.write(`\n${sig}: stopping ${children.size} process(es) ...\n`);
      void stopAll(graceMs).finally(() => { cleanup(); process.exit(130); });
    });
  }
  process.on('exit', () => {
    for (const p of children) try { p.kill('SIGKILL'); } catch { /* gone */ }
  });
}
