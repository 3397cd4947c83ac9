/**
 * Limits on the YAML the server reads (the configuration, court-order files):
 * a file is read only up to a size cap, collections nested absurdly deep are
 * refused before parsing, and aliases may expand only so far. Each turns what
 * would be seconds of a blocked event loop, or a heap exhausted by an alias
 * bomb ("billion laughs"), into an error that names the file, fast.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { visit } from 'yaml';
import type { Document, LineCounter } from 'yaml';

/**
 * Alias expansions one document may make (yaml's `maxAliasCount`: an alias
 * costs as many nodes as its anchor holds aliases). yaml's default too, stated
 * here so an upgrade cannot raise it silently.
 */
export const MAX_ALIAS_COUNT = 100;

/** Deepest nesting of flow collections (`[[[`) or of compact block entries (`- - -`) on one line. */
export const MAX_NESTING = 64;

export const MIB = 1024 * 1024;

/** Read size: no buffer of the whole cap for a file of a few lines. */
const CHUNK = 64 * 1024;

/** A limit passed: `line` 0 when it concerns the whole file. */
export class YamlLimitError extends Error {
  override readonly name = 'YamlLimitError';
  readonly code = 'VERDICT_ERR_YAML_LIMIT';

  constructor(readonly file: string, readonly line: number, readonly col: number, readonly reason: string) {
    super(line ? `${file}:${line}:${col}: ${reason}` : `${file}: ${reason}`);
  }
}

function tooBig(file: string, max: number): YamlLimitError {
  return new YamlLimitError(file, 0, 0, `larger than ${max >= MIB ? `${max / MIB} MiB` : `${max} bytes`}, the most this file may hold; refused unread`);
}

/**
 * The file as UTF-8, read only up to `max` bytes: a bigger file (or a device,
 * a FIFO that never ends) is refused without being read whole
 * (YamlLimitError); other failures throw as fs does.
 */
export function readTextBounded(file: string, max: number): string {
  const fd = openSync(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, max + 1 - n));
      const r = readSync(fd, buf, 0, buf.length, null);
      if (r === 0) break;
      chunks.push(buf.subarray(0, r));
      n += r;
      if (n > max) throw tooBig(file, max);
    }
    return Buffer.concat(chunks, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** `readTextBounded` without blocking the event loop (files read by the running server). */
export async function readTextBoundedAsync(file: string, max: number): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, max + 1 - n));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      n += bytesRead;
      if (n > max) throw tooBig(file, max);
    }
    return Buffer.concat(chunks, n).toString('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * Offset of the first place nesting goes past `max` levels, or undefined. A
 * lexical over-estimate (brackets inside quoted strings count too), which no
 * file written by a person comes near: yaml's parser recurses per level, and
 * a megabyte of `[` keeps it busy for seconds before it reports its stack exhausted.
 */
function nestingTooDeep(text: string, max = MAX_NESTING): number | undefined {
  let depth = 0;
  let lineStart = true;
  let compact = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) { // [ {
      if (++depth > max) return i;
    } else if (c === 0x5d || c === 0x7d) { // ] }
      if (depth > 0) depth--;
    }
    if (c === 0x0a) {
      lineStart = true;
      compact = 0;
    } else if (lineStart && (c === 0x2d || c === 0x3f) && (text.charCodeAt(i + 1) === 0x20 || text.charCodeAt(i + 1) === 0x09)) {
      // "- - - x" / "? ? x": each indicator opens one more level on the same line.
      if (++compact > max) return i;
    } else if (c !== 0x20 && c !== 0x09) {
      lineStart = false;
    }
  }
  return undefined;
}

/** The error to throw when `text` nests past MAX_NESTING, else undefined. */
export function nestingProblem(text: string, file: string): YamlLimitError | undefined {
  const at = nestingTooDeep(text);
  if (at === undefined) return undefined;
  const lineStart = text.lastIndexOf('\n', at - 1) + 1;
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < at; i = text.indexOf('\n', i + 1)) line++;
  return new YamlLimitError(file, line, at - lineStart + 1, `collections nested more than ${MAX_NESTING} levels deep; refused`);
}

/**
 * `doc.toJS()` with the alias limit. Past it, throws a YamlLimitError at the
 * first alias of the document.
 */
export function toJSBounded(doc: Document, lc: LineCounter, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    if (!(e instanceof ReferenceError) || !/alias count/i.test(e.message)) throw e;
    let at = 0;
    visit(doc, {
      Alias(_key, node) {
        at = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    const p = lc.linePos(at);
    throw new YamlLimitError(file, p.line, p.col, `aliases expand to more than ${MAX_ALIAS_COUNT} nodes (an alias bomb, "billion laughs"?); refused`);
  }
}
