/**
 * A zoo: the models to triage. Either a folder (each model folder — model.json or model.onnx
 * inside — and each .onnx file in it is a model) or a CSV file listing them with, optionally, the
 * ground truth. The CSV is untrusted input: a malformed line stops the zoo with its file and line;
 * an entry whose model is missing or unreadable does not (the scan names it and goes on).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { DataFormatError, NotFoundError } from '../errors.js';

/** One model of the zoo. */
export interface ZooEntry {
  /** Unique, file-name safe: the model's sub-folder of the zoo's out folder. */
  readonly name: string;
  /** Absolute path of the model folder or ONNX file. */
  readonly path: string;
  /** Ground truth, when the CSV gives it. */
  readonly infected?: boolean;
  readonly target?: number;
  /** 1-based line of the CSV that listed it. */
  readonly line?: number;
}

/** The CSV's columns; `path` is required, the others optional. */
export const ZOO_CSV_COLUMNS = ['path', 'infected', 'target'] as const;

/** A CSV larger than this is not a zoo list (refused before it is read). */
export const MAX_ZOO_CSV_BYTES = 16 * 1024 * 1024;

const YES = new Set(['yes', 'y', 'true', '1', 'infected', 'poisoned', 'backdoored']);
const NO = new Set(['no', 'n', 'false', '0', 'clean']);

/** Reads a zoo (see the module comment). */
export function readZoo(zoo: string): ZooEntry[] {
  const abs = resolve(zoo);
  if (!existsSync(abs)) throw new NotFoundError(abs, 'zoo', 'A zoo is a folder of model folders and .onnx files, or a CSV listing them (columns path[,infected[,target]])');
  const entries = statSync(abs).isDirectory() ? readZooFolder(abs) : readZooCsv(abs);
  if (entries.length === 0) throw new DataFormatError(abs, 'holds no model (a zoo folder holds model folders — model.json or model.onnx inside — and .onnx files).');
  return uniqueNames(entries);
}

function isModelFolder(dir: string): boolean {
  return existsSync(join(dir, 'model.json')) || existsSync(join(dir, 'model.onnx'));
}

function readZooFolder(dir: string): Omit<ZooEntry, 'name'>[] {
  const out: Omit<ZooEntry, 'name'>[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue; // a dangling link is no model
    }
    if (st.isDirectory() ? isModelFolder(p) : st.isFile() && extname(name).toLowerCase() === '.onnx') out.push({ path: p });
  }
  return out;
}

/** Splits one CSV line (RFC 4180 quotes; no line breaks inside a field). */
function splitCsvLine(line: string, file: string, lineNo: number): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new DataFormatError(file, `line ${lineNo}: a quoted field is not closed.`, { position: lineNo });
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      if (i < line.length && line[i] !== ',') throw new DataFormatError(file, `line ${lineNo}: text after a closing quote.`, { position: lineNo });
    } else {
      const j = line.indexOf(',', i);
      field = j < 0 ? line.slice(i) : line.slice(i, j);
      if (field.includes('"')) throw new DataFormatError(file, `line ${lineNo}: a quote inside an unquoted field.`, { position: lineNo });
      i = j < 0 ? line.length : j;
    }
    fields.push(field.trim());
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

function readZooCsv(file: string): Omit<ZooEntry, 'name'>[] {
  if (statSync(file).size > MAX_ZOO_CSV_BYTES) throw new DataFormatError(file, `larger than ${MAX_ZOO_CSV_BYTES} bytes: not a zoo list.`);
  const text = readFileSync(file, 'utf8');
  if (text.includes('\0')) throw new DataFormatError(file, 'a binary file, not a CSV zoo list (columns path[,infected[,target]]).');
  const lines = text.split(/\r?\n/);
  const base = dirname(file);
  let header: string[] | undefined;
  const out: Omit<ZooEntry, 'name'>[] = [];
  lines.forEach((raw, k) => {
    const lineNo = k + 1;
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    const fields = splitCsvLine(raw, file, lineNo);
    if (!header) {
      header = fields.map((f) => f.toLowerCase());
      const unknown = header.filter((h) => !(ZOO_CSV_COLUMNS as readonly string[]).includes(h));
      if (!header.includes('path') || unknown.length > 0 || new Set(header).size !== header.length) {
        throw new DataFormatError(file, `line ${lineNo}: the header must name distinct columns among ${ZOO_CSV_COLUMNS.join(', ')} (path required); got '${raw.trim().slice(0, 80)}'.`, { position: lineNo });
      }
      return;
    }
    if (fields.length !== header.length) throw new DataFormatError(file, `line ${lineNo}: ${fields.length} field(s), the header has ${header.length}.`, { position: lineNo });
    const row = Object.fromEntries(header.map((h, i) => [h, fields[i]]));
    if (!row.path) throw new DataFormatError(file, `line ${lineNo}: the path is empty.`, { position: lineNo });
    let infected: boolean | undefined;
    if (row.infected !== undefined && row.infected !== '') {
      const v = row.infected.toLowerCase();
      if (YES.has(v)) infected = true;
      else if (NO.has(v)) infected = false;
      else throw new DataFormatError(file, `line ${lineNo}: infected must be yes or no (or empty: unknown), got '${row.infected.slice(0, 40)}'.`, { position: lineNo });
    }
    let target: number | undefined;
    if (row.target !== undefined && row.target !== '') {
      if (!/^\d{1,6}$/.test(row.target)) throw new DataFormatError(file, `line ${lineNo}: target must be a label index (a non-negative integer), got '${row.target.slice(0, 40)}'.`, { position: lineNo });
      target = Number(row.target);
      if (infected === false) throw new DataFormatError(file, `line ${lineNo}: a clean model (infected no) with a target.`, { position: lineNo });
    }
    out.push({ path: resolve(base, row.path), line: lineNo, ...(infected !== undefined ? { infected } : {}), ...(target !== undefined ? { target } : {}) });
  });
  if (!header) throw new DataFormatError(file, 'empty: a zoo list has a header line (path[,infected[,target]]) and one model per line.');
  return out;
}

/** Each entry's folder name: the model's own name, made safe, numbered when two are alike. */
function uniqueNames(entries: readonly Omit<ZooEntry, 'name'>[]): ZooEntry[] {
  const used = new Set<string>();
  return entries.map((e) => {
    const stem = basename(e.path).replace(/\.onnx$/i, '');
    const safe = stem.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_').slice(0, 80) || 'model';
    let name = safe;
    for (let k = 2; used.has(name); k++) name = `${safe}-${k}`;
    used.add(name);
    return { name, ...e };
  });
}
