// `registry-mirrors/alicloud`: Alibaba Cloud delivery helpers. Nothing here loads @pulumi/alicloud at import time.
export * from "./userdata";
// The ACR Enterprise Edition token source of RegistryCredentialSecret (valid 1 hour).
export { AcrTokenSource, acrCredential } from "./acr-token";
