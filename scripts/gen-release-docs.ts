// Writes docs/RELEASE-REFERENCE.md from the release policy schema. Run: npx tsx scripts/gen-release-docs.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderReleaseReference } from '../release/reference-doc.js';

const target = fileURLToPath(new URL('../docs/RELEASE-REFERENCE.md', import.meta.url));
writeFileSync(target, renderReleaseReference());
console.log(`wrote ${target}`);
