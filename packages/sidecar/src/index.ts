export type { SidecarControl } from "./builtin-routes.js";
export type { ListenAddress } from "./listen-address.js";
export { formatListenAddress, parseListenAddress } from "./listen-address.js";
export type { OpenApiDocument } from "./openapi.js";
export { buildOpenApi } from "./openapi.js";
export type { SidecarOptions } from "./sidecar.js";
export { Sidecar } from "./sidecar.js";
