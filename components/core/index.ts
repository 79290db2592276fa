/**
 * `registry-mirrors/core`: the pure core for advanced use — no Pulumi, no SDK. Validate a mirror policy, render any
 * runtime's files, the node apply script and user data, and pick a cloud region's mirrors, as plain functions
 * (plain values in, strings out, deterministic). The components in the package root are built on these.
 *
 * @module
 */
export { PolicyError, type Warnings } from "./errors";
export {
  ANY_REGISTRY,
  DOCKER_HUB,
  type Capability,
  type MirrorAuth,
  type MirrorEndpoint,
  type MirrorEndpointInput,
  type MirrorPolicy,
  type MirrorPolicyInput,
  parseCaBundle,
  type PullFromMirror,
  type RegistryMirrors,
  type RegistryMirrorsInput,
  type HarborProxyInput,
  harborProxyPolicy,
  isAcrRegistryHost,
  isDockerHubName,
  isPublicRange,
  normalisePolicy,
  registryEntry,
} from "./policy";
export { RUNTIME_NAMES, type NodeFile, type RestartPolicy, type RuntimeName } from "./render/types";

// Renderers, one per runtime format.
export {
  type DockerAddressPoolInput,
  type DockerRender,
  type DockerSettingsInput,
  type DockerUlimitInput,
  renderDocker,
} from "./render/docker";
export { DOCKER_RELOADABLE_KEYS } from "./render/docker-keys";
export {
  type ContainerdHostsFile,
  type ContainerdHostsOptions,
  type EcrAuthEndpoint,
  DEFAULT_CONTAINERD_CERTS_DIR,
  DEFAULT_CONTAINERD_DIAL_TIMEOUT,
  renderContainerdConfigFragment,
  renderContainerdHosts,
} from "./render/containerd";
export { REGISTRIES_CONF_DROPIN, type RegistriesConfOptions, renderRegistriesConf } from "./render/registries-conf";
export {
  type K3sRegistriesOptions,
  type K3sRegistryAuth,
  type K3sRegistryTls,
  renderK3sEmbeddedRegistry,
  renderK3sRegistries,
} from "./render/k3s";
export {
  DRAGONFLY_PROXY,
  DRAGONFLY_REGISTRY_HEADER,
  type DragonflyOptions,
  SPEGEL_CHART,
  SPEGEL_CHART_VERSION,
  type SpegelChartValues,
  type SpegelMirrorDelivery,
  type SpegelOptions,
  spegelRegistry,
  spegelValues,
  withDragonfly,
} from "./p2p";
export { type BuildkitTomlOptions, renderBuildkitToml } from "./render/buildkit";
export { type BottlerocketSettingsOptions, renderBottlerocketSettings } from "./render/bottlerocket";
// CI pipelines: the DinD service, GitLab Runner's config.toml, buildx's buildkitd.toml, Kaniko's flags.
export {
  type BuildxSettings,
  CI_TARGETS,
  type CiMirrorSettings,
  type CiMirrorSettingsOf,
  type CiOptions,
  type CiTarget,
  ciMirrorSettings,
  type DindConfigMode,
  type DindSettings,
  type GitlabRunnerExecutor,
  type GitlabRunnerSettings,
  type KanikoSettings,
  renderBuildx,
  renderDind,
  renderGitlabRunner,
  renderKaniko,
  type ResolvedCiOptions,
  resolveCiOptions,
} from "./ci";
export {
  type ContainerdRenderOptions,
  type K3sRenderOptions,
  type RuntimeFiles,
  type RuntimeRenderOptions,
  renderRuntimeFiles,
} from "./render/runtimes";

