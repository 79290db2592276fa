// `registry-mirrors/alicloud`: Alibaba Cloud delivery helpers. Nothing here loads @pulumi/alicloud at import time.
export * from "./userdata";
