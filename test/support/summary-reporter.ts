import * as fs from 'node:fs';
import Mocha from 'mocha';

/**
 * The spec reporter, plus a JSON file with the pass/fail counts for .ci/run, which must print
 * its own summary line whatever mocha prints.
 */
class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    const target = process.env.PINHOLE_MOCHA_JSON;
    if (!target) return;
    runner.once('end', () => {
      const stats = runner.stats ?? { passes: 0, failures: 0 };
      fs.writeFileSync(target, JSON.stringify({ passes: stats.passes, failures: stats.failures }));
    });
  }
}

export = SummaryReporter;
