/**
 * `registry-mirrors/kubernetes`: Kubernetes delivery — the node-config DaemonSet builder and the manifest helpers
 * behind it (the registry credential sources live in `registry-mirrors/aws` and `registry-mirrors/alicloud`). Loading this module does not load the Kubernetes, AWS or Alibaba Cloud SDKs; each is loaded by the
 * function that needs it, when it runs.
 */
export {
  NodeConfigContent,
  NodeConfigKubernetesArgs,
  NodeConfigResources,
  createNodeConfigResources,
  nodeConfigDirs,
  resolveNodeConfigArgs,
} from "./node-config";
export {
  CHECKSUM_ANNOTATION,
  type ConfigMapManifest,
  type ContainerManifest,
  type DaemonSetManifest,
  type NodeConfigManifestOptions,
  type ObjectMeta,
  type PodSpecManifest,
  type SecretManifest,
  type VolumeManifest,
  DEFAULT_NODE_CONFIG_IMAGE,
  DOCKER_HUB_AUTH_KEY,
  HOST_RUNTIME_CTL,
  NODE_CONFIG_DIRS,
  NodeConfigMode,
  NodeConfigSpec,
  RegistryCredential,
  ResourceRequirements,
  StaticCredentialInput,
  Toleration,
  dockerConfigJson,
  nodeConfigManifests,
  registryAuthKey,
  resolveStaticCredential,
  scriptChecksum,
} from "../core/kubernetes";
export {
  PullThroughCache,
  type PullThroughCacheArgs,
  type PullThroughCacheCredentials,
  type PullThroughCacheObjects,
  type PullThroughCacheStorage,
  type PullThroughCacheUpstreamArgs,
} from "./pull-through-cache";
export {
  CACHE_CONFIG_ANNOTATION,
  CACHE_PORT,
  DEFAULT_CACHE_IMAGE,
  type CacheManifest,
  type CacheManifestMeta,
  type ManifestObject,
  type CacheUpstreamInput,
  type PullThroughCacheInput,
  type PullThroughCacheManifests,
  type ResolvedCacheSettings,
  type ResolvedStorage,
  type ResolvedUpstream,
  type UpstreamCacheManifests,
  cachePolicyFragment,
  pullThroughCacheManifests,
  renderCacheConfig,
  resolveCacheSettings,
} from "../core/cache";
