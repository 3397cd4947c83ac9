/**
 * Files that readers must never see half written (state files, order drafts,
 * compiled zones for named, the transparency page for a web server).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Write `text` to `path` through a temporary file beside it and a rename
 * (atomic within one file system): a reader or a crash sees the old content or
 * the new, never half. `mkdir`: create the directory first.
 */
export function writeFileAtomically(path: string, text: string, opts: { mode?: number; mkdir?: boolean } = {}): void {
  const target = resolve(path);
  if (opts.mkdir) mkdirSync(dirname(target), { recursive: true });
  const tmp = resolve(dirname(target), `.${Date.now()}.${process.pid}.tmp`);
  writeFileSync(tmp, text, opts.mode === undefined ? {} : { mode: opts.mode });
  renameSync(tmp, target);
}
