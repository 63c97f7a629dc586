import type { Secrets } from "@tandem/core";

/** Secret values shorter than this are not redacted: they would mangle every line. */
const MIN_SECRET_LENGTH = 4;

export const REDACTED = "[redacted]";

/**
 * Makes the redactor of log lines from the secrets facet: every current secret value, as it
 * is and as it appears escaped inside a JSON string, is replaced by `[redacted]`. The values are
 * read through the store's synchronous `names()`/`lookup()` (the local `SecretStore` has them),
 * again for each batch, so a rotated secret is redacted from then on. A facet without them (the
 * remote one) redacts nothing: the sidecar, which holds the values, redacts instead.
 */
export function secretRedactor(secrets: () => Secrets | undefined): () => (text: string) => string {
  return () => {
    const store = secrets();
    if (store?.names === undefined || store.lookup === undefined) return identity;
    const needles = new Set<string>();
    for (const name of store.names()) {
      const value = store.lookup(name);
      if (value === undefined || value.length < MIN_SECRET_LENGTH) continue;
      needles.add(value);
      needles.add(JSON.stringify(value).slice(1, -1));
    }
    if (needles.size === 0) return identity;
    // Longest first, so a secret that contains another is replaced whole.
    const ordered = [...needles].sort((a, b) => b.length - a.length);
    return (text) => {
      let out = text;
      for (const needle of ordered) if (out.includes(needle)) out = out.replaceAll(needle, REDACTED);
      return out;
    };
  };
}

const identity = (text: string): string => text;
