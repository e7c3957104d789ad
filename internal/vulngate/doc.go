// Package vulngate reads govulncheck's JSON stream and decides whether a
// build may pass: it fails on any vulnerability reachable from edgeimg's
// code (a finding at symbol level, which govulncheck reports only for code
// it found called) that has a fixed version. Reachable findings without a
// fix, and findings in imported packages or required modules whose
// vulnerable symbols are never called, are listed but do not fail.
package vulngate
