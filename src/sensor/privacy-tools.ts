/**
 * Secrets whose place in a command line only the program defines: short options (`mysql -ppw`,
 * `sshpass -p pw`), the password half of a `user:password` value (`curl -u`), and positional
 * arguments (`aws configure set aws_secret_access_key X`, `htpasswd -b file user pw`). One
 * declarative table, written from each tool's documented options; the generic rules in
 * privacy.ts already cover long options named after a secret (`--password=x`, `--token x`).
 */
import { isSecretKey } from "./privacy-keys.js";

/**
 * How an option's value is given: "attached" (`-ppw`, `--user=a:b`), "separate" (the next
 * argument, whatever it starts with, as getopt takes a required argument), or "either".
 */
type Given = "attached" | "separate" | "either";

/**
 * Which part of the value is secret: all of it, what follows the first ":" (`user:password`),
 * "%" (Samba's `user%password`) or "," (lftp's `user,password`), or, for OpenSSL's pass phrase
 * arguments, what follows "pass:" (its other forms, `env:VAR` and `file:path`, name no secret).
 */
type Part = "whole" | "after-colon" | "after-percent" | "after-comma" | "after-pass-prefix";

interface OptionRule {
  /** "-p" is a short option; "--user" and OpenSSL's "-passin" are long ones. */
  readonly names: readonly string[];
  readonly given: Given;
  readonly part?: Part;
}

interface ToolRule {
  /** Program names, matched on an argument's basename. */
  readonly programs: readonly string[];
  /** Words that must come first, in order (a subcommand): the rule applies after the last one. */
  readonly after?: readonly string[];
  readonly options?: readonly OptionRule[];
  /** An argument naming a secret key hides the argument after it: `set KEY VALUE`. */
  readonly keyValue?: true;
  /** Non-option arguments, counted from 0 after `after`, that are secrets. */
  readonly positional?: readonly number[];
  /** With this short flag given (alone or in a cluster such as `-bc`), the last argument is a secret. */
  readonly lastIfFlag?: string;
}

const MYSQL_CLIENTS = [
  "mysql",
  "mysqldump",
  "mysqladmin",
  "mysqlimport",
  "mysqlshow",
  "mysqlcheck",
  "mysqlpump",
  "mysqlslap",
  "mysqlbinlog",
  "mysqlsh",
  "mariadb",
  "mariadb-dump",
  "mariadb-admin",
  "mariadb-import",
  "mariadb-show",
  "mariadb-check",
  "mariadb-slap",
  "mariadb-binlog",
];
const MONGO_CLIENTS = [
  "mongosh",
  "mongo",
  "mongodump",
  "mongorestore",
  "mongoexport",
  "mongoimport",
];
const LDAP_CLIENTS = [
  "ldapsearch",
  "ldapadd",
  "ldapmodify",
  "ldapdelete",
  "ldapmodrdn",
  "ldapcompare",
  "ldapwhoami",
  "ldapexop",
];
const REGISTRY_CLIENTS = [
  "docker",
  "podman",
  "buildah",
  "skopeo",
  "nerdctl",
  "helm",
  "oras",
  "crane",
];

