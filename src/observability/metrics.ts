import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics served at /metrics. One registry per daemon, so tests do not share state. */
export class Metrics {
  readonly registry = new Registry();
  readonly callEvents = new Counter({ name: 'callpop_call_events_total', help: 'Call events by kind', labelNames: ['pbx', 'kind'], registers: [this.registry] });
  readonly pops = new Counter({ name: 'callpop_pops_total', help: 'Pops sent, by whether a customer was found', labelNames: ['result'], registers: [this.registry] });
  readonly popLatency = new Histogram({
    name: 'callpop_pop_ready_seconds',
    help: 'Time from the ringing event to the pop handed to the hub',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
    registers: [this.registry],
  });
  readonly pbxConnected = new Gauge({ name: 'callpop_pbx_connected', help: '1 when the PBX connection is up', labelNames: ['pbx'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'callpop_errors_total', help: 'Errors by stage', labelNames: ['stage'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'callpop_' });
  }
}
