import { readFileSync } from "node:fs";
import { ErrorCodes, VigilError } from "../errors.js";
import { isObject } from "./config-layers.js";

/**
 * The JSON object in `file`, or undefined when an unnamed (default) file does not exist.
 * Throws VigilError(CONFIG_FILE) for an unreadable file or bad JSON, naming the line and column.
 */
export function readConfigFile(file: string, named: boolean): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !named) return undefined;
    throw new VigilError(
      ErrorCodes.CONFIG_FILE,
      code === "ENOENT"
        ? `config file ${file} does not exist`
        : `cannot read config file ${file}: ${(cause as Error).message}`,
      { hint: "name an existing, readable JSON file, or none to use the defaults", cause },
    );
  }
  text = text.replace(/^\uFEFF/, "");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    // V8's messages carry a position for some errors only, so find it ourselves.
    const at = jsonErrorOffset(text);
    const before = text.slice(0, at).split("\n");
    const where = `line ${before.length}, column ${(before.at(-1) ?? "").length + 1} (position ${at})`;
    // Drop V8's own position and its echo of the (possibly long, multi-line) input.
    const reason = (cause as Error).message
      .replace(/, ".*" is not valid JSON$/s, "")
      .replace(/ in JSON at position \d+.*$/s, "");
    throw new VigilError(
      ErrorCodes.CONFIG_FILE,
      `config file ${file} is not valid JSON at ${where}: ${reason}`,
      { hint: "fix the JSON there; comments and trailing commas are not allowed", cause },
    );
  }
  // Checked here because a later layer would otherwise replace a non-object file wholesale.
  if (!isObject(value)) {
    const got = Array.isArray(value) ? "an array" : value === null ? "null" : typeof value;
    throw new VigilError(
      ErrorCodes.CONFIG_INVALID,
      `invalid configuration: config file ${file} holds ${got}, expected a JSON object`,
      { hint: 'write the settings as an object, e.g. {"sensor": {"windowSeconds": 5}}' },
    );
  }
  return value;
}

/** Offset of the first JSON syntax error in `text` (text.length if the input ends too soon). */
function jsonErrorOffset(text: string): number {
  let i = 0;
  const eat = (re: RegExp): boolean => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (m === null || m[0] === "") return false;
    i = re.lastIndex;
    return true;
  };
  const ws = () => eat(/[ \t\n\r]+/y);
  const string = (): boolean => {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: JSON forbids raw control characters in strings
    eat(/"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*/y);
    return text[i] === '"' && ++i > 0;
  };
  const list = (close: string, item: () => boolean): boolean => {
    i++;
    ws();
    if (text[i] === close) return ++i > 0;
    for (;;) {
      ws();
      if (!item()) return false;
      ws();
      if (text[i] === close) return ++i > 0;
      if (text[i] !== ",") return false;
      i++;
    }
  };
  const member = (): boolean => {
    if (text[i] !== '"' || !string()) return false;
    ws();
    if (text[i] !== ":") return false;
    i++;
    return value();
  };
  const value = (): boolean => {
    ws();
    if (text[i] === "{") return list("}", member);
    if (text[i] === "[") return list("]", value);
    if (text[i] === '"') return string();
    return eat(/-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y);
  };
  if (value()) ws();
  return i;
}
