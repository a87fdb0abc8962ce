/**
 * What a health probe reports (`callpop check`, /healthz). Connectors and PBX adapters
 * both answer it, so it lives in the model rather than in either of them.
 */
export interface HealthStatus {
  ok: boolean;
  /** A secret-free explanation, e.g. "connected to sqlite file ./crm.sqlite". */
  detail: string;
}
