// Writes filebeat/weir-logs-template.json from the code (indexTemplate() in agent/telemetry/es-shipper.ts), so
// Filebeat users install exactly the template the agent installs. A unit test fails when the file is stale.
// Run: npx tsx scripts/gen-filebeat-template.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../runtime/package-root.js';
import { indexTemplate } from '../agent/telemetry/es-shipper.js';

export const TEMPLATE_FILE = join(packageRoot(), 'filebeat', 'weir-logs-template.json');
export const templateText = (): string => `${JSON.stringify(indexTemplate(), null, 2)}\n`;

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) {
  writeFileSync(TEMPLATE_FILE, templateText());
  process.stdout.write(`wrote ${TEMPLATE_FILE}\n`);
}
