/**
 * `registry-mirrors/kubernetes`: Kubernetes delivery — the node-config DaemonSet builder and the registry credential
 * sources. Loading this module does not load the Kubernetes, AWS or Alibaba Cloud SDKs; each is loaded by the
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
  AcrTokenSource,
  EcrTokenSource,
  RegistryCredentialInput,
  acrCredential,
  credentialOutput,
  credentialSource,
  ecrCredential,
} from "./credentials";
export {
  CHECKSUM_ANNOTATION,
  DEFAULT_NODE_CONFIG_IMAGE,
  DOCKER_HUB_AUTH_KEY,
  HOST_RUNTIME_CTL,
  NODE_CONFIG_DIRS,
  NodeConfigMode,
  RegistryCredential,
  ResourceRequirements,
  Toleration,
  dockerConfigJson,
  nodeConfigManifests,
  registryAuthKey,
  resolveStaticCredential,
  scriptChecksum,
} from "../core/kubernetes";
export { RegistryCredentialSecret, RegistryCredentialSecretArgs } from "../registry-credential-secret";
