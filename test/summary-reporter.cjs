// Prints the plain closing line "N passed, N failed, N skipped" that CI reads,
// after the skipped tests by name: a skipped describe says why in its title
// (not root, or a kernel feature missing: test/helpers/kernel.ts).
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests: p, numFailedTests: f, numPendingTests: s } = results;
    const skipped = results.testResults.flatMap((file) => file.testResults.filter((t) => t.status === 'pending').map((t) => t.fullName));
    const lines = [...new Set(skipped)].map((name) => `skipped: ${name}\n`).join('');
    process.stdout.write(`\n${lines}tests: ${p} passed, ${f} failed, ${s} skipped\n`);
  }
}
module.exports = SummaryReporter;