export const TOOL_RULES: readonly ToolRule[] = [
  // -p[password]: "you cannot have a space between the option and the password"; `-p db` prompts
  // and db is the database.
  { programs: MYSQL_CLIENTS, options: [{ names: ["-p"], given: "attached" }] },
  { programs: ["sshpass"], options: [{ names: ["-p"], given: "either" }] },
  {
    programs: ["curl"],
    options: [
      { names: ["-u", "--user", "-U", "--proxy-user"], given: "either", part: "after-colon" },
      { names: ["-E", "--cert", "--proxy-cert"], given: "either", part: "after-colon" },
      { names: ["--oauth2-bearer"], given: "either" },
    ],
  },
  { programs: ["redis-cli", "valkey-cli"], options: [{ names: ["-a"], given: "either" }] },
  { programs: MONGO_CLIENTS, options: [{ names: ["-p"], given: "either" }] },
  { programs: LDAP_CLIENTS, options: [{ names: ["-w"], given: "either" }] },
  // -w the bind password, -a the old password, -s the new one.
  { programs: ["ldappasswd"], options: [{ names: ["-w", "-a", "-s"], given: "either" }] },
  {
    programs: ["smbclient", "rpcclient", "smbcacls", "smbget"],
    options: [{ names: ["-U", "--user"], given: "either", part: "after-percent" }],
  },
  { programs: ["lftp"], options: [{ names: ["-u"], given: "either", part: "after-comma" }] },
  { programs: ["zip", "unzip", "zipcloak"], options: [{ names: ["-P"], given: "either" }] },
  {
    programs: ["7z", "7za", "7zr", "rar", "unrar"],
    options: [{ names: ["-p"], given: "attached" }],
  },
  // -P the old passphrase, -N the new one.
  { programs: ["ssh-keygen"], options: [{ names: ["-P", "-N"], given: "either" }] },
  { programs: ["sqlcmd", "bcp"], options: [{ names: ["-P"], given: "either" }] },
  // The value is a crypt(3) hash: not the password, but crackable offline.
  { programs: ["useradd", "usermod"], options: [{ names: ["-p"], given: "either" }] },
  {
    programs: ["openssl"],
    options: [
      { names: ["-pass", "-passin", "-passout"], given: "separate", part: "after-pass-prefix" },
      // enc: -k a password, -K the key itself in hex.
      { names: ["-k", "-K"], given: "separate" },
    ],
  },
  { programs: REGISTRY_CLIENTS, after: ["login"], options: [{ names: ["-p"], given: "either" }] },
  { programs: ["az"], after: ["login"], options: [{ names: ["-p"], given: "either" }] },
  {
    programs: ["gh"],
    after: ["secret", "set"],
    options: [{ names: ["-b", "--body"], given: "either" }],
  },
  { programs: ["aws"], after: ["configure", "set"], keyValue: true },
  { programs: ["git"], after: ["config"], keyValue: true },
  { programs: ["npm", "pnpm", "yarn"], after: ["config", "set"], keyValue: true },
  { programs: ["rabbitmqctl"], after: ["add_user"], positional: [1] },
  { programs: ["rabbitmqctl"], after: ["change_password"], positional: [1] },
  // htpasswd -b [-c] file user password, or -nb user password: the password comes last.
  { programs: ["htpasswd"], lastIfFlag: "b" },
];

const BY_PROGRAM = new Map<string, ToolRule[]>();
for (const rule of TOOL_RULES) {
  for (const p of rule.programs) BY_PROGRAM.set(p, [...(BY_PROGRAM.get(p) ?? []), rule]);
}

/**
 * One word of a command: an argv element, or a shell word of a command line. `text` is the word
 * without its quotes, used to recognise names; `start`/`end` bound it in the string `elem`
 * indexes, and `lead`/`trail` count the quote characters at its two ends.
 */
export interface Word {
  readonly text: string;
  readonly elem: number;
  readonly start: number;
  readonly end: number;
  readonly lead: number;
  readonly trail: number;
  /** A shell operator (";", "&&", "|"...) that ends a command. */
  readonly separator: boolean;
}

/** Characters [from, to) of element `elem` are a secret. */
export interface Span {
  readonly elem: number;
  readonly from: number;
  readonly to: number;
}

const SEPARATORS = new Set([";", "&&", "||", "|", "&", "|&"]);

/** argv elements as words. */
export function argvWords(argv: readonly string[]): Word[] {
  return argv.map((text, elem) => ({
    text,
    elem,
    start: 0,
    end: text.length,
    lead: 0,
    trail: 0,
    separator: SEPARATORS.has(text),
  }));
}

const SPACE = /\s/;

/**
 * The shell words of a command line (a `sh -c` script), quotes honoured, unquoted ; | & ( )
 * and newlines as separators. Linear; an unterminated quote runs to the end.
 */
