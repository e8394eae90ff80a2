/**
 * Coarse classification of file paths an agent touches. The class, not the path, becomes a
 * model feature, so the rules favour stable, explainable buckets over precision. Runs on every
 * open event: pure string work on a lexically normalised path, never the filesystem (the file
 * may be gone, or be a symlink the agent did not follow).
 */
import { posix } from "node:path";
import { ErrorCodes, VigilError } from "../errors.js";
import { compileLinearRegExp, type LinearRegExp } from "./linear-regex.js";

export type FileClass = "workspace" | "home" | "system" | "secret" | "temp" | "other";

export interface FileClassOptions {
  /** Home directories (absolute). A home of "/" is ignored: it would make every path "home". */
  homes: readonly string[];
  /** Workspace roots (absolute) that count as "workspace" for every agent. */
  workspaces?: readonly string[];
  /**
   * Extra secret globs: "*" within a component, "**" across components, "?" one character.
   * "/abs/..." is anchored at the root, "~/..." under any home, anything else matches at any
   * component boundary (so "*.kdbx" matches that file name anywhere). A trailing "/" means the
   * directory and everything below it.
   */
  extraSecretGlobs?: readonly string[];
}

/** Secret directories relative to a home; the directory itself counts too. */
const HOME_SECRET_DIRS = [
  ".ssh",
  ".aws",
  ".gnupg",
  ".config/gcloud",
  ".azure",
  ".password-store",
  ".local/share/keyrings",
];
const HOME_SECRET_FILES = new Set([
  ".kube/config",
  ".docker/config.json",
  ".netrc",
  ".npmrc",
  ".pypirc",
  ".git-credentials",
  ".vault-token",
  ".config/gh/hosts.yml",
]);
// "-" suffixed copies are the backups shadow-utils leaves next to the originals.
const SECRET_FILES = new Set([
  "/etc/shadow",
  "/etc/shadow-",
  "/etc/gshadow",
  "/etc/gshadow-",
  "/etc/sudoers",
]);
// /var/run/secrets holds the Kubernetes service-account token.
const SECRET_DIRS = ["/etc/sudoers.d", "/run/secrets", "/var/run/secrets"];
const SSH_HOST_PRIVATE_KEY = /^\/etc\/ssh\/ssh_host_[^/]*_key$/;
const PROC_ENVIRON = /^\/proc\/(?:\d+|self|thread-self)(?:\/task\/\d+)?\/environ$/;
const SECRET_NAMES = new Set(["credentials.json", "secrets.yaml", "secrets.yml"]);
const SSH_KEY_NAME = /^id_(?:rsa|ed25519|ecdsa|dsa)/;
// Committed templates are read constantly by coding agents and hold no secrets.
const ENV_TEMPLATE = /^\.env\.(?:example|sample|template)$/;
// Public CA bundles are .pem too, and every TLS client (certifi's cacert.pem) opens them.
const CA_STORES = [
  "/etc/ssl/certs",
  "/etc/pki/ca-trust",
  "/etc/ca-certificates",
  "/usr/share/ca-certificates",
];
const PUBLIC_PEM = /^ca(?:cert|-bundle|-certificates)\.pem$/;

const TEMP_DIRS = ["/tmp", "/var/tmp", "/dev/shm"];
const RUN_USER = /^\/run\/user\/\d+(?:\/|$)/;
const SYSTEM_DIRS = [
  "/usr",
  "/etc",
  "/lib",
  "/lib64",
  "/bin",
  "/sbin",
  "/opt",
  "/proc",
  "/sys",
  "/dev",
  "/var/lib",
  "/boot",
  "/snap",
  "/nix",
];

/** Lexical normalisation; undefined for relative paths, which cannot be placed. */
function normalise(path: string): string | undefined {
  if (!path.startsWith("/")) return undefined;
  const n = posix.normalize(path);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || (path.startsWith(dir) && path[dir.length] === "/");
}

function isUnderAny(path: string, dirs: readonly string[]): boolean {
  return dirs.some((dir) => isUnder(path, dir));
}

