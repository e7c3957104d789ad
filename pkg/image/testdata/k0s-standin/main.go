// Command k0s-standin stands in for the k0s binary in image tests that
// check how the image installs and starts k0s (unit enabled, payload
// intact, ordering after the first-boot units), not k0s itself. It logs
// its arguments, then waits for SIGTERM.
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
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
