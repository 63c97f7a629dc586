import { configConcern } from "@tandem/config";
import type { Concern } from "@tandem/core";

/**
 * The concerns this build ships, in the order they start (and stop in reverse). The runtime
 * and the sidecar both compose this list, so a concern added here appears in both modes.
 * Configuration comes first: the others read their settings from it.
 */
export const builtinConcerns: readonly Concern[] = [configConcern];
