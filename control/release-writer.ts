// The release controller's gateway writes go through the control API's own write path: model
// validation, CAS on the stored version, the audit record and the NATS change event, exactly
// like `PUT …/weights`. This adapts GatewayService to release/'s GatewayRouteWriter port.
import { GatewayWriteError, type GatewayRouteWriter, type RouteWrite } from '../release/index.js';
import type { Namespace } from '../store/store.js';
import { ApiError } from './errors.js';
import type { GatewayService } from './gateway-service.js';
import type { RouteEdit } from './gateway-text.js';

export class GatewayServiceRouteWriter implements GatewayRouteWriter {
  constructor(
    private readonly gateways: GatewayService,
    /** Shown in audit records as the token id of the controller. */
    private readonly holder: string,
  ) {}

  async writeRoutes(ns: Namespace, gateway: string, routes: Record<string, RouteWrite>, opts: { action: string; actor: string; ifVersion?: string; requestId: string }): Promise<{ version: string }> {
    const edits = new Map<string, RouteEdit>(
      Object.entries(routes).map(([name, r]) => [name, { weight: r.weight, condition: r.condition, condition_strength: r.condition === null ? null : (r.conditionStrength ?? 100) }]),
    );
    const principal = { id: this.holder, name: opts.actor, role: 'deployer' as const, namespaces: ['*'] };
    try {
      const r = await this.gateways.editRoutes({ ns, principal, requestId: opts.requestId }, gateway, edits, opts.ifVersion !== undefined ? { ifMatch: opts.ifVersion } : {}, 400, opts.action);
      return { version: r.version };
    } catch (err) {
      if (!(err instanceof ApiError)) throw new GatewayWriteError('failed', (err as Error).message);
      if (err.status === 404 && err.code === 'gateway_not_found') throw new GatewayWriteError('not_found', err.message);
      if (err.code === 'version_conflict') throw new GatewayWriteError('conflict', err.message);
      if (err.status === 503) throw new GatewayWriteError('unavailable', err.message);
      if (err.status === 400 || err.status === 404 || err.status === 409) throw new GatewayWriteError('invalid', err.message);
      throw new GatewayWriteError('failed', err.message);
    }
  }
}
