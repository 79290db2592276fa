export * from "./errors";
export * from "./host-port";
export * from "./policy";
export * from "./render/types";
export * from "./regions";
export { DockerSettingsInput, renderDocker, parseKeyValue } from "./render/docker";
export { DOCKER_RELOADABLE_KEYS } from "./render/docker-keys";
export {
  NodeApplyPlan,
  ManagedFile,
  renderApplyScript,
  renderNodeEngine,
  renderNodeData,
  splitApplyScript,
  engineVersionOf,
  ENGINE_VERSION,
} from "./node-script";
export { RUNTIMES, RuntimeSpec, ChangeKind } from "./runtimes";
export {
  renderContainerdHosts,
  renderContainerdConfigFragment,
  DEFAULT_CONTAINERD_CERTS_DIR,
} from "./render/containerd";
export { renderRegistriesConf, REGISTRIES_CONF_DROPIN } from "./render/registries-conf";
export { renderK3sRegistries, K3sRegistryAuth, K3sRegistryTls } from "./render/k3s";
export { renderBuildkitToml } from "./render/buildkit";
export { renderBottlerocketSettings } from "./render/bottlerocket";
export { renderRuntimeFiles, RuntimeRenderOptions } from "./render/runtimes";
export {
  renderCloudConfig,
  renderShellUserData,
  renderMimeMultipart,
  splitUserData,
  encodeUserData,
  checkUserDataSize,
  encodeCheckedUserData,
  USER_DATA_LIMITS,
  MimePart,
  UserDataLimitTarget,
  renderNodeUserData,
  renderEksUserData,
  renderEksNodeConfig,
  renderBottlerocketUserData,
  eksAmiFamily,
  fitUserData,
  userDataFiles,
  refuseDockerOnBottlerocket,
  refuseSecretApplyScript,
  MIME_CONTENT_TYPES,
  DEFAULT_APPLY_SCRIPT_PATH,
  DEFAULT_MIME_BOUNDARY,
  Compression,
  UserDataFormat,
  UserDataFile,
  EksAmiFamily,
  EksClusterDetails,
  NodeUserDataArgs,
  EksUserDataArgs,
  MimeOptions,
  MimeTarget,
} from "./userdata";
export {
  NodeConfigInput,
  RenderedNodeConfig,
  renderNodeConfig,
  nodeConfigUserData,
  DEFAULT_RUNTIMES,
} from "./render/node-config";
export {
  buildWatchPlan,
  renderWatchPlan,
  resolveWatchdogSettings,
  watchdogBounds,
  WATCHDOG_DEFAULTS,
  type WatchdogSettingsInput,
  type WatchPlan,
  type WatchPlanInput,
  type WatchTimings,
  type WatchdogBounds,
} from "./watch-plan";
