/**
 * Decoding of single image files into 8-bit RGB: PNG (pngjs), JPEG (jpeg-js, pure JS), and the
 * Netpbm formats PPM (P6 binary, P3 text) and PGM (P5, P2), parsed here. GTSRB's original
 * release ships PPM files; PNG and JPEG cover the rest.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { constants as zlibConstants, inflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { DataFormatError, NotFoundError } from '../errors.js';

/** A decoded image: always 3 interleaved channels (R, G, B), 0..255. */
export interface DecodedImage {
  readonly width: number;
  readonly height: number;
  /** width * height * 3 bytes, row-major RGB. */
  readonly rgb: Uint8Array;
  /** Alpha per pixel (width * height bytes) when the file has an alpha channel. */
  readonly alpha?: Uint8Array;
}

/** File extensions (lower case, with the dot) that {@link decodeImageFile} reads. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.ppm', '.pgm', '.pnm'] as const;

/** Largest image accepted, in megapixels (guards against decompression bombs in untrusted folders). */
export const MAX_MEGAPIXELS = 64;

export function isImageFile(path: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(extname(path).toLowerCase());
}

/** Reads and decodes one image file; the format is chosen by its extension. */
export function decodeImageFile(path: string, maxMegapixels = MAX_MEGAPIXELS): DecodedImage {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    throw new NotFoundError(path, 'image file');
  }
  const ext = extname(path).toLowerCase();
  switch (ext) {
    case '.png':
      return decodePng(buf, path, maxMegapixels);
    case '.jpg':
    case '.jpeg':
      return decodeJpeg(buf, path, maxMegapixels);
    case '.ppm':
    case '.pgm':
    case '.pnm':
      return decodeNetpbm(buf, path, maxMegapixels);
    default:
      throw new DataFormatError(path, `unsupported image type '${ext}'; expected one of ${IMAGE_EXTENSIONS.join(', ')}.`);
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Decodes a PNG. Its size is read from the IHDR chunk (which must come first) and checked against
 * the limit before pngjs inflates anything: a few hundred KB of deflated zeros can declare gigabytes.
 * The image data is then checked to be all there, as pngjs decodes missing rows as zeros: a file of
 * a hundred bytes would otherwise decode into the largest image the limit allows.
 */
export function decodePng(buf: Buffer, name: string, maxMegapixels = MAX_MEGAPIXELS): DecodedImage {
  if (buf.length >= 33 && buf.subarray(0, 8).equals(PNG_SIGNATURE) && buf.toString('latin1', 12, 16) === 'IHDR') {
    const width = buf.readUInt32BE(16);
    const height = buf.readUInt32BE(20);
    checkPixels(width, height, name, maxMegapixels);
    checkPngData(buf, name, width, height, buf[24], buf[25], buf[28]);
  }
  let png;
  try {
    png = PNG.sync.read(buf);
  } catch (e) {
    throw new DataFormatError(name, `not a readable PNG file (${(e as Error).message}).`);
  }
  const n = png.width * png.height;
  const rgb = new Uint8Array(n * 3);
  const alpha = png.alpha ? new Uint8Array(n) : undefined;
  for (let p = 0; p < n; p++) {
    rgb[3 * p] = png.data[4 * p];
    rgb[3 * p + 1] = png.data[4 * p + 1];
    rgb[3 * p + 2] = png.data[4 * p + 2];
    if (alpha) alpha[p] = png.data[4 * p + 3];
  }
  return { width: png.width, height: png.height, rgb, ...(alpha ? { alpha } : {}) };
}

const PNG_CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7 passes: x start, y start, x step, y step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

/**
 * Refuses a PNG whose IDAT chunks inflate to fewer bytes than its header's size needs (filter byte
 * plus packed samples per row, per Adam7 pass when interlaced). Inflating stops at the bytes needed,
 * so this costs no more than pngjs's own inflation. Headers pngjs itself refuses are left to it.
 */
function checkPngData(buf: Buffer, name: string, width: number, height: number, bitDepth: number, colorType: number, interlace: number): void {
  const channels = PNG_CHANNELS[colorType];
  if (channels === undefined || ![1, 2, 4, 8, 16].includes(bitDepth) || interlace > 1) return;
  const rowBytes = (w: number): number => (w === 0 ? 0 : 1 + Math.ceil((w * bitDepth * channels) / 8));
  const needed =
    interlace === 0
      ? height * rowBytes(width)
      : ADAM7.reduce((sum, [x0, y0, dx, dy]) => sum + Math.ceil(Math.max(0, height - y0) / dy) * rowBytes(Math.ceil(Math.max(0, width - x0) / dx)), 0);
  const idat: Buffer[] = [];
  for (let off = 8; off + 12 <= buf.length; ) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    if (off + 12 + len > buf.length) break;
    if (type === 'IDAT') idat.push(buf.subarray(off + 8, off + 8 + len));
    if (type === 'IEND') break;
    off += 12 + len;
  }
  let inflated: number;
  try {
    // A sync flush at the end measures a truncated stream instead of failing on it.
    inflated = inflateSync(Buffer.concat(idat), { maxOutputLength: Math.max(1, needed), finishFlush: zlibConstants.Z_SYNC_FLUSH }).length;
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return; // all there (and more, which pngjs ignores)
    throw new DataFormatError(name, `not a readable PNG file (its image data does not inflate: ${(e as Error).message}).`);
  }
  if (inflated < needed) {
    throw new DataFormatError(name, `truncated: a ${width}x${height} image needs ${needed} bytes of image data, its IDAT chunks hold ${inflated}.`, {
      expected: `${needed} bytes`,
      received: `${inflated} bytes`,
    });
  }
}

