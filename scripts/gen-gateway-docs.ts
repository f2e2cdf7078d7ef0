// Writes docs/GATEWAY-REFERENCE.md from the gateway schema. Run: npx tsx scripts/gen-gateway-docs.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderGatewayReference } from '../model/reference-doc.js';

const target = fileURLToPath(new URL('../docs/GATEWAY-REFERENCE.md', import.meta.url));
writeFileSync(target, renderGatewayReference());
console.log(`wrote ${target}`);
