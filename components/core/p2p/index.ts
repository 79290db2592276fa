/** P2P image distribution from the mirror policy: Spegel's chart values and Dragonfly's proxy endpoint. Pure. */
export {
  SPEGEL_CHART,
  SPEGEL_CHART_VERSION,
  type SpegelChartValues,
  type SpegelMirrorDelivery,
  type SpegelOptions,
  spegelRegistry,
  spegelValues,
} from "./spegel";
export {
  DRAGONFLY_PROXY,
  DRAGONFLY_REGISTRY_HEADER,
  type DragonflyOptions,
  withDragonfly,
} from "./dragonfly";
