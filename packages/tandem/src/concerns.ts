import { configConcern } from "@tandem/config";
import type { Concern } from "@tandem/core";
import { observabilityConcern } from "@tandem/observability";
import { resilienceConcern } from "@tandem/resilience";

/**
 * The concerns this build ships, in the order they start (and stop in reverse). The runtime
 * and the sidecar both compose this list, so a concern added here appears in both modes.
 * Observability comes first, so the others can record metrics from the start; configuration
 * next, since resilience reads its policies from it.
 */
export const builtinConcerns: readonly Concern[] = [observabilityConcern, configConcern, resilienceConcern];
