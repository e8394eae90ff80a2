export type { Rule } from "../sensor/rules.js";
export {
  CONFIG_ENV_VARS,
  type Config,
  type ConfigInput,
  DEFAULT_CONFIG_FILE,
  type EnvVar,
  type HelperRestartConfig,
  type LoadConfigOptions,
  type LogLevel,
  loadConfig,
  type PrivacyConfig,
  type SensorConfig,
} from "./config.js";
