/**
 * `registry-mirrors/kubernetes`: Kubernetes delivery — the node-config DaemonSet builder and the manifest helpers
 * behind it (the registry credential sources live in `registry-mirrors/aws` and `registry-mirrors/alicloud`). Loading this module does not load the Kubernetes, AWS or Alibaba Cloud SDKs; each is loaded by the
 * function that needs it, when it runs.
 */
export {
  NodeConfigContent,
  NodeConfigKubernetesArgs,
  NodeConfigResources,
  type ResolvedNodeConfigKubernetesArgs,
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
