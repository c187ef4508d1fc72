// Runs the engine.rss_MB_1Mi_pages scenario in a fresh process and prints its peak resident set in
// bytes on stdout: a process that ran other figures before would report their memory too.

import { loadScenario } from '../src/workload/scenario/load.js';
import { runScenario } from '../src/workload/scenario/runner.js';
import { RSS_SCENARIO } from './rssScenario.js';

const scenario = loadScenario(RSS_SCENARIO, 'rss-1Mi-pages.yaml');
let peak = process.memoryUsage().rss;
const result = runScenario(scenario, {
  onProgress: () => {
    peak = Math.max(peak, process.memoryUsage().rss);
  },
});
peak = Math.max(peak, process.memoryUsage().rss);
const failed = result.summary.expectations.filter((e) => !e.ok);
if (failed.length > 0 || result.summary.leaks.length > 0) {
  process.stderr.write(
    `rss run: ${JSON.stringify(failed)} ${JSON.stringify(result.summary.leaks)} ${JSON.stringify(result.summary.failures)}\n`,
  );
  process.exit(1);
}
process.stdout.write(`${peak}\n`);
