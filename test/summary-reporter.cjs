// Prints the plain closing line "N passed, N failed, N skipped" that CI reads.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests: p, numFailedTests: f, numPendingTests: s } = results;
    process.stdout.write(`\ntests: ${p} passed, ${f} failed, ${s} skipped\n`);
  }
}
module.exports = SummaryReporter;
