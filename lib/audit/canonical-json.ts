import type { JsonValue } from './types';

/**
 * Canonical JSON as in RFC 8785 (JCS): object keys sorted by UTF-16 code units, no whitespace,
 * numbers in ECMAScript's shortest round-trip form, strings escaped as JSON.stringify does, nulls
 * explicit. Chosen over a home-made form so an auditor can re-hash an export with any JCS library.
 *
 * Refuses what has no single canonical form instead of silently changing it: non-finite numbers
 * (JSON.stringify would write null), undefined, lone surrogates, and non-plain objects.
 */
export function canonicalJson(value: JsonValue): string {
  return write(value, '$');
}

function write(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${path}: ${String(value)} has no JSON form`);
      // JSON.stringify implements Number::toString, which is what JCS prescribes (and writes -0 as 0).
      return JSON.stringify(value);
    case 'string':
      if (hasLoneSurrogate(value)) throw new TypeError(`${path}: string has a lone surrogate`);
      return JSON.stringify(value);
    case 'object':
      // Array.from visits holes of a sparse array (as undefined, which is refused); map would skip them.
      if (Array.isArray(value)) return `[${Array.from(value, (item, i) => write(item, `${path}[${i}]`)).join(',')}]`;
      if (!isPlainObject(value)) throw new TypeError(`${path}: only plain objects have a JSON form`);
      return `{${Object.keys(value)
        // The default sort compares UTF-16 code units, as JCS requires.
        .sort()
        .map((key) => {
          if (hasLoneSurrogate(key)) throw new TypeError(`${path}: key has a lone surrogate`);
          return `${JSON.stringify(key)}:${write((value as Record<string, unknown>)[key], `${path}.${key}`)}`;
        })
        .join(',')}}`;
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      throw new TypeError(`${path}: ${typeof value} has no JSON form`);
  }
  // Unreachable (the switch covers every typeof), but TypeScript cannot see that for `unknown`.
  throw new TypeError(`${path}: has no JSON form`);
}

/** Also used by input validation: such a string cannot be stored as UTF-8 without being altered. */
export function hasLoneSurrogate(s: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

export function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
