import { type Client, OpenFeature } from "@openfeature/server-sdk";
import type { TandemFlagProvider } from "./provider.js";

let domains = 0;

/**
 * Registers `provider` under a domain of its own and returns the OpenFeature client bound to
 * it, so tandem never replaces a provider the application set as its default.
 */
export async function bindClient(provider: TandemFlagProvider): Promise<{ client: Client; domain: string }> {
  const domain = `tandem-${++domains}`;
  await OpenFeature.setProviderAndWait(domain, provider);
  return { client: OpenFeature.getClient(domain), domain };
}
