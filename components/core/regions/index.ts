export * from "./alicloud";
export * from "./aws";
export * from "./catalog";
export * from "./dead-mirrors";
export * from "./list";
export * from "./probe";
export * from "./select";
