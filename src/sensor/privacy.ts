/**
 * Privacy masking applied before a record leaves the sensor: home directories become "~" and
 * secrets in argv, env-like assignments, URLs and headers become "[REDACTED]".
 *
 * This runs on every exec, so every built-in pattern is a literal prefix followed by bounded or
 * non-overlapping character-class runs (no nested quantifiers): matching stays linear in the
 * input. Key names are judged by plain string logic rather than one big regex, which is both
 * faster and the only sane way to tell `--tokenizer` from `--token`.
 */
import { ErrorCodes, VigilError } from "../errors.js";

export interface PrivacyOptions {
  /** Home directories to mask, e.g. ["/home/alice", "/root"]. Longest match first. */
  homes: readonly string[];
  /**
   * Extra user patterns (JS regex source strings, compiled with the "g" flag only); a match is
   * replaced by "[REDACTED]", or by the text of the named group "keep" followed by "[REDACTED]"
   * when the pattern has one. User patterns run before the built-ins, on the original text.
   */
  extraPatterns?: readonly string[];
  /** Turn off the built-in patterns (default false). Home masking and extra patterns remain. */
  disableBuiltins?: boolean;
}

export interface Privacy {
  /**
   * "/home/alice/proj/x" -> "~/proj/x"; "/home/alice" -> "~". Only whole path components:
   * "/home/alicex" is not masked. Also masks home paths inside free text
   * (e.g. "--config=/home/alice/.cfg" -> "--config=~/.cfg").
   */
  maskPath(path: string): string;
  /** Redact secrets in one string (argv element, KEY=VALUE, URL, header). Also masks homes. */
  redact(text: string): string;
  /**
   * argv -> redacted argv: `redact` per element, and a secret long flag ("--password",
   * "-token", matched on whole names so "--tokenizer" is not one) hides the next element unless
   * that element is itself a flag. Short flags ("-p secret") are left alone: their meaning
   * depends on the program.
   */
  redactArgv(argv: readonly string[]): string[];
}

const REDACTED = "[REDACTED]";

/** [pattern, replacement]; group 1, when present, is a non-secret prefix kept for analysts. */
type Rule = readonly [RegExp, string];