function normaliseRoots(kind: string, roots: readonly string[]): string[] {
  const out: string[] = [];
  for (const root of roots) {
    const n = normalise(root);
    if (n === undefined) {
      throw new VigilError(
        ErrorCodes.CONFIG_INVALID,
        `file-class: ${kind} "${root}" is not absolute`,
        {
          hint: `list ${kind} directories as absolute paths, e.g. "/home/alice"`,
        },
      );
    }
    if (n !== "/") out.push(n);
  }
  // Longest first so nested roots resolve to the innermost one.
  return out.sort((a, b) => b.length - a.length);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Linear-time, as every operator pattern is (see linear-regex.ts); undefined never matches. */
function globToRegExp(glob: string, homes: readonly string[]): LinearRegExp | undefined {
  if (glob.trim() === "") {
    throw new VigilError(ErrorCodes.CONFIG_INVALID, "file-class: empty extra secret glob", {
      hint: "remove the empty entry from extraSecretGlobs",
    });
  }
  let prefix: string;
  let body = glob.endsWith("/") ? `${glob}**` : glob;
  if (body.startsWith("/")) prefix = "^";
  else if (body.startsWith("~/")) {
    // No homes: "~/" globs can never match.
    if (homes.length === 0) return undefined;
    prefix = `^(?:${homes.map(escapeRegExp).join("|")})/`;
    body = body.slice(2);
  } else prefix = "(?:^|/)";
  let re = "";
  for (let i = 0; i < body.length; ) {
    if (body.startsWith("**/", i)) {
      re += "(?:.*/)?";
      i += 3;
    } else if (body.startsWith("/**", i) && i + 3 === body.length) {
      re += "(?:/.*)?";
      i += 3;
    } else if (body.startsWith("**", i)) {
      re += ".*";
      i += 2;
    } else if (body[i] === "*") {
      re += "[^/]*";
      i += 1;
    } else if (body[i] === "?") {
      re += "[^/]";
      i += 1;
    } else {
      re += escapeRegExp(body[i] ?? "");
      i += 1;
    }
  }
  return compileLinearRegExp(`${prefix}${re}$`, `sensor.secretGlobs ${JSON.stringify(glob)}`);
}

function isSecretName(path: string): boolean {
  const name = posix.basename(path);
  if (name === ".env" || (name.startsWith(".env.") && !ENV_TEMPLATE.test(name))) return true;
  if (name.endsWith(".pem")) return !PUBLIC_PEM.test(name) && !isUnderAny(path, CA_STORES);
  if (name.endsWith(".key")) return true;
  if (SSH_KEY_NAME.test(name)) return !name.endsWith(".pub");
  return SECRET_NAMES.has(name);
}

export function createFileClassifier(
  options: FileClassOptions,
): (absPath: string, cwdWorkspace?: string) => FileClass {
  const homes = normaliseRoots("home", options.homes);
  const workspaces = normaliseRoots("workspace", options.workspaces ?? []);
  const extraSecrets = (options.extraSecretGlobs ?? []).flatMap(
    (g) => globToRegExp(g, homes) ?? [],
  );

  const isSecret = (path: string): boolean => {
    if (SECRET_FILES.has(path) || isUnderAny(path, SECRET_DIRS)) return true;
    if (SSH_HOST_PRIVATE_KEY.test(path) || PROC_ENVIRON.test(path)) return true;
    for (const home of homes) {
      if (!isUnder(path, home) || path === home) continue;
      const rel = path.slice(home.length + 1);
      if (HOME_SECRET_FILES.has(rel) || isUnderAny(rel, HOME_SECRET_DIRS)) return true;
    }
    return isSecretName(path) || extraSecrets.some((re) => re.test(path));
  };

  return (absPath, cwdWorkspace) => {
    const path = normalise(absPath);
    if (path === undefined) return "other";
    if (isSecret(path)) return "secret";
    if (isUnderAny(path, workspaces)) return "workspace";
    if (cwdWorkspace !== undefined) {
      const cwd = normalise(cwdWorkspace);
      // An agent started in "/" has no workspace; counting everything as one would hide it all.
      if (cwd !== undefined && cwd !== "/" && isUnder(path, cwd)) return "workspace";
    }
    // A home configured inside /tmp (a sandboxed agent's HOME) is a home, like a workspace there.
    if (isUnderAny(path, homes)) return "home";
    if (isUnderAny(path, TEMP_DIRS) || RUN_USER.test(path)) return "temp";
    if (isUnderAny(path, SYSTEM_DIRS)) return "system";
    return "other";
  };
}
