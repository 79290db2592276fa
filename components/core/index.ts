export * from "./errors";
export * from "./hosts";
export * from "./policy";
export * from "./render/types";
