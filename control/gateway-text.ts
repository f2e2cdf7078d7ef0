// Edits and conversions of a stored gateway's text. YAML is edited through the `yaml`
// package's Document API so comments, key order and scalar styles survive; JSON is edited the
// same way and written back with its original indentation and key order.
import { isMap, isScalar, isSeq, parseDocument, type Document, YAMLMap } from 'yaml';
import type { StoreFormat } from '../store/store-writer.js';
import { targetRouteName } from '../model/index.js';

/** `undefined`: leave as is; `null`: remove the field. */
export interface RouteEdit {
  weight?: number | string | null;
  condition?: string | { condition: string } | null;
  condition_strength?: number | string | null;
}

export const ROUTE_EDIT_FIELDS = ['weight', 'condition', 'condition_strength'] as const;

export type EditResult = { ok: true; body: string } | { ok: false; kind: 'unknown_routes'; routes: string[] } | { ok: false; kind: 'unparsable'; message: string };

function parse(text: string): Document.Parsed {
  return parseDocument(text, { uniqueKeys: true, version: '1.2', keepSourceTokens: false });
}

const keyText = (k: unknown): string => String(isScalar(k) ? k.value : k);

/** Applies route edits; fails without writing anything when a route is unknown. */
export function editRoutes(text: string, format: StoreFormat, edits: ReadonlyMap<string, RouteEdit>): EditResult {
  let doc: Document.Parsed;
  try {
    doc = parse(text);
  } catch (err) {
    return { ok: false, kind: 'unparsable', message: (err as Error).message };
  }
  if (doc.errors.length > 0) return { ok: false, kind: 'unparsable', message: doc.errors[0]?.message.split('\n')[0] ?? 'cannot parse' };
  if (isMap(doc.contents)) asRouteMap(doc);
  const routes = isMap(doc.contents) ? doc.contents.get('routes', true) : undefined;
  if (!isMap(routes)) return { ok: false, kind: 'unparsable', message: 'the stored gateway has no routes map' };
  // A route is named by its key, or for Vamp's "[host:port]" keys also by the name Weir gives it.
  const names = (k: string): string[] => (/^\[.*:[0-9]+\]$/.test(k) ? [k, targetRouteName(k)] : [k]);
  const unknown = [...edits.keys()].filter((r) => !routes.items.some((p) => names(keyText(p.key)).includes(r)));
  if (unknown.length > 0) return { ok: false, kind: 'unknown_routes', routes: unknown };

  for (const pair of routes.items) {
    const edit = names(keyText(pair.key)).map((n) => edits.get(n)).find((e) => e !== undefined);
    if (!edit) continue;
    // `v1:` with no fields (null) or a scalar becomes a map so fields can be set on it.
    if (!isMap(pair.value)) pair.value = new YAMLMap(doc.schema);
    const route = pair.value as YAMLMap;
    for (const field of ROUTE_EDIT_FIELDS) {
      const v = edit[field];
      if (v === undefined) continue;
      if (v === null) route.delete(field);
      else {
        const old = route.get(field, true);
        const node = doc.createNode(v);
        // A fresh node (the old one's style may not fit the new value) that keeps its comments.
        if (isScalar(old)) {
          if (old.comment) node.comment = old.comment;
          if (old.commentBefore) node.commentBefore = old.commentBefore;
        }
        route.set(field, node);
      }
    }
  }
  return { ok: true, body: format === 'yaml' ? doc.toString({ lineWidth: 0 }) : orderedJson(doc.toJS({ mapAsMap: true }), jsonIndent(text)) + (text.endsWith('\n') ? '\n' : '') };
}

/** Vamp's list and single-name forms of `routes` become the map an edit can address (order kept). */
function asRouteMap(doc: Document.Parsed): void {
  const routes = doc.get('routes', true);
  if (!isSeq(routes) && !(isScalar(routes) && typeof routes.value === 'string')) return;
  const map = new YAMLMap(doc.schema);
  for (const item of isSeq(routes) ? routes.items : [routes]) {
    if (isScalar(item)) map.set(doc.createNode(String(item.value)), null);
    else if (isMap(item)) for (const pair of item.items) map.items.push(pair);
  }
  doc.set('routes', map);
}

/** The stored text as a JSON value with key order kept (route order matters). */
export function toOrderedJson(text: string): string {
  const doc = parse(text);
  if (doc.errors.length > 0) throw new Error(doc.errors[0]?.message.split('\n')[0] ?? 'cannot parse');
  return orderedJson(doc.toJS({ mapAsMap: true, maxAliasCount: 100 }), 0);
}

function jsonIndent(text: string): string | number {
  const m = /\n([ \t]+)["}\]]/.exec(text);
  return m ? (m[1] as string) : 0;
}

/** JSON.stringify for values whose objects are Maps, so integer-like keys keep their place. */
export function orderedJson(v: unknown, indent: string | number, depth = 0): string {
  const pad = typeof indent === 'number' ? ' '.repeat(indent) : indent;
  const nl = (d: number): string => (pad === '' ? '' : '\n' + pad.repeat(d));
  const sep = pad === '' ? ':' : ': ';
  if (v instanceof Map) {
    if (v.size === 0) return '{}';
    const parts = [...v.entries()].map(([k, val]) => `${nl(depth + 1)}${JSON.stringify(String(k))}${sep}${orderedJson(val, indent, depth + 1)}`);
    return `{${parts.join(',')}${nl(depth)}}`;
  }
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[${v.map((x) => `${nl(depth + 1)}${orderedJson(x, indent, depth + 1)}`).join(',')}${nl(depth)}]`;
  }
  if (v === undefined) return 'null';
  return JSON.stringify(v) ?? 'null';
}

/**
 * Fills in what the control API assigns: `port` (replacing an unassigned one) and a virtual
 * host appended to `virtual_hosts` (a string or null becomes a list). Comments and order stay.
 */
export function placeFields(text: string, format: StoreFormat, fill: { port?: number | string; virtualHost?: string }): string {
  const doc = parse(text);
  if (doc.errors.length > 0 || !isMap(doc.contents)) return text; // the parser will say what is wrong
  const root = doc.contents;
  if (fill.port !== undefined) doc.set('port', doc.createNode(fill.port));
  if (fill.virtualHost !== undefined) {
    const current = root.get('virtual_hosts', true);
    const list: unknown[] = isSeq(current) ? current.items.map((i) => (isScalar(i) ? i.value : i)) : isScalar(current) && typeof current.value === 'string' ? [current.value] : [];
    if (!list.some((h) => typeof h === 'string' && h.toLowerCase() === fill.virtualHost)) {
      if (isSeq(current)) current.add(doc.createNode(fill.virtualHost));
      else doc.set('virtual_hosts', doc.createNode([...list, fill.virtualHost]));
    }
  }
  return format === 'yaml' ? doc.toString({ lineWidth: 0 }) : orderedJson(doc.toJS({ mapAsMap: true }), jsonIndent(text)) + (text.endsWith('\n') ? '\n' : '');
}
