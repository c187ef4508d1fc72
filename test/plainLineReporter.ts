// Prints the one line CI reads after a run: "N passed, N failed" (Vitest's own summary is not parsed).
import type { Reporter, TestModule } from 'vitest/node';

export default class PlainLineReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
      }
      if (module.state() === 'failed' && module.children.size === 0) failed++;
    }
    process.stdout.write(`${passed} passed, ${failed} failed\n`);
  }
}
