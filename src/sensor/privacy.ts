/**
 * Privacy masking applied before a record leaves the sensor: home directories become "~" and
 * secrets in argv, env-like assignments, URLs (userinfo and credential query parameters),
 * headers and program-specific options (privacy-tools.ts) become "[REDACTED]".
 *
 * This runs on every exec, so every built-in pattern is a literal prefix followed by bounded or
 * non-overlapping character-class runs (no nested quantifiers): matching stays linear in the
 * input. Key names are judged by plain string logic (privacy-keys.ts). Operator patterns run on
 * a linear-time engine (linear-regex.ts).
 */
import { ErrorCodes, VigilError } from "../errors.js";
import { compileLinearRegExp, type LinearRegExp } from "./linear-regex.js";
import { isSecretFlag, isSecretKey, isSecretQueryName } from "./privacy-keys.js";
import { argvWords, maskSpans, shellWords, toolSecretSpans } from "./privacy-tools.js";

export interface PrivacyOptions {
  /** Home directories to mask, e.g. ["/home/alice", "/root"]. Longest match first. */
  homes: readonly string[];
  /**
   * Extra user patterns (regex source strings in RE2 syntax, searched globally; see
   * linear-regex.ts); a match is replaced by "[REDACTED]", or by the text of the named group
   * "keep" followed by "[REDACTED]" when the pattern has one. User patterns run before the
   * built-ins, on the original text.
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
  /**
   * Redact secrets in one string (argv element, KEY=VALUE, URL, header, a `sh -c` command
   * line). Also masks homes.
   */
  redact(text: string): string;
  /**
   * argv -> redacted argv: `redact` per element; a secret long flag ("--password", "-token",
   * matched on whole names so "--tokenizer" is not one) hides the next element unless that
   * element is itself a flag; short options and positional secrets are masked for the programs
   * privacy-tools.ts knows (`mysql -ppw`, `curl -u user:pw`). With `cut` (the kernel cut the
   * last element at its buffer size), a tail of the last element that could begin a secret is
   * masked too, so a fragment shorter than a pattern's minimum does not leak.
   */
  redactArgv(argv: readonly string[], options?: { cut?: boolean }): string[];
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
  [/\b(hv[sbr]\.)[\w-]{24,}/g, `$1${REDACTED}`],
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

/** A URL with a scheme, up to whitespace or a quote. */
const URL_RE = /\b[a-z][a-z0-9+.-]{0,30}:\/\/[^\s"'`<>]+/gi;
/** One query or fragment parameter: separator, name, value. */
const URL_PARAM = /([?&#;])([^=&#;?\s]{1,128})=([^&#;\s]*)/g;

/**
 * Masks the values of credential query (and fragment) parameters in every URL of `text`:
 * `?X-Amz-Signature=abc&x=1` -> `?X-Amz-Signature=[REDACTED]&x=1`. The name stays, so the
 * window says what was there.
 */
function redactUrlParams(text: string): string {
  if (!text.includes("://")) return text;
  return text.replace(URL_RE, (url) => {
    const q = url.search(/[?#]/);
    if (q === -1) return url;
    const params = url
      .slice(q)
      .replace(URL_PARAM, (whole, sep: string, name: string, value: string) =>
        value === "" ||
        value.startsWith(REDACTED) ||
        VAR_REF.test(value) ||
        !isSecretQueryName(name)
          ? whole
          : `${sep}${name}=${REDACTED}`,
      );
    return url.slice(0, q) + params;
  });
}

/** Where a key format begins: the prefixes of BUILTIN_RULES' token formats. */
const KEY_PREFIX =
  /(?:sk-(?:ant-|proj-|svcacct-|admin-)?|[sr]k_(?:live|test)_|A[KS]IA|gh[pousr]_|github_pat_|glpat-|xox[abprs]-|AIza|npm_|hf_|hv[sbr]\.|eyJ)/y;
const TOKEN_CHAR = /[\w.+/=~-]/;
const WORD_CHAR = /\w/;
/** A run long and mixed enough to be a cut key (base64, hex): letters with digits, or both cases. */
const CUT_RUN_MIN = 16;

/**
 * The end of a string the kernel cut at its buffer size, with any tail that could begin a secret
 * masked: a key format's prefix with too few characters after it to match its rule
 * (`sk-ant-api03-ab` -> `sk-ant-[REDACTED]`), a long base64 or hex run, or a bearer token.
 */
function redactCutTail(text: string): string {
  let start = text.length;
  while (start > 0 && TOKEN_CHAR.test(text[start - 1] ?? "")) start--;
  if (start === text.length) return text;
  for (let i = start; i < text.length; i++) {
    if (i > start && WORD_CHAR.test(text[i - 1] ?? "")) continue;
    KEY_PREFIX.lastIndex = i;
    if (KEY_PREFIX.test(text) && KEY_PREFIX.lastIndex < text.length) {
      return text.slice(0, KEY_PREFIX.lastIndex) + REDACTED;
    }
  }
  if (/bearer[ \t]+$/i.test(text.slice(Math.max(0, start - 16), start))) {
    return text.slice(0, start) + REDACTED;
  }
  // The last run without separators: "--max-tokens=4096" and "file.tar" are not keys.
  let runStart = text.length;
  while (runStart > start && !".=~".includes(text[runStart - 1] ?? "")) runStart--;
  const run = text.slice(runStart);
  const mixed = /\d/.test(run) ? /[A-Za-z]/.test(run) : /[a-z]/.test(run) && /[A-Z]/.test(run);
  if (run.length >= CUT_RUN_MIN && mixed && !run.startsWith("/")) {
    return text.slice(0, runStart) + REDACTED;
  }
  return text;
}

function compileExtra(source: string, index: number): LinearRegExp {
  return compileLinearRegExp(source, `sensor.privacy.extraPatterns[${index}]`);
}

/** A pattern that can match "" would otherwise sprinkle markers between every character. */
function applyExtra(text: string, re: LinearRegExp): string {
  return re.replaceAll(text, (_match, keep) => `${keep ?? ""}${REDACTED}`);
}

/** Masks what privacy-tools.ts finds in a command line held in one string. */
function redactToolsInText(text: string): string {
  // A lone word (most argv elements) names no program with an argument.
  if (!/\s/.test(text)) return text;
  const spans = toolSecretSpans([text], shellWords(text));
  return spans.length === 0 ? text : (maskSpans([text], spans, REDACTED)[0] ?? text);
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
      out = redactToolsInText(out);
      for (const [re, replacement] of BUILTIN_RULES) out = out.replace(re, replacement);
      out = redactUrlParams(out);
      out = redactValues(out, ASSIGNMENT, assignmentCandidate);
      out = redactValues(out, SPACED_FLAG, spacedFlagCandidate);
    }
    return maskPath(out);
  };

  const redactArgv = (argv: readonly string[], o: { cut?: boolean } = {}): string[] => {
    const masked = builtins
      ? maskSpans(argv, toolSecretSpans(argv, argvWords(argv)), REDACTED)
      : argv;
    const out: string[] = [];
    let valuePending = false;
    for (const arg of masked) {
      // "mysql --password -h db": a flag after a secret flag means its value was omitted.
      const looksLikeFlag = arg.startsWith("-");
      if (valuePending && !looksLikeFlag) {
        // A value privacy-tools.ts masked in part ("pass:[REDACTED]") keeps its telling part.
        out.push(arg === "" || arg.includes(REDACTED) ? redact(arg) : REDACTED);
        valuePending = false;
        continue;
      }
      // "--token=abc" needs nothing here: redact() handles it like any KEY=VALUE.
      const flag = builtins ? FLAG.exec(arg) : null;
      valuePending = flag !== null && isSecretFlag(flag[1] ?? "");
      out.push(redact(arg));
    }
    const last = out.length - 1;
    if (o.cut === true && builtins && last >= 0) out[last] = redactCutTail(out[last] ?? "");
    return out;
  };

  return { maskPath, redact, redactArgv };
}
