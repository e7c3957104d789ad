// Command k0s-standin stands in for the k0s binary in image tests that
// check how the image installs and starts k0s (unit enabled, payload
// intact, ordering after the first-boot units), not k0s itself. It logs
// its arguments and the per-device environment, then waits for SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	fmt.Printf("k0s stand-in started: %s\n", strings.Join(os.Args[1:], " "))
	fmt.Printf("k0s stand-in env: EDGEIMG_NODE_LABELS=%q EDGEIMG_METALLB_ADDRESSES=%q\n", os.Getenv("EDGEIMG_NODE_LABELS"), os.Getenv("EDGEIMG_METALLB_ADDRESSES"))
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
