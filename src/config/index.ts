export type { Rule } from "../sensor/rules.js";
export { DEFAULT_CONFIG_FILE, type LoadConfigOptions, loadConfig } from "./config.js";
export { CONFIG_ENV_VARS, type EnvVar } from "./config-env.js";
export type {
  Config,
  ConfigInput,
  HelperRestartConfig,
  LogLevel,
  PrivacyConfig,
  ScorerConfig,
  SensorConfig,
} from "./config-schema.js";
