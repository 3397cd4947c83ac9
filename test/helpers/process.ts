/** Waiting on a process the test started. */
import type { ChildProcess } from 'node:child_process';

/**
 * Resolves with the output (stdout and stderr together, from now on) once it
 * matches `re`; rejects after `ms`, or if the process exits first.
 */
export function waitForOutput(proc: ChildProcess, re: RegExp, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const done = () => {
      clearTimeout(t);
      proc.stdout!.off('data', on);
      proc.stderr!.off('data', on);
      proc.off('exit', onExit);
    };
    const on = (d: Buffer) => {
      out += d.toString();
      if (re.test(out)) {
        done();
        resolve(out);
      }
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`exited ${code} before ${re}: ${out}`));
    };
    const t = setTimeout(() => {
      done();
      reject(new Error(`timed out waiting for ${re}: ${out}`));
    }, ms);
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    proc.once('exit', onExit);
  });
}