// The node apply script and what delivers it.
export {
  ENGINE_VERSION,
  type EngineParts,
  type ManagedFile,
  type NodeApplyPlan,
  engineVersionOf,
  renderApplyScript,
  renderNodeData,
  renderNodeEngine,
  splitApplyScript,
} from "./node-script";
export { type ChangeKind, RUNTIMES, type RuntimeSpec } from "./runtimes";
export {
  buildWatchPlan,
  renderWatchPlan,
  resolveWatchdogSettings,
  watchdogBounds,
  WATCHDOG_DEFAULTS,
  type WatchdogBounds,
  type WatchdogSettingsInput,
  type WatchPlan,
  type WatchPlanInput,
  type WatchTimings,
  type WatchEndpoint,
  type WatchFile,
  type WatchChunk,
} from "./watch-plan";
export {
  type EngineFacts,
  type FileChange,
  type NodeData,
  type NodeDataFile,
  type NodeDataSettings,
  type PayloadFile,
  type ReviewFormat,
  type NodePayload,
  parseNodeData,
  type RenderReviewOptions,
  renderReview,
  type ResourceReview,
  reviewPayloads,
  reviewPreview,
} from "./review";
export {
  DEFAULT_RUNTIMES,
  type NodeConfigInput,
  type RenderedNodeConfig,
  nodeConfigUserData,
  renderNodeConfig,
} from "./render/node-config";
export {
  type BottlerocketUserDataArgs,
  type Compression,
  DEFAULT_APPLY_SCRIPT_PATH,
  DEFAULT_MIME_BOUNDARY,
  DEFAULT_USER_SCRIPT_PATH,
  type EksAmiFamily,
  type EksClusterDetails,
  type EksNodeConfigArgs,
  type EksUserDataArgs,
  type EncodeOptions,
  MIME_CONTENT_TYPES,
  type MimeOptions,
  type MimePart,
  type MimeTarget,
  type NodeUserDataArgs,
  type ShellUserDataArgs,
  USER_DATA_LIMITS,
  type UserDataArgs,
  type UserDataFile,
  type UserDataFormat,
  type UserDataLimitTarget,
  checkUserDataSize,
  eksAmiFamily,
  fitUserData,
  type FitOptions,
  userDataFiles,
  splitUserData,
  encodeUserData,
  renderBottlerocketUserData,
  renderCloudConfig,
  renderEksNodeConfig,
  renderEksUserData,
  renderMimeMultipart,
  renderNodeUserData,
  renderShellUserData,
  nodeEngineFile,
  type NodeEngineFile,
} from "./userdata";
export {
  type NodeConfigMode,
  type RegistryCredential,
  type ResourceRequirements,
  type Toleration,
  dockerConfigJson,
} from "./kubernetes";

// Cloud regions and mirror selection.
export {
  type CatalogMirror,
  CLOUDS,
  type CloudName,
  type MirrorInput,
  type NetworkKind,
  type UserCatalog,
  type UserCatalogRegion,
} from "./regions/catalog";
export {
  AWS_REGIONS,
  type AwsPartition,
  type AwsRegion,
  ECR_UPSTREAMS,
  type EcrUpstream,
  ecrPullThroughUrl,
} from "./regions/aws";
export {
  ALICLOUD_REGIONS,
  type AcrEndpoints,
  type AlicloudRegion,
  acceleratorUrl,
  acrEndpoints,
} from "./regions/alicloud";
export { DEAD_MIRRORS, type DeadMirror, findDeadMirror } from "./regions/dead-mirrors";
export { type RegionListing, formatRegions, listRegions } from "./regions/list";
export {
  DEFAULT_LATENCY_MARGIN_MS,
  type ProbeOptions,
  type ProbeOrderOptions,
  type ProbeOrdering,
  type ProbeResult,
  type ProbeTarget,
  formatProbeTable,
  orderByProbe,
  probeMirrors,
} from "./regions/probe";
export { type RegionSelection, type RegionSelectionInput, selectMirrors } from "./regions/select";

// The self-hosted pull-through cache (PullThroughCache's pure part) and the CA files of `ca` endpoints.
export {
  CACHE_CONFIG_ANNOTATION,
  CACHE_PORT,
  type CacheEnvVar,
  type CacheManifest,
  type CacheManifestMeta,
  type ManifestObject,
  type CacheStorageInput,
  type CacheTlsInput,
  type CacheUpstreamInput,
  DEFAULT_CACHE_IMAGE,
  type PullThroughCacheInput,
  type PullThroughCacheManifests,
  type ResolvedCacheSettings,
  type ResolvedStorage,
  type ResolvedUpstream,
  type SecretKeyRef,
  type UpstreamCacheManifests,
  type UpstreamCredentialsRef,
  cacheEnv,
  cachePolicyFragment,
  pullThroughCacheManifests,
  registrySlug,
  renderCacheConfig,
  resolveCacheSettings,
} from "./cache";
export { CONTAINERS_CERTS_DIR, DOCKER_CERTS_DIR, renderCaFiles } from "./render/ca-files";
