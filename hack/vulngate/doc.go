// Command vulngate reads `govulncheck -format json` on stdin, prints the
// reachable findings and exits 1 when one of them has a fix (hack/vuln.sh).
package main
