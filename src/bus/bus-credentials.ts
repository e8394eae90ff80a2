/**
 * The embedded bus's credentials: one random password per role (bus-roles.ts), generated on
 * the first start and kept in <dataDir>/nats/credentials.json, so that a `vigil scorer` or a
 * `vigil tail` started later on the same host finds them. The file is its owner's only (0600,
 * in a 0700 directory) and is refused, with the fix, if anyone else could read or replace it.
 */
import { randomBytes } from "node:crypto";
import { constants, lstatSync, readFileSync } from "node:fs";
import { chmod, lstat, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCodes, VigilError } from "../errors.js";
import { BUS_ROLES, type BusRole, inboxPrefix } from "./bus-roles.js";

export const CREDENTIALS_FILE = "credentials.json";

export interface RoleCredentials {
  user: string;
  password: string;
}

export type BusCredentials = Record<BusRole, RoleCredentials>;

/** <dataDir>/nats/credentials.json */
export function credentialsPath(dataDir: string): string {
  return join(dataDir, "nats", CREDENTIALS_FILE);
}

function generate(): BusCredentials {
  const out = {} as BusCredentials;
  for (const role of BUS_ROLES) {
    out[role] = { user: `vigil-${role}`, password: randomBytes(24).toString("base64url") };
  }
  return out;
}

function parse(path: string, text: string): BusCredentials {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new VigilError(ErrorCodes.NATS_CONNECT, `${path} is not JSON`, {
      hint: `delete ${path}; 'vigil run' writes new credentials at its next start`,
      cause,
    });
  }
  const roles = (json as { roles?: Record<string, unknown> } | null)?.roles;
  const out = {} as BusCredentials;
  for (const role of BUS_ROLES) {
    const c = roles?.[role] as Partial<RoleCredentials> | undefined;
    if (typeof c?.user !== "string" || typeof c.password !== "string" || c.password.length < 16) {
      throw new VigilError(ErrorCodes.NATS_CONNECT, `${path} has no usable "${role}" entry`, {
        hint: `delete ${path}; 'vigil run' writes new credentials at its next start`,
      });
    }
    out[role] = { user: c.user, password: c.password };
  }
  return out;
}

/** Refuses a file others could read or that someone else owns, as sshd's StrictModes does. */
function checkPrivate(path: string, st: { mode: number; uid: number; isFile(): boolean }): void {
  const euid = process.geteuid?.() ?? 0;
  if (!st.isFile()) {
    throw new VigilError(ErrorCodes.NATS_CONNECT, `${path} is not a regular file`, {
      hint: `remove ${path} (a symlink or device is never followed); 'vigil run' writes a new one`,
    });
  }
  if (st.uid !== euid) {
    throw new VigilError(
      ErrorCodes.NATS_CONNECT,
      `${path} belongs to uid ${st.uid}, not to this process (uid ${euid})`,
      { hint: `run as its owner, or remove it so that 'vigil run' writes new credentials` },
    );
  }
  if ((st.mode & 0o077) !== 0) {
    throw new VigilError(
      ErrorCodes.NATS_CONNECT,
      `${path} is readable by others (mode ${(st.mode & 0o777).toString(8)})`,
      { hint: `chmod 600 ${path}, or remove it: anyone who read it can use the bus` },
    );
  }
}

/**
 * The credentials in `dataDir`, generated if there are none. Written to a new file (O_EXCL,
 * O_NOFOLLOW, 0600) and renamed into place: a symlink planted there is replaced, not followed.
 */
export async function ensureBusCredentials(dataDir: string): Promise<BusCredentials> {
  const dir = join(dataDir, "nats");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const d = await lstat(dir);
  if (!d.isDirectory()) {
    throw new VigilError(ErrorCodes.NATS_START, `${dir} is not a directory`, {
      hint: `remove ${dir}; it holds the embedded server's store and credentials`,
    });
  }
  await chmod(dir, 0o700);
  const path = credentialsPath(dataDir);
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  if (st) {
    checkPrivate(path, st);
    return parse(path, await readFile(path, "utf8"));
  }
  const creds = generate();
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  const fh = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    await fh.writeFile(`${JSON.stringify({ version: 1, roles: creds }, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return creds;
}

/**
 * One role's credentials for a command that joins a local `vigil run`; undefined when there is
 * no credentials file (a `vigil run` from before credentials, or one with --nats).
 */
export function readRoleCredentials(dataDir: string, role: BusRole): RoleCredentials | undefined {
  const path = credentialsPath(dataDir);
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw unreadable(path, e);
  }
  checkPrivate(path, st);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw unreadable(path, e);
  }
  return parse(path, text)[role];
}

function unreadable(path: string, cause: unknown): VigilError {
  return new VigilError(
    ErrorCodes.NATS_CONNECT,
    `cannot read the bus credentials ${path}: ${(cause as Error).message}`,
    { hint: "run this command as the user that runs 'vigil run' (root: sudo)", cause },
  );
}

/** What a connection as `role` adds to its options: the user, its inbox, whether it makes streams. */
export function roleAuth(role: BusRole, c: RoleCredentials) {
  return {
    user: c.user,
    password: c.password,
    inboxPrefix: inboxPrefix(role),
    manageStreams: role === "admin",
  };
}
