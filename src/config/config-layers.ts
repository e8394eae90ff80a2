/** Plain-object helpers for stacking the layers (file < env < flags) and finding a key's source. */

/** Any JSON path, as zod reports it: object keys and array indices. */
export type PathKey = string | number;

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; anything else (arrays included) replaces; undefined means unset. */
export function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isObject(base) || !isObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    // defineProperty, so a "__proto__" key from JSON stays a key (and is rejected as unknown).
    Object.defineProperty(out, k, {
      value: merge(out[k], v),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

export function setPath(
  target: Record<string, unknown>,
  path: readonly string[],
  value: unknown,
): void {
  let node = target;
  for (const k of path.slice(0, -1)) {
    const child = node[k];
    if (isObject(child)) {
      node = child;
    } else {
      const created: Record<string, unknown> = {};
      node[k] = created;
      node = created;
    }
  }
  const last = path.at(-1);
  if (last !== undefined) node[last] = value;
}

export function getPath(source: unknown, path: readonly PathKey[]): unknown {
  let node = source;
  for (const k of path) {
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, k)) return undefined;
    node = (node as Record<PathKey, unknown>)[k];
  }
  return node;
}

export function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}
