// `registry-mirrors/aws`: AWS delivery helpers. Nothing here loads @pulumi/aws at import time.
export * from "./userdata";