export function shellWords(line: string): Word[] {
  const words: Word[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i] ?? "";
    if (SPACE.test(c) && c !== "\n") {
      i++;
      continue;
    }
    if (";|&()\n".includes(c)) {
      const two = line.slice(i, i + 2);
      const op = two === "&&" || two === "||" || two === "|&" ? two : c;
      words.push({
        text: op,
        elem: 0,
        start: i,
        end: i + op.length,
        lead: 0,
        trail: 0,
        separator: true,
      });
      i += op.length;
      continue;
    }
    const start = i;
    let text = "";
    let quote = "";
    let lastQuoteEnd = -1;
    for (; i < line.length; i++) {
      const ch = line[i] ?? "";
      if (quote !== "") {
        if (ch === quote) {
          quote = "";
          lastQuoteEnd = i + 1;
        } else if (ch === "\\" && quote === '"' && i + 1 < line.length) text += line[++i];
        else text += ch;
      } else if (ch === '"' || ch === "'") quote = ch;
      else if (SPACE.test(ch) || ";|&()".includes(ch)) break;
      else if (ch === "\\" && i + 1 < line.length) text += line[++i];
      else text += ch;
    }
    const first = line[start];
    const lead = first === '"' || first === "'" ? 1 : 0;
    const trail = lead === 1 && lastQuoteEnd === i && line[i - 1] === first ? 1 : 0;
    words.push({ text, elem: 0, start, end: i, lead, trail, separator: false });
  }
  return words;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

const isOption = (w: Word): boolean => w.text.length > 1 && w.text.startsWith("-");

/** The secret part of `raw` (a value as it stands in the string), as offsets into `raw`. */
function partOf(raw: string, part: Part): [number, number] | undefined {
  // Quotes around the value stay: `-p'[REDACTED]'`.
  const q = raw[0] === '"' || raw[0] === "'" ? raw[0] : "";
  const from = q === "" ? 0 : 1;
  const to = q !== "" && raw.length > 1 && raw.endsWith(q) ? raw.length - 1 : raw.length;
  const sep =
    part === "after-colon"
      ? ":"
      : part === "after-percent"
        ? "%"
        : part === "after-comma"
          ? ","
          : "";
  if (part === "whole") return from < to ? [from, to] : undefined;
  if (part === "after-pass-prefix") {
    return raw.startsWith("pass:", from) && from + 5 < to ? [from + 5, to] : undefined;
  }
  const at = raw.indexOf(sep, from);
  return at === -1 || at + 1 >= to ? undefined : [at + 1, to];
}

/** A span for the value of word `w` starting `offset` characters into its raw text. */
function valueSpan(
  strings: readonly string[],
  w: Word,
  offset: number,
  part: Part,
): Span | undefined {
  const s = strings[w.elem] ?? "";
  const from = w.start + offset;
  // An attached value inside a quoted word ("-ppw") stops before the closing quote.
  const raw = s.slice(from, w.end - (offset > 0 ? w.trail : 0));
  const p = partOf(raw, part);
  return p && { elem: w.elem, from: from + p[0], to: from + p[1] };
}

/** The option `text` gives, and whether its value is attached; undefined if none. */
function optionOf(
  text: string,
  options: readonly OptionRule[],
): { rule: OptionRule; name: string; attached: boolean } | undefined {
  for (const rule of options) {
    for (const name of rule.names) {
      if (text === name)
        return rule.given === "attached" ? undefined : { rule, name, attached: false };
      if (rule.given === "separate" || !text.startsWith(name)) continue;
      // "-ppw" for a short option; "--user=a:b" for a long one ("--username" is not "--user").
      if (name.length === 2 || text[name.length] === "=") return { rule, name, attached: true };
    }
  }
  return undefined;
}

