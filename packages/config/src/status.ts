/** How reloads went since start: `tandem_config_reloads_total{result}` counts the same. */
export interface ReloadStats {
  applied: number;
  rejected: number;
  unchanged: number;
  /** The last rejected change, until a good one replaces it. */
  lastError: { source: "config" | "flags"; message: string; at: string } | undefined;
}
