/**
 * A second Seedbed process for the recovery tests: opens a project through the core, as
 * `seedbed info` does, and prints the status of each of its jobs as JSON. Not used by the app.
 *   node --import tsx open-project-fixture.ts PROJECT STATE_DIR
 */
import { Core } from '../core.ts';

const [projectPath, stateDir] = process.argv.slice(2);
if (!projectPath || !stateDir) throw new Error('usage: open-project-fixture.ts PROJECT STATE_DIR');
const core = new Core({
  host: { kind: 'cli', appVersion: 'test', nativeDialogs: false, uploads: false, platform: process.platform },
  stateDir,
  sampleDir: stateDir,
});
const opened = await core.dispatch('project.open', { path: projectPath });
if (!opened.ok) {
  console.error(opened.error.message);
  process.exitCode = 1;
} else {
  const rows = core.requireStore().db.prepare('SELECT id, status, error FROM jobs ORDER BY id').all();
  process.stdout.write(JSON.stringify(rows));
}
await core.close();
