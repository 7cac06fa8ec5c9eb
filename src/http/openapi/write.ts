import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../storage/paths.js';
import { specText } from './spec.js';

/** `npm run openapi`: writes the spec to docs/openapi.json, the copy checked in beside the code. */
const file = path.join(packageRoot, 'docs', 'openapi.json');
writeFileSync(file, specText());
console.log(`wrote ${path.relative(process.cwd(), file) || file}`);
