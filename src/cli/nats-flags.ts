/**
 * The NATS connection flags every bus command shares, and how a command finds the bus:
 * --nats URL, else VIGIL_NATS_URL, else the embedded server that `vigil run` on this host
 * started (it writes its URL to <dataDir>/nats/url).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readRoleCredentials, roleAuth } from "../bus/bus-credentials.js";
import type { BusRole } from "../bus/bus-roles.js";
import type { NatsBusOptions } from "../bus/nats-bus.js";
import { ErrorCodes, VigilError } from "../errors.js";

export const NATS_FLAGS = {
  nats: { type: "string" },
  "nats-user": { type: "string" },
  "nats-password": { type: "string" },
  "nats-token": { type: "string" },
  "nats-creds": { type: "string" },
  "nats-ca": { type: "string" },
  "nats-cert": { type: "string" },
  "nats-key": { type: "string" },
  "nats-allow-anonymous": { type: "boolean" },
} as const;

export const NATS_FLAGS_HELP = `  --nats URL[,URL...]     NATS server(s); default: the embedded server of 'vigil run' on this host
  --nats-user U --nats-password P | --nats-token T | --nats-creds FILE
  --nats-ca FILE --nats-cert FILE --nats-key FILE   TLS (CA to trust; client certificate)
  --nats-allow-anonymous  allow connecting to a remote server without credentials`;

export type NatsFlagValues = {
  nats?: string | undefined;
  "nats-user"?: string | undefined;
  "nats-password"?: string | undefined;
  "nats-token"?: string | undefined;
  "nats-creds"?: string | undefined;
  "nats-ca"?: string | undefined;
  "nats-cert"?: string | undefined;
  "nats-key"?: string | undefined;
  "nats-allow-anonymous"?: boolean | undefined;
};

/** The URL file the embedded server writes, so that other commands on the host can find it. */
export function embeddedUrlFile(dataDir: string): string {
  return join(dataDir, "nats", "url");
}

/**
 * Connection options from the flags. A command that finds the bus through the URL file of a
 * local `vigil run` (no --nats, no credentials given) connects as `role`, with that server's
 * generated credentials (readable by the user that runs `vigil run` only).
 */
export function natsOptionsFromFlags(
  v: NatsFlagValues,
  fallback: { envUrl?: string | undefined; dataDir: string; role: BusRole },
): NatsBusOptions {
  let url = v.nats ?? fallback.envUrl;
  let local = false;
  if (!url) {
    local = true;
    try {
      url = readFileSync(embeddedUrlFile(fallback.dataDir), "utf8").trim();
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === "EACCES") {
        throw new VigilError(
          ErrorCodes.NATS_CONNECT,
          `cannot read ${embeddedUrlFile(fallback.dataDir)}: permission denied`,
          { hint: "run this command as the user that runs 'vigil run' (root: sudo)", cause },
        );
      }
      throw new VigilError(
        ErrorCodes.NATS_CONNECT,
        "no NATS server given and no local 'vigil run' found",
        {
          hint: "start 'vigil run' on this host, or pass --nats nats://host:4222",
        },
      );
    }
  }
  const o: NatsBusOptions = {
    servers: url
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  };
  const given = v["nats-user"] ?? v["nats-token"] ?? v["nats-creds"] ?? v["nats-cert"];
  const creds =
    local && given === undefined ? readRoleCredentials(fallback.dataDir, fallback.role) : undefined;
  if (creds) Object.assign(o, roleAuth(fallback.role, creds));
  if (v["nats-user"] !== undefined) o.user = v["nats-user"];
  if (v["nats-password"] !== undefined) o.password = v["nats-password"];
  if (v["nats-token"] !== undefined) o.token = v["nats-token"];
  if (v["nats-creds"] !== undefined) o.credsFile = v["nats-creds"];
  if (v["nats-allow-anonymous"]) o.allowAnonymous = true;
  if (v["nats-ca"] || v["nats-cert"] || v["nats-key"]) {
    o.tls = {
      ...(v["nats-ca"] ? { caFile: v["nats-ca"] } : {}),
      ...(v["nats-cert"] ? { certFile: v["nats-cert"] } : {}),
      ...(v["nats-key"] ? { keyFile: v["nats-key"] } : {}),
    };
  }
  return o;
}

/** The same flags as a `nats` config layer, for commands that load the full configuration. */
export function natsConfigFromFlags(v: NatsFlagValues): Record<string, unknown> | undefined {
  const tls = {
    ...(v["nats-ca"] ? { caFile: v["nats-ca"] } : {}),
    ...(v["nats-cert"] ? { certFile: v["nats-cert"] } : {}),
    ...(v["nats-key"] ? { keyFile: v["nats-key"] } : {}),
  };
  const n = {
    ...(v.nats ? { url: v.nats } : {}),
    ...(v["nats-user"] ? { user: v["nats-user"] } : {}),
    ...(v["nats-password"] ? { password: v["nats-password"] } : {}),
    ...(v["nats-token"] ? { token: v["nats-token"] } : {}),
    ...(v["nats-creds"] ? { credsFile: v["nats-creds"] } : {}),
    ...(v["nats-allow-anonymous"] ? { allowAnonymous: true } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
  return Object.keys(n).length > 0 ? n : undefined;
}
