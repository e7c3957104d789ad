package main

import (
	"fmt"
	"os"

	"github.com/edgeimg/edgeimg/internal/vulngate"
)

func main() {
	rep, err := vulngate.Read(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(2)
	}
	if err := rep.Write(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(2)
	}
	if b := rep.Blocking(); len(b) > 0 {
		fmt.Fprintf(os.Stderr, "vulngate: %d reachable vulnerabilities have a fix: upgrade (first: %s in %s, fixed in %s)\n", len(b), b[0].ID, b[0].Module, b[0].Fixed)
		os.Exit(1)
	}
}
