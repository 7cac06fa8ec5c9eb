/**
 * Stripe's v1 wire format: application/x-www-form-urlencoded with bracket notation for nesting
 * (`payload[value]=5`, `expand[0]=x`, `expand[]=x`), the same encoding in GET query strings.
 */
export type FormValue = string | FormValue[] | FormObject;
export interface FormObject {
  [key: string]: FormValue;
}

export class FormError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
  }
}

// Keys that would reach Object.prototype if used as property names.
const unsafeKeys = new Set(['__proto__', 'constructor', 'prototype']);

const emptyObject = (): FormObject => Object.create(null) as FormObject;

/** `a[b][]` → ['a', 'b', '']; a key without brackets, or with malformed ones, stays one flat segment. */
export function splitKey(key: string): string[] {
  const open = key.indexOf('[');
  if (open <= 0) return [key];
  const segments = [key.slice(0, open)];
  let i = open;
  while (i < key.length) {
    if (key[i] !== '[') return [key];
    const close = key.indexOf(']', i);
    if (close < 0) return [key];
    segments.push(key.slice(i + 1, close));
    i = close + 1;
  }
  return segments;
}

function isObject(v: FormValue | undefined): v is FormObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets `value` at the bracket path; a path that conflicts with an earlier one is a client error, as on Stripe. */
function assign(root: FormObject, segments: string[], value: string, rawKey: string): void {
  let container: FormObject | FormValue[] = root;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (unsafeKeys.has(seg)) throw new FormError(`Invalid parameter name: ${rawKey}`, rawKey);
    const nextSeg = segments[i + 1];
    // `[]` appends and a numeric segment indexes, so both make arrays; anything else makes a map.
    const makeChild = (): FormObject | FormValue[] => (nextSeg === '' || (nextSeg !== undefined && /^\d+$/.test(nextSeg)) ? [] : emptyObject());

    if (Array.isArray(container)) {
      const idx: number = seg === '' ? container.length : Number(seg);
      if (!/^\d*$/.test(seg) || idx > 10_000) throw new FormError(`Invalid array index in ${rawKey}`, rawKey);
      if (last) {
        container[idx] = value;
        return;
      }
      let child: FormValue | undefined = container[idx];
      if (child === undefined) container[idx] = child = makeChild();
      if (typeof child === 'string') throw new FormError(`Invalid parameter structure: ${rawKey}`, rawKey);
      container = child;
    } else {
      if (seg === '' && i > 0) throw new FormError(`Invalid parameter structure: ${rawKey}`, rawKey);
      if (last) {
        if (container[seg] !== undefined && typeof container[seg] !== 'string') {
          throw new FormError(`Invalid parameter structure: ${rawKey}`, rawKey);
        }
        container[seg] = value;
        return;
      }
      let child: FormValue | undefined = container[seg];
      if (child === undefined) container[seg] = child = makeChild();
      if (typeof child === 'string') throw new FormError(`Invalid parameter structure: ${rawKey}`, rawKey);
      container = child;
    }
  }
}

export function parseForm(text: string): FormObject {
  const root = emptyObject();
  if (!text) return root;
  for (const [key, value] of new URLSearchParams(text)) {
    if (key === '') continue;
    assign(root, splitKey(key), value, key);
  }
  return root;
}

/** JSON bodies (not Stripe's format, but handy with curl) flattened to the same string leaves as a form. */
export function fromJson(input: unknown): FormObject {
  const root = emptyObject();
  const walk = (v: unknown): FormValue => {
    if (v === null || v === undefined) return '';
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object') {
      const o = emptyObject();
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (unsafeKeys.has(k)) throw new FormError(`Invalid parameter name: ${k}`, k);
        o[k] = walk(x);
      }
      return o;
    }
    return String(v);
  };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new FormError('The request body must be an object', 'body');
  }
  Object.assign(root, walk(input));
  return root;
}

export { isObject as isFormObject };
