/**
 * N-gram keys and the hash that spreads n-grams outside the vocabulary over a fixed number of
 * buckets. Both are part of the model format: a spec in a manifest names n-grams by these keys
 * and buckets by this hash, so neither may change without a new FeatureSpec version.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * FNV-1a, 32 bits, seedless, over the UTF-8 bytes of `text` (encoded on the fly, so hashing
 * allocates nothing). Returns an unsigned 32-bit integer.
 */
export function fnv1a32(text: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      // Syscall names are ASCII: this is the whole loop in practice.
      h = Math.imul(h ^ c, FNV_PRIME);
      continue;
    }
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    // A lone surrogate is hashed as U+FFFD, as TextEncoder would encode it.
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
    h = utf8(h, c);
  }
  return h >>> 0;
}

/** Folds the UTF-8 bytes of code point c (>= 0x80) into h. */
function utf8(h: number, c: number): number {
  let x = h;
  if (c < 0x800) {
    x = Math.imul(x ^ (0xc0 | (c >> 6)), FNV_PRIME);
  } else if (c < 0x10000) {
    x = Math.imul(x ^ (0xe0 | (c >> 12)), FNV_PRIME);
    x = Math.imul(x ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
  } else {
    x = Math.imul(x ^ (0xf0 | (c >> 18)), FNV_PRIME);
    x = Math.imul(x ^ (0x80 | ((c >> 12) & 0x3f)), FNV_PRIME);
    x = Math.imul(x ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
  }
  return Math.imul(x ^ (0x80 | (c & 0x3f)), FNV_PRIME);
}

/**
 * "read,read,write": the n syscall names of a window n-gram ([name, ..., name, count]) joined
 * by commas. Syscall names never contain a comma, so keys are unambiguous.
 */
export function ngramKey(ngram: readonly (string | number)[], n: number): string {
  let key = String(ngram[0]);
  for (let i = 1; i < n; i++) key += `,${ngram[i]}`;
  return key;
}

/** The bucket an n-gram outside the vocabulary lands in: fnv1a32(key) mod buckets. */
export function hashBucket(key: string, buckets: number): number {
  return fnv1a32(key) % buckets;
}
