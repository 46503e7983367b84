export {
  CONFIG_FILE,
  loadConfig,
  parseConfig,
  pickService,
  resolveConfigPath,
  serviceSpecFromRaw,
  type LoadOptions,
  type LoadedConfig,
} from './load';
export {
  ALERT_METRICS,
  NAME_RE,
  STRATEGIES,
  configJsonSchema,
  configSchema,
  type AcceptanceConfig,
  type AlertConfig,
  type AutoscaleConfig,
  type CanaryConfig,
  type CanaryStepConfig,
  type DeployConfig,
  type HealthcheckConfig,
  type LogsConfig,
  type RainbowConfig,
  type RollingConfig,
  type ServiceConfig,
  type ShipitConfig,
  type ShipitConfigInput,
} from './schema';
export {
  describeValue,
  formatDuration,
  parseDuration,
  parseSize,
  tryParseDuration,
  tryParseSize,
} from './duration';
export { parseApiListen, parseHostPort, type ApiListen, type HostPort } from './listen';
export { formatKeyPath, type ConfigProblem } from './issues';
export { STARTER_CONFIG } from './init-template';
