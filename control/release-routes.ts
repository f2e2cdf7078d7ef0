// HTTP handlers of the release API (policies and runs), over release/'s ReleaseService. Tenancy
// and roles are the server's (checked before a handler runs); this maps bodies, preconditions
// and ReleaseErrors onto the API's conventions, the same as for gateways.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toOrderedJson } from './gateway-text.js';
import { ApiError } from './errors.js';
import { decodeBody, parsePreconditions, requireBody } from './request-body.js';
import { ACTIONS, ReleaseError, type Action, type ReleaseContext, type ReleaseService } from '../release/index.js';
import type { Namespace } from '../store/store.js';

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface ReleaseRouteHelpers {
  ctx(req: FastifyRequest): { ns: Namespace; principal: { id: string; name: string; role: string }; requestId: string };
  param(req: FastifyRequest, name: string): string;
}

const unavailable = (): ApiError =>
  new ApiError(503, 'releases_unavailable', 'this control API has no release store: its store does not hold release policies and runs (it needs the collection-aware store of this version)');

export function toApiError(err: unknown): unknown {
  return err instanceof ReleaseError ? new ApiError(err.status, err.code, err.message, err.details) : err;
}

export function releaseHandlers(service: ReleaseService | undefined, h: ReleaseRouteHelpers): Record<string, Handler> {
  const rctx = (req: FastifyRequest): ReleaseContext => {
    const c = h.ctx(req);
    return { ns: c.ns, actor: `${c.principal.name} (${c.principal.id})`, role: c.principal.role, requestId: c.requestId };
  };
  const guard =
    (fn: (s: ReleaseService, req: FastifyRequest, reply: FastifyReply) => Promise<unknown>): Handler =>
    async (req, reply) => {
      if (!service) throw unavailable();
      try {
        return await fn(service, req, reply);
      } catch (err) {
        throw toApiError(err);
      }
    };
  const optionalBody = (req: FastifyRequest): unknown => (req.body === undefined || req.body === null ? undefined : decodeBody(requireBody(req.body)));

  const handlers: Record<string, Handler> = {
    listReleasePolicies: guard((s, req) => s.listPolicies(h.ctx(req).ns)),
    getReleasePolicy: guard(async (s, req, reply) => {
      const e = await s.getPolicy(h.ctx(req).ns, h.param(req, 'name'));
      const etag = `"${e.version}"`;
      reply.header('etag', etag).header('x-weir-format', e.format).header('vary', 'Accept');
      if (req.headers['if-none-match'] === etag) return reply.code(304).send();
      if (/(application\/(x-)?yaml|text\/yaml)/.test(req.headers.accept ?? '')) return reply.type('application/yaml; charset=utf-8').send(e.body);
      let json: string;
      try {
        json = e.format === 'json' ? e.body : toOrderedJson(e.body);
      } catch (err) {
        throw new ApiError(409, 'stored_release_policy_invalid', `the stored release policy "${e.name}" is not valid YAML (${(err as Error).message}); read it with Accept: application/yaml`);
      }
      return reply.type('application/json; charset=utf-8').send(json);
    }),
    putReleasePolicy: guard(async (s, req, reply) => {
      const spec = req.routeOptions.config.spec;
      const body = requireBody(req.body);
      const r = await s.putPolicy(rctx(req), h.param(req, 'name'), body, parsePreconditions(req.headers, spec?.preconditions ?? []));
      return reply.code(r.created ? 201 : 200).header('etag', `"${r.version}"`).send({ name: r.summary.name, version: r.version, policy: r.summary, notes: r.notes });
    }),
    deleteReleasePolicy: guard(async (s, req, reply) => {
      await s.deletePolicy(rctx(req), h.param(req, 'name'), parsePreconditions(req.headers, ['If-Match']));
      return reply.code(204).send();
    }),
    listReleases: guard((s, req) => s.list(h.ctx(req).ns)),
    startRelease: guard(async (s, req, reply) => {
      const run = await s.start(rctx(req), h.param(req, 'name'), decodeBody(requireBody(req.body)));
      return reply.code(201).send(run);
    }),
    listGatewayReleases: guard((s, req) => s.history(h.ctx(req).ns, h.param(req, 'name'))),
    currentRelease: guard((s, req) => s.current(h.ctx(req).ns, h.param(req, 'name'))),
    getRelease: guard((s, req) => s.get(h.ctx(req).ns, h.param(req, 'name'), h.param(req, 'id'))),
  };
  for (const action of ACTIONS) {
    handlers[`${action}Release`] = guard((s, req) => s.act(rctx(req), h.param(req, 'name'), h.param(req, 'id'), action as Action, optionalBody(req)));
  }
  return handlers;
}