function optionSpans(
  strings: readonly string[],
  words: readonly Word[],
  options: readonly OptionRule[],
  out: Span[],
): void {
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as Word;
    const o = optionOf(w.text, options);
    if (o === undefined) continue;
    const part = o.rule.part ?? "whole";
    const span = o.attached
      ? valueSpan(strings, w, w.lead + o.name.length + (o.name.length > 2 ? 1 : 0), part)
      : words[i + 1] && valueSpan(strings, words[++i] as Word, 0, part);
    if (span) out.push(span);
  }
}

function applyRule(
  strings: readonly string[],
  words: readonly Word[],
  rule: ToolRule,
  out: Span[],
): void {
  let from = 0;
  for (const word of rule.after ?? []) {
    const at = words.findIndex((w, i) => i >= from && w.text === word);
    if (at === -1) return;
    from = at + 1;
  }
  const rest = words.slice(from);
  if (rule.options) optionSpans(strings, rest, rule.options, out);
  const whole = (w: Word | undefined) => {
    const span = w && valueSpan(strings, w, 0, "whole");
    if (span) out.push(span);
  };
  if (rule.keyValue) {
    for (let i = 0; i + 1 < rest.length; i++) {
      const w = rest[i] as Word;
      if (!isOption(w) && isSecretKey(w.text)) whole(rest[++i]);
    }
  }
  if (rule.positional) {
    const args = rest.filter((w) => !isOption(w));
    for (const n of rule.positional) whole(args[n]);
  }
  if (rule.lastIfFlag !== undefined) {
    const flag = rule.lastIfFlag;
    const given = rest.some((w) => /^-[A-Za-z0-9]+$/.test(w.text) && w.text.includes(flag));
    const last = rest.at(-1);
    if (given && last !== undefined && !isOption(last)) whole(last);
  }
}

/**
 * The secret spans in a command given as words: each word whose basename is a known program
 * starts that program's arguments, which run to the next known program (unless it is an
 * option's value) or shell separator (so
 * `sudo mysql -ppw` and `sshpass -p pw ssh host mysql -ppw` are both covered). `strings` are
 * the strings the words' `elem` indexes.
 */
export function toolSecretSpans(strings: readonly string[], words: readonly Word[]): Span[] {
  const out: Span[] = [];
  for (let i = 0; i < words.length; i++) {
    const rules = BY_PROGRAM.get(basename((words[i] as Word).text));
    if (rules === undefined) continue;
    let end = i + 1;
    while (end < words.length) {
      const w = words[end] as Word;
      if (w.separator) break;
      // A program's name as an option's value (`sshpass -p git`) is that value, not a program.
      const prev = (words[end - 1] as Word).text;
      const isValue = rules.some((r) => r.options && optionOf(prev, r.options)?.attached === false);
      if (!isValue && BY_PROGRAM.has(basename(w.text))) break;
      end++;
    }
    const args = words.slice(i + 1, end);
    for (const rule of rules) applyRule(strings, args, rule, out);
    i = end - 1;
  }
  return out;
}

/** `strings` with every span replaced by `marker`; spans may overlap. */
export function maskSpans(
  strings: readonly string[],
  spans: readonly Span[],
  marker: string,
): string[] {
  const out = [...strings];
  const byElem = new Map<number, Span[]>();
  for (const s of spans) {
    const list = byElem.get(s.elem);
    if (list) list.push(s);
    else byElem.set(s.elem, [s]);
  }
  for (const [elem, list] of byElem) {
    const s = out[elem] ?? "";
    // Merge overlapping spans, then copy around them.
    const merged: [number, number][] = [];
    for (const { from, to } of [...list].sort((a, b) => a.from - b.from)) {
      const last = merged.at(-1);
      if (last && from <= last[1]) last[1] = Math.max(last[1], to);
      else merged.push([from, to]);
    }
    let r = "";
    let copied = 0;
    for (const [from, to] of merged) {
      r += s.slice(copied, from) + marker;
      copied = to;
    }
    out[elem] = r + s.slice(copied);
  }
  return out;
}