const BUILTIN_RULES: readonly Rule[] = [
  // Private keys first: their base64 body would otherwise be nibbled by the token rules. A
  // truncated key (argv and event buffers are capped) is redacted to the end of the string.
  [
    /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|$)/g,
    `-----BEGIN PRIVATE KEY-----${REDACTED}`,
  ],
  // Anthropic and OpenAI share "sk-"; the optional sub-prefix tells them apart.
  [/\b(sk-(?:ant-|proj-|svcacct-|admin-)?)[\w-]{20,}/g, `$1${REDACTED}`],
  [/\b((?:sk|rk)_(?:live|test)_)[A-Za-z0-9]{10,}/g, `$1${REDACTED}`],
  [/\b(A(?:KIA|SIA))[A-Z0-9]{16}\b/g, `$1${REDACTED}`],
  [/\b(gh[pousr]_)[A-Za-z0-9]{30,}/g, `$1${REDACTED}`],
  [/\b(github_pat_)\w{20,}/g, `$1${REDACTED}`],
  [/\b(glpat-)[\w-]{20,}/g, `$1${REDACTED}`],
  [/\b(xox[abprs]-)[A-Za-z0-9-]{10,}/g, `$1${REDACTED}`],
  [/\b(AIza)[\w-]{35}/g, `$1${REDACTED}`],
  [/\b(npm_)[A-Za-z0-9]{36}/g, `$1${REDACTED}`],
  [/\b(hf_)[A-Za-z0-9]{30,}/g, `$1${REDACTED}`],
  [/\b(eyJ)[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g, `$1${REDACTED}`],
  // Digest parameters are quoted and comma-separated: take the rest of the header.
  [/\b((?:proxy-)?authorization[ \t]*[:=][ \t]*digest[ \t]+)[^\r\n'`]+/gi, `$1${REDACTED}`],
  // Keep the auth scheme: Bearer vs Basic is useful to an analyst and not secret.
  [
    /\b((?:proxy-)?authorization[ \t]*[:=][ \t]*(?:(?:bearer|basic|token|digest|negotiate)[ \t]+)?)[^\s"'`]+/gi,
    `$1${REDACTED}`,
  ],
  // A bare "Bearer xyz" (e.g. a -H argument split oddly). English prose also says "bearer", so
  // the token must look like one: 8+ token characters including a digit or symbol.
  [/\b(bearer[ \t]+)(?=[\w.~+/-]{0,256}?[\d.~+/_-])[\w.~+/-]{8,}=*/gi, `$1${REDACTED}`],
  [/\b((?:set-)?cookie[ \t]*:[ \t]*)[^\r\n"'`]+/gi, `$1${REDACTED}`],
  // scheme://user:password@host. The password may contain "@" (last one wins) but not "/", so
  // "https://host:8080/@scope/pkg" is left alone.
  [/\b([a-z][a-z0-9+.-]{0,30}:\/\/[^\s:@/]*:)[^\s/]+@/gi, `$1${REDACTED}@`],
];

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
function isSecretKey(key: string): boolean {
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
function isSecretFlag(name: string): boolean {
  const lower = name.toLowerCase();
  // "--no-password" (psql) is a boolean switch: the next element is not its value.
  if (lower.startsWith("no-") || lower.startsWith("no_")) return false;
  // A bare "--key" is too generic for env names (SORT_KEY) but is a secret as a flag.
  return lower === "key" || isSecretKey(name);
}

/** An unexpanded shell reference ("$TOKEN", "${TOKEN}") carries no secret and helps analysts. */
const VAR_REF = /^\$\{?[A-Za-z_]\w*\}?$/;
/** Characters that end an unquoted value in free text (shell, query strings, conn strings). */
const VALUE_END = /[\s"'`&;,)}\]<>|]/g;
/** Candidate assignments: KEY=VALUE, KEY: VALUE, "key": value, --flag=value, -Dkey=value. */
const ASSIGNMENT = /(?<![\w.\-/])(["']?)(-{0,2}[A-Za-z_][\w.-]{0,127})\1([ \t]*[=:][ \t]*)/g;
/** Candidate "--flag value" pairs inside one string (a `sh -c` script, a joined command line). */
const SPACED_FLAG = /(?<![\w.\-/])--?([A-Za-z][\w.-]{0,127})[ \t]+(?=[^\s-])/g;
/** A whole argv element that is a long flag. */
const FLAG = /^--?([A-Za-z][\w.-]*)$/;
/** "auth:8080" is a host and port, not a credential. */
const PORT_LIKE = /^\d{1,5}(?:\/|$)/;

/** Where a value starting at `start` begins and ends, excluding any surrounding quotes. */
function valueSpan(text: string, start: number, wholeElement: boolean): [number, number] {
  const quote = text[start];
  if (quote === '"' || quote === "'") {
    // Honour backslash escapes; an unterminated (truncated) value runs to the end.
    for (let i = start + 1; i < text.length; i++) {
      const c = text[i];
      if (c === "\\") i++;
      else if (c === quote) return [start + 1, i];
    }
    return [start + 1, text.length];
  }
  // An element that is nothing but KEY=VALUE (an env entry, one argv word) owns the rest of the
  // line: "PASSPHRASE=correct horse battery" must not leak its last words.
  if (wholeElement) {
    const nl = text.indexOf("\n", start);
    return [start, nl === -1 ? text.length : nl];
  }
  VALUE_END.lastIndex = start;
  const m = VALUE_END.exec(text);
  return [start, m === null ? text.length : m.index];
}

interface Candidate {
  valueStart: number;
  wholeElement: boolean;
  hostPort: boolean;
}

/**
 * Replaces the value after every match `candidate` accepts. The shared global regexes are safe
 * because this loop is synchronous and never re-entered.
 */
function redactValues(
  text: string,
  re: RegExp,
  candidate: (m: RegExpExecArray) => Candidate | undefined,
): string {
  re.lastIndex = 0;
  let out = "";
  let copied = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const c = candidate(m);
    if (c === undefined) continue;
    const [from, to] = valueSpan(text, c.valueStart, c.wholeElement);
    const value = text.slice(from, to);
    // A value that overlaps a marker was redacted by an earlier rule (its span stops at the
    // marker's "]"): redacting it again would leave a stray "]".
    const marker = text.indexOf(REDACTED, from);
    if (value === "" || VAR_REF.test(value) || (marker !== -1 && marker < to)) continue;
    if (c.hostPort && PORT_LIKE.test(value)) continue;
    out += `${text.slice(copied, from)}${REDACTED}`;
    copied = to;
    re.lastIndex = Math.max(re.lastIndex, to);
  }
  return copied === 0 ? text : out + text.slice(copied);
}

function assignmentCandidate(m: RegExpExecArray): Candidate | undefined {
  const [whole, keyQuote = "", key = "", sep = ""] = m;
  // Unquoted dotted names before ":" are hosts ("token.example.com:443"), not keys.
  if (sep.includes(":") && keyQuote === "" && key.includes(".")) return undefined;
  // Flags ("--key=x", "-Dpassword=x") also accept a bare "key"; env names do not.
  const secret = key.startsWith("-") ? isSecretFlag(key.replace(/^-+/, "")) : isSecretKey(key);
  if (!secret) return undefined;
  return {
    valueStart: m.index + whole.length,
    wholeElement: m.index === 0 && keyQuote === "",
    hostPort: sep === ":",
  };
}

function spacedFlagCandidate(m: RegExpExecArray): Candidate | undefined {
  const [whole, name = ""] = m;
  if (!isSecretFlag(name)) return undefined;
  return { valueStart: m.index + whole.length, wholeElement: false, hostPort: false };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function compileHomes(homes: readonly string[]): RegExp | undefined {
  const cleaned = new Set<string>();
  for (const home of homes) {
    if (!home.startsWith("/")) {
      throw new VigilError(ErrorCodes.CONFIG_INVALID, `privacy: home "${home}" is not absolute`, {
        hint: `list home directories as absolute paths, e.g. "/home/alice" instead of "${home}"`,
      });
    }
    const trimmed = home.replace(/\/+$/, "");
    // A home of "/" (some system accounts) would turn every path into "~/..."; skip it.
    if (trimmed !== "") cleaned.add(trimmed);
  }
  if (cleaned.size === 0) return undefined;
  const alternatives = [...cleaned].sort((a, b) => b.length - a.length).map(escapeRegExp);
  // A preceding "/" is allowed so "file:///home/alice" is masked; a following word character is
  // not, so "/home/alicex" and "/home/alice.bak" are left alone.
  return new RegExp(`(?<![\\w.~-])(?:${alternatives.join("|")})(?![\\w.~@+%$-])`, "g");
}

function compileExtra(source: string): RegExp {
  try {
    return new RegExp(source, "g");
  } catch (cause) {
    throw new VigilError(
      ErrorCodes.CONFIG_INVALID,
      `privacy: extra pattern ${JSON.stringify(source)} is not a valid regular expression`,
      {
        hint: `fix or remove the pattern ${JSON.stringify(source)} (JavaScript RegExp syntax, no delimiters or flags)`,
        cause,
      },
    );
  }
}

function applyExtra(text: string, re: RegExp): string {
  return text.replace(re, (...args: unknown[]) => {
    const match = args[0] as string;
    // A pattern that can match "" would otherwise sprinkle markers between every character.
    if (match === "") return match;
    const groups = args.at(-1);
    const keep =
      typeof groups === "object" && groups !== null
        ? (groups as Record<string, string | undefined>).keep
        : undefined;
    return `${keep ?? ""}${REDACTED}`;
  });
}

export function createPrivacy(options: PrivacyOptions): Privacy {
  const homeRe = compileHomes(options.homes);
  const extras = (options.extraPatterns ?? []).map(compileExtra);
  const builtins = options.disableBuiltins !== true;

  const maskPath = (path: string): string =>
    homeRe === undefined ? path : path.replace(homeRe, "~");

  const redact = (text: string): string => {
    let out = text;
    for (const re of extras) out = applyExtra(out, re);
    if (builtins) {
      for (const [re, replacement] of BUILTIN_RULES) out = out.replace(re, replacement);
      out = redactValues(out, ASSIGNMENT, assignmentCandidate);
      out = redactValues(out, SPACED_FLAG, spacedFlagCandidate);
    }
    return maskPath(out);
  };

  const redactArgv = (argv: readonly string[]): string[] => {
    const out: string[] = [];
    let valuePending = false;
    for (const arg of argv) {
      // "mysql --password -h db": a flag after a secret flag means its value was omitted.
      const looksLikeFlag = arg.startsWith("-");
      if (valuePending && !looksLikeFlag) {
        out.push(arg === "" ? arg : REDACTED);
        valuePending = false;
        continue;
      }
      // "--token=abc" needs nothing here: redact() handles it like any KEY=VALUE.
      const flag = builtins ? FLAG.exec(arg) : null;
      valuePending = flag !== null && isSecretFlag(flag[1] ?? "");
      out.push(redact(arg));
    }
    return out;
  };

  return { maskPath, redact, redactArgv };
}
