/**
 * Whether a key or flag name names a secret: plain string logic on name segments, which is both
 * faster than one big regex and the only sane way to tell `--tokenizer` from `--token`.
 */

// Key names are split into lower-case segments on "_", "-", "." and camelCase boundaries.
/** A key whose last segment is one of these names a secret: DB_PASSWORD, HF_TOKEN, BASIC_AUTH. */
const SECRET_LAST = new Set([
  "password",
  "passwd",
  "pwd",
  "pass",
  "passphrase",
  "secret",
  "token",
  "apikey",
  "accesskey",
  "secretkey",
  "privatekey",
  "credential",
  "credentials",
  "creds",
  "auth",
]);
/** Two last segments naming a secret: OPENAI_API_KEY, aws_secret_access_key, privateKey. */
const SECRET_PAIRS = new Set([
  "api key",
  "access key",
  "private key",
  "secret key",
  "signing key",
  "encryption key",
  "master key",
  "session key",
  "license key",
  "auth key",
  "account key",
]);
/** Glued suffixes on the last segment: PGPASSWORD, HFTOKEN. Not "pass": BYPASS, COMPASS. */
const SECRET_SUFFIXES = ["password", "passwd", "secret", "token", "apikey"];
/** Anywhere in the key (SECRET_KEY_BASE, PASSWORD_HASH) unless the last segment qualifies it. */
const SECRET_ANYWHERE = new Set([
  "password",
  "passwd",
  "passphrase",
  "secret",
  "token",
  "apikey",
  "credential",
  "credentials",
]);
/** Last segments that describe a secret without being one: TOKEN_FILE, PASSWORD_URL, AUTH_TYPE. */
const QUALIFIERS = new Set([
  "url",
  "uri",
  "endpoint",
  "host",
  "hostname",
  "port",
  "file",
  "files",
  "path",
  "dir",
  "directory",
  "name",
  "id",
  "user",
  "username",
  "type",
  "kind",
  "mode",
  "method",
  "limit",
  "length",
  "len",
  "size",
  "max",
  "min",
  "count",
  "timeout",
  "ttl",
  "expiry",
  "expires",
  "expiration",
  "enabled",
  "enable",
  "disabled",
  "disable",
  "required",
  "provider",
  "header",
  "format",
  "version",
  "env",
  "ref",
  "location",
  "source",
  "store",
  "helper",
  "command",
  "cmd",
  "prefix",
  "field",
  "scope",
  "scopes",
  "stdin",
  "prompt",
]);

function keySegments(key: string): string[] {
  return key
    .replace(/^-+/, "")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[\s_.-]+/)
    .filter((s) => s !== "");
}

/** Whether an env-like key or a long flag name names a secret. Whole segments only. */
export function isSecretKey(key: string): boolean {
  const segs = keySegments(key);
  const last = segs.at(-1);
  if (last === undefined) return false;
  if (SECRET_LAST.has(last)) return true;
  const prev = segs.at(-2);
  if (prev !== undefined && SECRET_PAIRS.has(`${prev} ${last}`)) return true;
  if (SECRET_SUFFIXES.some((s) => last.length > s.length && last.endsWith(s))) return true;
  return !QUALIFIERS.has(last) && segs.some((s) => SECRET_ANYWHERE.has(s));
}

/** Single-dash long flags count too ("-password", Go style); no short flag name is a secret. */
export function isSecretFlag(name: string): boolean {
  const lower = name.toLowerCase();
  // "--no-password" (psql) is a boolean switch: the next element is not its value.
  if (lower.startsWith("no-") || lower.startsWith("no_")) return false;
  // A bare "--key" is too generic for env names (SORT_KEY) but is a secret as a flag.
  return lower === "key" || isSecretKey(name);
}

/**
 * Query parameter names that carry a credential in URLs though they would be too generic as env
 * names: Azure SAS "sig", OAuth's authorization "code", Google APIs' "key". Whole names only, so
 * "country_code" is not one.
 */
const QUERY_SECRET_NAMES = new Set(["key", "sig", "code", "jwt", "otp"]);

/**
 * Whether a URL query (or fragment) parameter name names a credential: also any name ending in
 * "signature", as presigned URLs have (X-Amz-Signature, X-Goog-Signature, CloudFront Signature).
 */
export function isSecretQueryName(name: string): boolean {
  const lower = name.toLowerCase();
  return QUERY_SECRET_NAMES.has(lower) || lower.endsWith("signature") || isSecretKey(name);
}
