/** Replacing one `## heading` section of a markdown file (results and benchmark documents). */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** Replaces the body of `## heading` (up to the next `## `), or appends the section. */
export function replaceMarkdownSection(file: string, heading: string, body: string): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${heading}`);
  if (start < 0) {
    writeFileSync(file, `${text.trimEnd()}${text ? '\n\n' : ''}## ${heading}\n\n${body.trim()}\n`);
    return;
  }
  let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  if (end < 0) end = lines.length;
  const out = [...lines.slice(0, start + 1), '', body.trim(), '', ...lines.slice(end)];
  writeFileSync(file, `${out.join('\n').trimEnd()}\n`);
}
