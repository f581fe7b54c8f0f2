// Links sample/node_modules/nestjs-distributed-lock to the repository root, as
// `npm install file:..` would, without installing a second copy of Nest into
// sample/node_modules: the sample then runs on the root node_modules and the
// library built in dist/.
import { lstatSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const sample = join(dirname(fileURLToPath(import.meta.url)), '..');
const link = join(sample, 'node_modules', 'nestjs-distributed-lock');
let exists = false;
try {
  exists = lstatSync(link).isSymbolicLink();
} catch {
  // not linked yet
}
if (!exists) {
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(join('..', '..'), link, 'junction');
}