export function decodeJpeg(buf: Buffer, name: string, maxMegapixels = MAX_MEGAPIXELS): DecodedImage {
  try {
    const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: maxMegapixels });
    return { width: img.width, height: img.height, rgb: img.data };
  } catch (e) {
    // jpeg-js checks the size from the frame header before decoding; its message does not say the limit.
    if (/maxResolutionInMP limit exceeded/.test((e as Error).message)) {
      throw new DataFormatError(name, `image exceeds the ${maxMegapixels}-megapixel limit (${(e as Error).message}).`);
    }
    throw new DataFormatError(name, `not a readable JPEG file (${(e as Error).message}).`);
  }
}

/** Parses a Netpbm image: P6/P3 (RGB) or P5/P2 (grey), maxval up to 65535 (rescaled to 0..255). */
export function decodeNetpbm(buf: Uint8Array, name: string, maxMegapixels = MAX_MEGAPIXELS): DecodedImage {
  let pos = 0;
  const isSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c;
  /** The next whitespace-separated token of the header, skipping '#' comments. */
  const token = (what: string): string => {
    for (;;) {
      while (pos < buf.length && isSpace(buf[pos])) pos++;
      if (pos < buf.length && buf[pos] === 0x23) {
        while (pos < buf.length && buf[pos] !== 0x0a && buf[pos] !== 0x0d) pos++;
        continue;
      }
      break;
    }
    const start = pos;
    while (pos < buf.length && !isSpace(buf[pos]) && buf[pos] !== 0x23) pos++;
    if (start === pos) throw new DataFormatError(name, `truncated Netpbm header: missing the ${what}.`, { position: start });
    return String.fromCharCode(...buf.subarray(start, pos));
  };
  const headerInt = (what: string, max: number): number => {
    const at = pos;
    const t = token(what);
    const v = Number(t);
    if (!/^\d+$/.test(t) || v < 1 || v > max) {
      throw new DataFormatError(name, `bad Netpbm ${what} '${t}'; expected an integer in 1..${max}.`, { position: at });
    }
    return v;
  };
  const magic = buf.length >= 2 ? String.fromCharCode(buf[0], buf[1]) : '';
  if (magic !== 'P6' && magic !== 'P3' && magic !== 'P5' && magic !== 'P2') {
    throw new DataFormatError(name, `not a PPM/PGM file: the magic number must be P6, P3, P5 or P2, got '${magic}'.`);
  }
  pos = 2;
  const width = headerInt('width', 1 << 16);
  const height = headerInt('height', 1 << 16);
  checkPixels(width, height, name, maxMegapixels);
  const maxval = headerInt('maxval', 65535);
  const components = magic === 'P6' || magic === 'P3' ? 3 : 1;
  const n = width * height;
  // The data's size is checked against the bytes present before the pixels are allocated.
  let values: Uint16Array;
  if (magic === 'P6' || magic === 'P5') {
    if (pos >= buf.length || !isSpace(buf[pos])) throw new DataFormatError(name, 'truncated Netpbm header: no whitespace after maxval.', { position: pos });
    pos += 1;
    const bytesPer = maxval > 255 ? 2 : 1;
    const need = n * components * bytesPer;
    if (buf.length - pos < need) {
      throw new DataFormatError(name, `truncated: ${width}x${height} pixels need ${need} data bytes, the file has ${buf.length - pos}.`, {
        expected: `${need} bytes`,
        received: `${buf.length - pos} bytes`,
      });
    }
    values = new Uint16Array(n * components);
    for (let i = 0; i < values.length; i++) {
      values[i] = bytesPer === 2 ? (buf[pos + 2 * i] << 8) | buf[pos + 2 * i + 1] : buf[pos + i];
    }
  } else {
    // Each text value takes at least a digit and a separator.
    const count = n * components;
    if (buf.length - pos < 2 * count - 1) {
      throw new DataFormatError(name, `truncated: ${width}x${height} pixels need ${count} values, and the ${buf.length - pos} bytes left cannot hold them.`);
    }
    values = new Uint16Array(count);
    for (let i = 0; i < values.length; i++) {
      const at = pos;
      let t: string;
      try {
        t = token('pixel value');
      } catch {
        throw new DataFormatError(name, `truncated: ${width}x${height} pixels need ${values.length} values, the file has ${i}.`);
      }
      const v = Number(t);
      if (!/^\d+$/.test(t)) throw new DataFormatError(name, `bad pixel value '${t}'.`, { position: at });
      values[i] = Math.min(v, 65535);
    }
  }
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < values.length; i++) {
    if (values[i] > maxval) throw new DataFormatError(name, `pixel value ${values[i]} exceeds maxval ${maxval}.`, { position: i });
  }
  const scale = (v: number): number => (maxval === 255 ? v : Math.round((v * 255) / maxval));
  for (let p = 0; p < n; p++) {
    if (components === 3) {
      rgb[3 * p] = scale(values[3 * p]);
      rgb[3 * p + 1] = scale(values[3 * p + 1]);
      rgb[3 * p + 2] = scale(values[3 * p + 2]);
    } else {
      const g = scale(values[p]);
      rgb[3 * p] = g;
      rgb[3 * p + 1] = g;
      rgb[3 * p + 2] = g;
    }
  }
  return { width, height, rgb };
}

function checkPixels(width: number, height: number, name: string, maxMegapixels: number): void {
  if (width * height > maxMegapixels * 1e6) {
    throw new DataFormatError(name, `image of ${width}x${height} exceeds the ${maxMegapixels}-megapixel limit.`, {
      expected: `at most ${maxMegapixels * 1e6} pixels`,
      received: `${width * height} pixels`,
    });
  }
}

/** Whether every pixel has R = G = B. */
export function isGrey(img: DecodedImage): boolean {
  const { rgb } = img;
  for (let i = 0; i < rgb.length; i += 3) if (rgb[i] !== rgb[i + 1] || rgb[i] !== rgb[i + 2]) return false;
  return true;
}
