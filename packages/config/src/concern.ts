import { NOOP_PROVIDER, OpenFeature } from "@openfeature/server-sdk";
import type { Concern, ConcernInstance, Facets } from "@tandem/core";
import { bindClient } from "./flags/flags-client.js";
import { LocalConfigSources } from "./local/local-config.js";
import { RemoteConfigSources } from "./remote/remote-config.js";
import { configRoutes } from "./routes.js";

type ConfigFacets = Pick<Facets, "config" | "flags" | "secrets">;

/** The local instance, with the sources the sidecar routes serve. */
interface LocalConfigInstance extends ConcernInstance<ConfigFacets> {
  sources: LocalConfigSources;
}

/**
 * Configuration, feature flags and secrets: files watched in-process in library mode (and in
 * the sidecar), synced from the sidecar in sidecar mode. Flags are evaluated in-process in both.
 */
export const configConcern: Concern<ConfigFacets, LocalConfigInstance> = {
  name: "config",

  async local(context) {
    const sources = await LocalConfigSources.open({
      file: context.env.configPath,
      env: context.variables,
      appSchema: context.appSchema,
      logger: context.logger,
      metrics: context.facets.metrics,
    });
    const { client, domain } = await bindClient(sources.provider);
    return {
      sources,
      facets: { config: sources.store, flags: client, secrets: sources.secrets },
      close: async () => {
        sources.close();
        await OpenFeature.setProviderAndWait(domain, NOOP_PROVIDER);
      },
    };
  },

  async remote(context) {
    const sources = await RemoteConfigSources.open({
      client: context.client,
      logger: context.logger,
      appSchema: context.appSchema,
    });
    const { client, domain } = await bindClient(sources.provider);
    return {
      facets: { config: sources.store, flags: client, secrets: sources.secrets },
      close: async () => {
        sources.close();
        await OpenFeature.setProviderAndWait(domain, NOOP_PROVIDER);
      },
    };
  },

  routes: (instance, context) => configRoutes(instance.sources, context.logger),
};
