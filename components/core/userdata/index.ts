/**
 * User data for a node, one form per file: cloud-config, shell, MIME multipart, whole documents for cloud-init,
 * EKS and Bottlerocket nodes, reading back what user data writes, and the clouds' size limits.
 */
export { renderBottlerocketUserData, refuseDockerOnBottlerocket, BottlerocketUserDataArgs } from "./bottlerocket";
export { renderCloudConfig } from "./cloud-config";
export {
  eksAmiFamily,
  renderEksNodeConfig,
  renderEksUserData,
  EksAmiFamily,
  EksClusterDetails,
  EksNodeConfigArgs,
  EksUserDataArgs,
} from "./eks";
export { DEFAULT_APPLY_SCRIPT_PATH, refuseSecretApplyScript, UserDataArgs } from "./files";
export { nodeEngineFile, NodeEngineFile } from "./engine-url";
export {
  checkUserDataSize,
  encodeCheckedUserData,
  encodeUserData,
  fitUserData,
  type FitOptions,
  USER_DATA_LIMITS,
  userDataSizeWarning,
  Compression,
  EncodeOptions,
  UserDataLimitTarget,
} from "./limits";
export {
  DEFAULT_MIME_BOUNDARY,
  MIME_CONTENT_TYPES,
  renderMimeMultipart,
  splitUserData,
  MimeOptions,
  MimePart,
  MimeTarget,
} from "./mime";
export { renderNodeUserData, NodeUserDataArgs, UserDataFormat } from "./node";
export { userDataFiles, UserDataFile } from "./read-back";
export { DEFAULT_USER_SCRIPT_PATH, renderShellUserData, ShellUserDataArgs } from "./shell";
