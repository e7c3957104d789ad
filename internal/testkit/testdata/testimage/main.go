// Command testimage is the one static binary the k0s tests pack into images:
// run as "pause" it is a pod sandbox's PID 1 (waits for SIGTERM/SIGINT,
// reaps orphans); otherwise it is a small HTTP app that answers
// "Hello <TARGET>!" on $PORT (default 8080), like Knative's helloworld-go,
// or, asked with sleep, prime or bloat query parameters, does that work
// first, like Knative's autoscale sample (load.go).
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	if filepath.Base(os.Args[0]) == "pause" || (len(os.Args) > 1 && os.Args[1] == "pause") {
		pause()
		return
	}
	target := os.Getenv("TARGET")
	if target == "" {
		target = "World"
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if load(w, r) {
			return
		}
		fmt.Fprintf(w, "Hello %s!\n", target)
	})
	log.Printf("testimage: serving \"Hello %s!\" on :%s", target, port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}

func pause() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
